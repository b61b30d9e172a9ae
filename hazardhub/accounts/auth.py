"""Login plumbing: the user loader, the per-request tenant binding, idle expiry, lockout.

The user loader and :func:`find_login_user` are one of the two unscoped paths of the application
(the other is the platform CLI): a user must be found before we know which tenant to bind.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, flash, g, redirect, request, session, url_for
from flask_login import current_user, logout_user

from hazardhub.accounts.models import LoginAttempt, Membership, User
from hazardhub.db import utcnow
from hazardhub.extensions import db, login_manager
from hazardhub.policy import CITY_ROLES, _district_ids
from hazardhub.tenancy import TenantScope, bind_scope, unbind

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
def load_user(session_id: str) -> User | None:
    """Load the session's user (UNSCOPED: the tenant is not known yet)."""
    uid, _, salt = (session_id or "").partition(".")
    if not uid.isdigit():
        return None
    user = db.session.execute(
        sa.select(User).where(User.id == int(uid)).execution_options(all_tenants=True)
    ).scalar_one_or_none()
    if user is None or user.session_salt != salt or not user.is_active:
        return None
    user.active_memberships = load_memberships(user)
    return user


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


def scope_for(user: User) -> TenantScope:
    """A city user reads the city and its districts and writes the city; others one tenant."""
    roles = {m.role for m in getattr(user, "active_memberships", [])}
    if roles & CITY_ROLES:
        return TenantScope.reading(user.tenant_id, _district_ids(user.tenant_id))
    return TenantScope.single(user.tenant_id)


def lockout_until(username: str):
    """When the account behind ``username`` unlocks, or ``None`` if it is not locked.

    Locked after N consecutive failures (since the last success) within the lockout window;
    derived from the attempt log so a login never writes the versioned users table. Attempts
    refused *because* the account was locked checked no password and are not counted, so
    knocking on a locked account does not extend its lock.
    """
    cfg = _config()
    window_start = utcnow() - timedelta(minutes=cfg["HAZARDHUB_LOCKOUT_MINUTES"])
    rows = db.session.execute(
        sa.select(LoginAttempt.succeeded, LoginAttempt.attempted_at)
        .where(LoginAttempt.username == username, LoginAttempt.attempted_at >= window_start,
               sa.or_(LoginAttempt.reason.is_(None), LoginAttempt.reason != "locked"))
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


def record_attempt(username: str, user: User | None, succeeded: bool, reason: str | None) -> None:
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
            return None
        now = utcnow().timestamp()
        last_seen = session.get("last_seen")
        idle = app.config["HAZARDHUB_IDLE_MINUTES"] * 60
        if last_seen is not None and now - last_seen > idle:
            logout_user()
            session.clear()
            flash("长时间未操作，会话已过期，请重新登录。", "warning")
            return redirect(url_for("accounts.login", next=request.full_path))
        session["last_seen"] = now
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
