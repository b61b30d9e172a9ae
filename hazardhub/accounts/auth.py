"""Login plumbing: the user loader, the per-request tenant binding, idle expiry, lockout.

The user loader and :func:`find_login_user` are one of the two unscoped paths of the application
(the other is the platform CLI): a user must be found before we know which tenant to bind.

A request is signed in only while its server-side session row is live
(:mod:`hazardhub.accounts.sessions`); the signed cookie alone proves nothing. Flask-Login's
"remember me" cookie is never set (``login_user`` is called without ``remember``), and one
presented anyway only names a user id: without a live session row in the same cookie jar the
loader refuses it, so it is subject to the same revocation as everything else.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user

from hazardhub.accounts import sessions
from hazardhub.accounts.models import LoginAttempt, Membership, User
from hazardhub.accounts.throttle import KNOWN_ADDRESS_DAYS, init_throttle
from hazardhub.clock import utcnow
from hazardhub.extensions import db, login_manager
from hazardhub.tenancy import bind_scope, scope_for, unbind

#: endpoints reachable while a password change is forced
_PASSWORD_CHANGE_ALLOWED = {"accounts.change_password", "accounts.logout", "static", "bootstrap.static"}


def load_memberships(user: User) -> list[Membership]:
    # UNSCOPED: runs before the tenant is bound, for this one user's own memberships.
    return list(
        db.session.execute(
            sa.select(Membership)
            .where(Membership.user_id == user.id, Membership.is_active.is_(True))
            .execution_options(all_tenants=True)
        )
        .unique()
        .scalars()
    )


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The request's user, if its server-side session is live (UNSCOPED: no tenant is bound yet).

    Refused: no session id in the cookie, an unknown or revoked one, one of another user, an
    inactive user, and a session idle past ``HAZARDHUB_IDLE_MINUTES`` (revoked here, and
    ``g.session_expired`` tells :func:`init_auth`'s hook to say so). ``last_seen_at`` is written
    at most once a minute. ``g.user_session_id`` is the live row's id (logout, password change).
    """
    if not (user_id or "").isdigit():
        return None
    found = sessions.lookup(session.get(sessions.SESSION_KEY))
    if found is None:
        return None
    record, user = found
    if record.user_id != int(user_id) or record.revoked_at is not None or not user.is_active:
        return None
    now = utcnow()
    if sessions.is_idle(record, _config()["HAZARDHUB_IDLE_MINUTES"], now):
        sessions.expire(record.id)
        g.session_expired = True
        return None
    g.user_session_id = record.id
    if sessions.touch_due(record, now):
        sessions.touch(record.id)
        # the commit expired ``user`` and no tenant is bound yet: reload it unscoped
        user = db.session.execute(
            sa.select(User).where(User.id == record.user_id).execution_options(all_tenants=True)
        ).scalar_one()
    user.active_memberships = load_memberships(user)
    return user


def current_session_id() -> int | None:
    """The id of the request's live ``user_sessions`` row (set by :func:`load_user`)."""
    return g.get("user_session_id")


def load_user_for_job(user_id: int) -> User | None:
    """The requester of a job, with memberships (UNSCOPED: binds the job's scope from it)."""
    user = db.session.execute(
        sa.select(User).where(User.id == user_id).execution_options(all_tenants=True)
    ).scalar_one_or_none()
    if user is not None:
        user.active_memberships = load_memberships(user)
    return user


def find_login_user(username: str) -> User | None:
    """Look a user up by name at login (UNSCOPED: login has no tenant)."""
    return db.session.execute(
        sa.select(User).where(User.username == username).execution_options(all_tenants=True)
    ).scalar_one_or_none()


#: refusals that checked no password: they neither count towards a lock nor extend one
_NOT_COUNTED = ("locked", "throttled")


