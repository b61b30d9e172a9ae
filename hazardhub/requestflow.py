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
#: what an invalid form is told: a message, or a function of the form giving one (``None``: nothing)
Invalid = Union[str, Callable[[Any], Union[str, None]], None]

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


def _flash_invalid(invalid: Invalid, form) -> None:
    message = invalid(form) if callable(invalid) else invalid
    if message:
        flash(message, "danger")


def refused(exc: DomainError, prefix: str = "", *, flashed: bool = True) -> None:
    """Roll the request back and tell the user why (the lifecycle's error path, public for the
    few views that apply outside :func:`submit`/:func:`act`, e.g. a streamed export).

    :param flashed: ``False`` when the page shows the refusal itself instead of a flash (a field's
        error, the public 随手拍 form's inline message); the rollback happens all the same
    """
    db.session.rollback()
    if flashed:
        flash(prefix + exc.prefix + str(exc), "danger")


def perform(apply: Callable[[], Any], *, on_error: Callable[[DomainError], None] | None = None,
            prefix: str = "", flashed: bool = True) -> tuple[bool, Any]:
    """Run ``apply``; on a refusal roll back, flash (unless not ``flashed``), call ``on_error``.
    → ``(succeeded, result)``, the result being the refusal when it did not succeed."""
    try:
        result = apply()
    except DomainError as exc:
        refused(exc, prefix, flashed=flashed)
        if on_error is not None:
            on_error(exc)
        return False, exc
    return True, result


def submit(form, apply: Callable[[], Any], *, done: Done, to: Target,
           on_error: Callable[[DomainError], None] | None = None, invalid: Invalid = INVALID_FORM,
           validated: bool | None = None, flashed: bool = True) -> Response | None:
    """A form page's POST: validate, apply, flash, redirect; ``None`` → render the form again.

    :param form: the bound form (validated here unless ``validated`` is given: a view that must
        check more than the form itself passes its own verdict)
    :param apply: performs the operation; its result goes to ``done`` and ``to`` when callable
    :param on_error: marks fields after a refusal (e.g. the five-item plan's missing parts)
    :param invalid: flashed when the form does not validate on a POST: a message, or a function
        of the form giving one (e.g. :func:`hazardhub.forms.first_error`); ``None``: nothing
    :param flashed: ``False``: a refusal is not flashed, ``on_error`` shows it (a field's error)
    """
    ok = form.validate_on_submit() if validated is None else validated
    if not ok:
        if request.method == "POST":
            _flash_invalid(invalid, form)
        return None
    succeeded, result = perform(apply, on_error=on_error, flashed=flashed)
    if not succeeded:
        return None
    _flash_done(done, result)
    return redirect(_resolve(to, result))


def act(form, apply: Callable[[], Any], *, done: Done, back: Target, prefix: str = "操作未执行：",
        invalid: Invalid = None, validated: bool | None = None) -> Response:
    """A button's POST on a record's page: always back to ``back`` with the outcome flashed.

    A missing or expired CSRF token is a 400 (the error page says the page expired); any other
    invalid field is flashed with ``prefix`` (a refusal too).

    :param invalid: what an invalid form is told instead of ``prefix`` + every field's error: a
        message, or a function of the form giving one
    :param validated: the view's own verdict when it must check more than the form (as
        :func:`submit`); ``None``: the form is validated here
    """
    ok = form.validate_on_submit() if validated is None else validated
    if not ok:
        csrf = getattr(form, "csrf_token", None)
        if csrf is not None and csrf.errors:
            abort(400)
        if invalid is None:
            flash(prefix + errors_text(form), "danger")
        else:
            _flash_invalid(invalid, form)
        return redirect(_resolve(back, None))
    succeeded, result = perform(apply, prefix=prefix)
    if succeeded:
        _flash_done(done, result)
    return redirect(_resolve(back, result if succeeded else None))
