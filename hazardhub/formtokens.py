"""One click, one effect: the one-time token of every one-shot form (issue #12, item 8).

Why: a double click, a POST re-sent after a slow answer, or the same page submitted from two tabs
issued two numbered directives, registered a hazard twice, started two inspections. Optimistic
locking (``version_id``) stops a second *edit* of the same version, but it cannot stop a second
*creation*, and it answers a harmless double click with "已被他人修改".

How:

- Every one-shot form renders ``{{ form_token() }}``: a hidden field with a fresh random token,
  new on every rendering (nothing is stored when a page is rendered).
- Its view is decorated with :func:`one_shot` (innermost, below ``login_required``/``requires``).
  On POST the decorator claims the token *before the view runs*: a ``form_submissions`` row keyed
  by SHA-256(user, path, token) is inserted and flushed in the request's transaction. Whatever the
  view then commits (the operations commit) commits the claim with it; whatever it rolls back, or
  leaves uncommitted (a refused or invalid submission), takes the claim with it, so the token is
  spent exactly when the effect happened. A re-rendered form carries a new token anyway.
- A second submission of a spent token finds the row and is answered with the first one's
  outcome: a redirect to the page it led to, flashed "该表单已提交过，未重复创建。" (an action:
  "……未重复执行。"), nothing touched.
  This check comes before the view's own checks, because those may refuse the duplicate for the
  wrong reason (the directive is no longer awaiting a receipt: 403; its version moved: 409).
- A concurrent duplicate loses on the primary key: on PostgreSQL its INSERT waits for the first
  transaction and then fails, on SQLite it waits for the write lock and then finds the row. The
  loser rolls back and gets the same answer as a sequential duplicate, never a 500 or a 409.
- A POST without a (well-formed) token was not produced by a rendered form of this version (a
  page rendered before the upgrade, a hand-made request): 400 "页面已过期", like a missing CSRF
  token, before anything is read or written (so also before the view's 403/404, which reveals
  nothing either).

The outcome, the URL a duplicate is sent to, is recorded in the same transaction as the effect:
``outcome=`` gives it from the view arguments (the page of the object acted on); for a creation,
``creates=(Model, url)`` records the page of the first ``Model`` row the request inserts (a flush
hook, so it is known before the operation's commit). A duplicate that finds no outcome (the
creation took another turn) goes back to the page it came from.

The key binds the user and the path: a token copied into another form, or by another user, is just
a fresh token there. Only the digest is stored. Rows are small and written in the transaction of
the effect; they are not part of the ledger (not versioned).

Which forms: every POST that creates something (a directive, a hazard, an inspection or its
amendment, a learning record, a campaign or its adoption, an attachment or deliverable file, a
report/export/PDF run, an imported ledger) or moves a lifecycle on (a receipt, a rectification
report, an acceptance or return, an extension request or decision, a sign-off, a checklist save,
a deliverable submission or review, a publication, a retry, a chain verification). Not: edits of
one record with its ``version_id`` (hazard, learning record, deliverable text, phase dates, unit,
user, catalogue item: a duplicate finds the version moved and changes nothing, and shows what
changed), creations guarded by a unique key (unit code, username, membership, catalogue item
number, local standard code, leader assignment: a duplicate is refused with a message), and
idempotent POSTs (mark notifications read, refresh the findings, verify the audit chain, log out).
"""
from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import BadRequest

from hazardhub import clock
from hazardhub.db import Base, TenantScoped, listen_once, tenant_fk
from hazardhub.extensions import db

#: the hidden field's name
FIELD = "form_token"
#: what a duplicate is told (a creation and an action read the same: nothing happened twice)
REPLAYED = "该表单已提交过，未重复创建。"
REPLAYED_ACTION = "该表单已提交过，未重复执行。"

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_PENDING = "hh_form_claims"


class FormSubmission(TenantScoped, Base):
    """A spent form token: which user spent it on which path, and where that led."""

    __tablename__ = "form_submissions"
    __table_args__ = (tenant_fk("user_id", "users"),)

    #: SHA-256 hex of ``user id, path, token``
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(nullable=False)
    endpoint: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    #: the URL the first submission led to (what a duplicate is redirected to)
    outcome: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=clock.utcnow, nullable=False)