def lockout_until(username: str, remote_addr: str | None) -> datetime | None:
    """When ``username`` may again log in from ``remote_addr``, or ``None`` if it may now.

    等保 2.0: N consecutive failures (``HAZARDHUB_LOCKOUT_ATTEMPTS``, since the last success)
    within ``HAZARDHUB_LOCKOUT_MINUTES`` lock the account for that long. They are counted per
    (account, client address): failures typed elsewhere lock the account *there* and do not lock
    the owner out at their own address, while the owner's own failures lock as before. What slows
    an attacker who spreads over addresses is the throttle (:mod:`hazardhub.accounts.throttle`).

    Derived from the attempt log, so a login never writes the versioned users table. Attempts
    refused by the lock or the throttle checked no password and are not counted, so knocking on
    a locked account does not extend its lock.
    """
    cfg = _config()
    window_start = utcnow() - timedelta(minutes=cfg["HAZARDHUB_LOCKOUT_MINUTES"])
    address = LoginAttempt.remote_addr.is_(None) if remote_addr is None else LoginAttempt.remote_addr == remote_addr
    rows = db.session.execute(
        sa.select(LoginAttempt.succeeded, LoginAttempt.attempted_at)
        .where(LoginAttempt.username == username, address, LoginAttempt.attempted_at >= window_start,
               sa.or_(LoginAttempt.reason.is_(None), LoginAttempt.reason.not_in(_NOT_COUNTED)))
        .order_by(LoginAttempt.attempted_at.desc(), LoginAttempt.id.desc())
        .limit(cfg["HAZARDHUB_LOCKOUT_ATTEMPTS"])
        .execution_options(all_tenants=True)
    ).all()
    failures = []
    for succeeded, at in rows:
        if succeeded:
            break
        failures.append(at)
    if len(failures) >= cfg["HAZARDHUB_LOCKOUT_ATTEMPTS"]:
        return failures[0] + timedelta(minutes=cfg["HAZARDHUB_LOCKOUT_MINUTES"])
    return None


def locked_addresses(username: str) -> list[tuple[str | None, datetime]]:
    """The client addresses at which ``username`` is locked now, with when each lock ends
    (the admin's user page)."""
    cfg = _config()
    window_start = utcnow() - timedelta(minutes=cfg["HAZARDHUB_LOCKOUT_MINUTES"])
    addresses = db.session.execute(
        sa.select(LoginAttempt.remote_addr)
        .where(LoginAttempt.username == username, LoginAttempt.attempted_at >= window_start,
               LoginAttempt.succeeded.is_(False), LoginAttempt.reason.not_in(_NOT_COUNTED))
        .distinct()
        .execution_options(all_tenants=True)
    ).scalars().all()
    locks = [(addr, lockout_until(username, addr)) for addr in addresses]
    return sorted(((addr, until) for addr, until in locks if until is not None), key=lambda x: x[1])


def known_address(username: str, remote_addr: str | None) -> bool:
    """Did ``username`` log in successfully from ``remote_addr`` within the last
    :data:`~hazardhub.accounts.throttle.KNOWN_ADDRESS_DAYS` days? (exempts it from the
    per-account throttle, so strangers elsewhere cannot keep the owner out)"""
    if remote_addr is None:
        return False
    since = utcnow() - timedelta(days=KNOWN_ADDRESS_DAYS)
    return db.session.execute(
        sa.select(LoginAttempt.id)
        .where(LoginAttempt.username == username, LoginAttempt.remote_addr == remote_addr,
               LoginAttempt.attempted_at >= since, LoginAttempt.succeeded.is_(True))
        .limit(1)
        .execution_options(all_tenants=True)
    ).first() is not None


def record_attempt(username: str, user: User | None, succeeded: bool, reason: str | None) -> None:
    """Log the attempt (等保 2.0 wants every one) and commit, with whatever else is pending
    (a successful login's new session row)."""
    db.session.add(
        LoginAttempt(
            username=username[:80],
            user_id=user.id if user else None,
            succeeded=succeeded,
            reason=reason,
            remote_addr=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:200],
        )
    )
    db.session.commit()


def _config():
    from flask import current_app

    return current_app.config


def init_auth(app: Flask) -> None:
    init_throttle(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "请先登录。"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "basic"

    @app.before_request
    def _bind_request_scope():
        g._scope_token = bind_scope(None)
        if request.endpoint in ("static", "bootstrap.static"):
            return None
        if not current_user.is_authenticated:
            if g.pop("session_expired", False):  # the loader found the session idle and ended it
                logout_user()
                session.clear()
                flash("长时间未操作，会话已过期，请重新登录。", "warning")
                return redirect(url_for("accounts.login", next=request.full_path))
            return None
        session.permanent = True
        bind_scope(scope_for(current_user))
        if current_user.must_change_password and request.endpoint not in _PASSWORD_CHANGE_ALLOWED:
            flash("首次登录或密码被重置后，须先修改密码。", "warning")
            return redirect(url_for("accounts.change_password"))
        return None

    @app.teardown_request
    def _unbind_request_scope(exc):
        token = g.pop("_scope_token", None)
        if token is not None:
            unbind(token)
