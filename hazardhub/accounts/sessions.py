"""Server-side sessions: issued at login, accepted while live, revoked when the session must end.

Why on the server: the Flask session is a signed cookie, and a signed cookie cannot be taken
back — a copy made before logout kept working afterwards (issue #12, item 4). Now the cookie
carries only a random 256-bit id (under :data:`SESSION_KEY`) and the database holds its SHA-256
in ``user_sessions`` (:class:`~hazardhub.accounts.models.UserSession`); the user loader accepts a
request only while that row is live. Ending a session is one UPDATE that every web host sees.

Who ends what:

- logout — this session (``logout``);
- idling past ``HAZARDHUB_IDLE_MINUTES`` — this session, on its next request (``idle``);
- the user's own password change — every *other* session of the user (``password_change``); the
  session that changed it continues (the person just proved the new password);
- an admin password reset — every session of the user (``admin_reset``);
- deactivation — every session of the user (``deactivated``); reactivating an account does not
  bring them back.

The revocations of a password change, reset or deactivation run inside the same commit as the
versioned change of the user (``hazardhub.accounts.operations``), so they happen exactly when it
does. The functions here never commit on their own except :func:`touch` and :func:`expire`, which
the user loader calls before the request has done anything else.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from hazardhub.accounts.models import User, UserSession
from hazardhub.clock import utcnow
from hazardhub.extensions import db

#: the key of the Flask session (the signed cookie) that carries the random session id
SESSION_KEY = "_hh_sid"

#: ``last_seen_at`` is written at most this often, so a page view is normally no write
TOUCH_EVERY = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user_id: int, *, remote_addr: str | None, user_agent: str | None, connection=None) -> str:
    """Create a session row for ``user_id`` and return the random id for the cookie.

    The caller commits (the login view, together with the attempt record). ``connection`` lets
    the test fixture insert on its shared connection without flushing the test's own session.
    """
    token = secrets.token_urlsafe(32)  # 256 bits
    now = utcnow()
    values = {
        "token_hash": token_hash(token), "user_id": user_id, "created_at": now, "last_seen_at": now,
        "remote_addr": (remote_addr or None) and remote_addr[:50],
        "user_agent": (user_agent or "")[:200] or None,
    }
    if connection is not None:
        connection.execute(sa.insert(UserSession.__table__).values(**values))
    else:
        db.session.execute(sa.insert(UserSession).values(**values))
    return token


def lookup(token: str | None) -> tuple[UserSession, User] | None:
    """The session row of ``token`` with its user, whatever their state (the loader judges).

    UNSCOPED (``all_tenants=True``): it runs before any tenant is bound; ``user_sessions`` has no
    tenant, and the user is found by the row's own ``user_id``.
    """
    if not token:
        return None
    row = db.session.execute(
        sa.select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == token_hash(token))
        .execution_options(all_tenants=True)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else None


def is_idle(record: UserSession, idle_minutes: int, now: datetime | None = None) -> bool:
    """Has the session gone unused for longer than the idle limit?

    Measured from ``last_seen_at``, which lags real activity by up to :data:`TOUCH_EVERY`, so a
    session may end up to a minute early — never late.
    """
    return (now or utcnow()) - record.last_seen_at > timedelta(minutes=idle_minutes)


def touch_due(record: UserSession, now: datetime | None = None) -> bool:
    return (now or utcnow()) - record.last_seen_at >= TOUCH_EVERY


def touch(session_id: int) -> None:
    """Record activity now, and commit (called at most once a minute per session)."""
    _execute(sa.update(UserSession).where(UserSession.id == session_id).values(last_seen_at=utcnow()))
    db.session.commit()


def expire(session_id: int) -> None:
    """End an idle session, and commit."""
    revoke(session_id, "idle")
    db.session.commit()


def revoke(session_id: int, reason: str) -> None:
    """End one session (the caller commits)."""
    _execute(sa.update(UserSession).where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
             .values(revoked_at=utcnow(), revoked_reason=reason))


def revoke_all(user_id: int, reason: str, *, keep: int | None = None) -> None:
    """End every live session of a user except ``keep`` (the caller commits)."""
    stmt = sa.update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    _execute(stmt.values(revoked_at=utcnow(), revoked_reason=reason))


def _execute(stmt) -> None:
    """Run an UPDATE of ``user_sessions`` without flushing the caller's pending changes first: the
    caller's versioned change (a new password, a deactivation) is flushed by its own commit, where
    a lost optimistic lock is mapped to the caller's Chinese error."""
    with db.session.no_autoflush:
        db.session.execute(stmt.execution_options(synchronize_session=False))


def live_sessions(user_id: int, idle_minutes: int) -> list[UserSession]:
    """The user's sessions that would still be accepted (the admin's user page)."""
    cutoff = utcnow() - timedelta(minutes=idle_minutes)
    return list(db.session.execute(
        sa.select(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
               UserSession.last_seen_at >= cutoff)
        .order_by(UserSession.last_seen_at.desc())
    ).scalars())
