"""One request lifecycle for every form a user submits (#13).

load → authorise → validate → apply → commit → flash → redirect, or roll back and show the
error. Loading and authorising stay with the view (``load_or_404``, ``requires``): they decide
*what* is acted on. From validation on, every POST view goes through one of two helpers here:

* :func:`submit` for a page that shows its form again on an error (create, edit, settings):
  it returns the redirect after success, or ``None`` and the view renders the form again with
  the user's input and the error flashed;
* :func:`act` for a button on a record's page (start, accept, withdraw, …): it always
  redirects, to the record, with the outcome flashed.

``apply`` is a callable that performs the operation (the operation commits its own
transaction, sealed by the audit chain). A :class:`~hazardhub.errors.DomainError` it raises
means "refused": the session is rolled back here — the one ``rollback()`` of the web layer —
and its message is flashed. Anything else is a bug and reaches the 500 handler (which rolls
back too).

Every page keeps the words it always had, through keyword options rather than a helper per
area: ``act(invalid=...)`` for a button whose invalid form reads differently from its refusal
(``first_error``, or the hazard page's "操作未执行：" before a field error but not before the
operation's own message), ``bad_token_is_400=False`` for the buttons that always flashed a bad
token like any other invalid field, ``message=`` for a refusal that says more than ``str(exc)``
(a stale hazard names what changed), ``refusals=`` for a condition that is not a
``DomainError`` but is told in words (a queue that cannot take the job), and
``submit(show=False)`` when ``on_error`` puts the refusal beside a field (the sign-off's password).

Why not a class per view in the spirit of Indico's ``RH``: the views are small functions whose
decorators (``login_required``, ``requires``, ``one_shot``) already carry the access part; one
call replaces the try/except/flash/rollback each of them wrote out.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Union

from flask import abort, flash, redirect, request
from werkzeug.wrappers import Response

from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.forms import errors_text

#: a success message, a list of (message, category) pairs, or a function of apply's result
#: giving either
Done = Union[str, Iterable[tuple[str, str]], Callable[[Any], Union[str, Iterable[tuple[str, str]]]]]
#: a URL, or a function of apply's result giving one
Target = Union[str, Callable[[Any], str]]

INVALID_FORM = "请更正表单中的错误。"


def _flash_done(done: Done, result: Any) -> None:
    message = done(result) if callable(done) else done
    if not message:
        return
    if isinstance(message, str):
        flash(message, "success")
        return
    for text, category in message:
        flash(text, category)


def _resolve(target: Target, result: Any) -> str:
    return target(result) if callable(target) else target


def first_error(form) -> str:
    """The first field error of ``form`` alone (a button whose form has one visible field says
    just that), or a generic line when it failed without one."""
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return "提交的内容不完整或格式不正确。"


def refused(exc: Exception, prefix: str = "", *, message: Callable[[Exception], str] | None = None,
            show: bool = True) -> None:
    """Roll the request back and tell the user why (the lifecycle's error path, public for the
    few views that apply outside :func:`submit`/:func:`act`, e.g. a streamed export).

    :param message: the text of the refusal (default ``str(exc)``), e.g. a stale edit naming
        what the other person changed
    :param show: ``False`` when the view shows the message itself (beside a field)
    """
    db.session.rollback()
    if show:
        text = message(exc) if message is not None else str(exc)
        flash(prefix + getattr(exc, "prefix", "") + text, "danger")


def perform(apply: Callable[[], Any], *, on_error: Callable[[DomainError], None] | None = None,
            prefix: str = "", message: Callable[[Exception], str] | None = None, show: bool = True,
            refusals: tuple[type[Exception], ...] = (DomainError,)) -> tuple[bool, Any]:
    """Run ``apply``; on a refusal roll back, flash, call ``on_error``. → ``(succeeded, result)``.

    :param refusals: what counts as a refusal: :class:`DomainError`, or an infrastructure
        condition the user is told about in words (a queue that could not take the job)
    """
    try:
        result = apply()
    except refusals as exc:
        refused(exc, prefix, message=message, show=show)
        if on_error is not None:
            on_error(exc)
        return False, exc
    return True, result


def submit(form, apply: Callable[[], Any], *, done: Done, to: Target,
           on_error: Callable[[DomainError], None] | None = None, invalid: str | None = INVALID_FORM,
           validated: bool | None = None, show: bool = True) -> Response | None:
    """A form page's POST: validate, apply, flash, redirect; ``None`` → render the form again.

    :param form: the bound form (validated here unless ``validated`` is given: a view that must
        check more than the form itself passes its own verdict)
    :param apply: performs the operation; its result goes to ``done`` and ``to`` when callable
    :param on_error: marks fields after a refusal (e.g. the five-item plan's missing parts)
    :param invalid: flashed when the form does not validate on a POST (``None``: nothing)
    :param show: ``False`` when ``on_error`` puts the refusal beside a field instead of flashing it
    """
    ok = form.validate_on_submit() if validated is None else validated
    if not ok:
        if request.method == "POST" and invalid:
            flash(invalid, "danger")
        return None
    succeeded, result = perform(apply, on_error=on_error, show=show)
    if not succeeded:
        return None
    _flash_done(done, result)
    return redirect(_resolve(to, result))


def act(form, apply: Callable[[], Any], *, done: Done, back: Target, prefix: str = "操作未执行：",
        invalid: Callable[[Any], str] | None = None, bad_token_is_400: bool = True,
        message: Callable[[Exception], str] | None = None,
        refusals: tuple[type[Exception], ...] = (DomainError,)) -> Response:
    """A button's POST on a record's page: always back to ``back`` with the outcome flashed.

    A missing or expired CSRF token is a 400 (the error page says the page expired); any other
    invalid field is flashed with ``prefix``. ``back`` is called with apply's result, or with
    ``None`` when nothing was done.

    :param invalid: the text flashed for an invalid form instead of ``prefix`` + every error
        (e.g. :func:`first_error`); the refusal of the operation still gets ``prefix``
    :param bad_token_is_400: ``False`` for the buttons whose bad token was always flashed like any
        other invalid field (the hazard page's, the catalogue's)
    :param message: the refusal's text (see :func:`refused`)
    :param refusals: see :func:`perform`
    """
    if not form.validate_on_submit():
        csrf = getattr(form, "csrf_token", None)
        if bad_token_is_400 and csrf is not None and csrf.errors:
            abort(400)
        flash(invalid(form) if invalid is not None else prefix + errors_text(form), "danger")
        return redirect(_resolve(back, None))
    succeeded, result = perform(apply, prefix=prefix, message=message, refusals=refusals)
    if succeeded:
        _flash_done(done, result)
    return redirect(_resolve(back, result if succeeded else None))