class FormTokenMissing(BadRequest):
    """A one-shot POST without a usable form token (answered like a missing CSRF token)."""

    description = "页面已过期或不完整，请返回上一页刷新后重新提交。"


def form_token() -> Markup:
    """The Jinja global: ``{{ form_token() }}`` inside every one-shot ``<form>``."""
    return Markup(f'<input type="hidden" name="{FIELD}" value="{secrets.token_urlsafe(18)}">')


def _key(user_id: int, path: str, token: str) -> str:
    return hashlib.sha256(f"{user_id}\n{path}\n{token}".encode()).hexdigest()


def _find(key: str) -> FormSubmission | None:
    return db.session.execute(
        sa.select(FormSubmission).where(FormSubmission.key == key)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def same_origin_referrer() -> str | None:
    """The Referer as a local path (path and query), if it names this site; else ``None``."""
    referrer = request.headers.get("Referer") or ""
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc != request.host or not parts.path.startswith("/"):
        return None
    if parts.path.startswith("//"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _replay(row: FormSubmission | None, message: str):
    flash(message, "info")
    return redirect(row.outcome if row is not None and row.outcome else same_origin_referrer() or url_for("web.home"))


def one_shot(outcome: Callable[..., str] | None = None, *, creates: tuple[type, Callable[[Any], str]] | None = None,
             message: str | None = None):
    """View decorator: the POST is carried out at most once per rendered form (module docstring).

    :param outcome: ``(**view_args) -> url``: the page a duplicate is sent to (the object acted on)
    :param creates: ``(Model, obj -> url)``: for a creation, the page of the first ``Model`` row
        inserted by this request
    :param message: what a duplicate is told (default: :data:`REPLAYED` for a creation,
        :data:`REPLAYED_ACTION` otherwise)
    """
    told = message or (REPLAYED if creates is not None else REPLAYED_ACTION)

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if request.method != "POST":
                return view(*args, **kwargs)

            token = request.form.get(FIELD, "")
            if not _TOKEN.match(token):
                raise FormTokenMissing()
            user_id = current_user.id
            key = _key(user_id, request.path, token)
            row = _find(key)
            if row is not None:
                return _replay(row, told)
            claim = FormSubmission(key=key, user_id=user_id, endpoint=(request.endpoint or "")[:80],
                                   outcome=outcome(**kwargs) if outcome is not None else None)
            db.session.add(claim)
            try:
                db.session.flush()
            except IntegrityError:
                # a concurrent submission of the same form claimed it first and has committed
                db.session.rollback()
                row = _find(key)
                if row is None:  # not a duplicate (no such row is visible): refuse, write nothing
                    raise FormTokenMissing()
                return _replay(row, told)
            if creates is not None:
                db.session.info.setdefault(_PENDING, []).append((claim, creates[0], creates[1]))
            return view(*args, **kwargs)

        wrapped._hazardhub_one_shot = True  # copied outwards by functools.wraps (tests find them)
        return wrapped

    return decorator


def _note_created(session, _flush_context) -> None:
    """A claim with ``creates=`` learns the page of the first row of its model this request inserts."""
    pending = session.info.get(_PENDING)
    if not pending:
        return
    done = session.info.setdefault("hh_form_outcomes", [])
    for claim, model, url in list(pending):
        created = next((obj for obj in session.new if type(obj) is model), None)
        if created is not None:
            done.append((claim, url(created)))
            pending.remove((claim, model, url))


def _store_created(session, _flush_context) -> None:
    """Write the outcomes noted in :func:`_note_created` (flushed by the commit that follows)."""
    for claim, url in session.info.pop("hh_form_outcomes", ()):
        claim.outcome = url[:500]


def _forget_claims(session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop("hh_form_outcomes", None)


def install_outcome_capture() -> None:
    """Install the hooks that record which page a one-shot form created (its replay target).

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "after_flush", _note_created)
    listen_once(Session, "after_flush_postexec", _store_created)
    listen_once(Session, "after_rollback", _forget_claims)
