"""State changes on people. Views authorise; these functions change and commit, with the actor.

Each function commits once, so each is one audited transaction (one link of the tenant's chain).
A password change, an admin reset and a deactivation end the user's server-side sessions in that
same commit (:mod:`hazardhub.accounts.sessions`): a cookie taken before is refused after.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hazardhub.accounts import sessions
from hazardhub.accounts.models import ROLE_UNIT_KINDS, ROLES, Membership, User
from hazardhub.accounts.passwords import one_time_password, password_problem
from hazardhub.audit import tx_meta
from hazardhub.extensions import commit_or_raise
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.errors import DomainError


class AccountError(DomainError):
    """A rule of the accounts area was broken; the message is shown to the user (Chinese)."""


class StaleEdit(AccountError):
    """Someone else saved the record first (optimistic lock)."""


def username_taken(username: str) -> bool:
    # UNSCOPED: usernames are unique across the instance, so the check must see every tenant.
    return (
        db.session.execute(
            sa.select(User.id).where(User.username == username).execution_options(all_tenants=True)
        ).first()
        is not None
    )


def check_role_fits_unit(role: str, unit: OrgUnit) -> None:
    if role not in ROLES:
        raise AccountError("未知角色。")
    level = ROLES[role][1]
    if unit.kind not in ROLE_UNIT_KINDS[level]:
        raise AccountError(f"“{ROLES[role][0]}”不能设在“{unit.kind_label}”类单位上。")


def create_user(
    *, username: str, display_name: str, phone: str | None, unit: OrgUnit, role: str,
    password: str | None = None, must_change: bool = True, is_demo: bool = False,
) -> tuple[User, str]:
    """Create a user with one membership; returns the user and the (one-time) password."""
    username = username.strip()
    if username_taken(username):
        raise AccountError(f"用户名“{username}”已被使用。")
    check_role_fits_unit(role, unit)
    password = password or one_time_password()
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    user = User(
        tenant_id=unit.tenant_id,
        username=username,
        display_name=display_name.strip(),
        phone=(phone or "").strip() or None,
        is_demo=is_demo,
    )
    user.set_password(password, must_change=must_change)
    db.session.add(user)
    db.session.flush()
    db.session.add(Membership(tenant_id=unit.tenant_id, user_id=user.id, unit_id=unit.id, role=role))
    tx_meta(reason=f"新建账号，角色：{ROLES[role][0]}")
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise AccountError("用户名已被使用或单位无效。") from exc
    return user, password


def update_user(user: User, *, display_name: str, phone: str | None, is_active: bool,
                version_id: int, reason: str | None = None) -> User:
    """Edit a user's profile; a stale ``version_id`` means someone else saved first.
    Deactivating ends every session of the user (reactivating does not revive them)."""
    if user.version_id != version_id:
        raise StaleEdit("该账号已被他人修改，请刷新后重试。")
    deactivating = user.is_active and not is_active
    user.display_name = display_name.strip()
    user.phone = (phone or "").strip() or None
    user.is_active = is_active
    if db.session.is_modified(user):
        tx_meta(reason=reason or "修改账号信息")
    if deactivating:
        sessions.revoke_all(user.id, "deactivated")
    _commit_or_conflict()
    return user


def reset_password(user: User, *, reason: str | None = None) -> str:
    """Admin reset: a new one-time password, forced change at next login, other sessions end."""
    password = one_time_password()
    user.set_password(password, must_change=True)
    tx_meta(reason=reason or "管理员重置密码")
    sessions.revoke_all(user.id, "admin_reset")
    _commit_or_conflict()
    return password


def change_own_password(user: User, current: str, new: str, *, keep_session: int | None = None) -> None:
    """The user's own change: every other session of the user ends; ``keep_session`` (the one
    that made the change, and just proved the new password) continues."""
    if not user.check_password(current):
        raise AccountError("当前密码不正确。")
    problem = password_problem(new)
    if problem:
        raise AccountError(problem)
    user.set_password(new, must_change=False)
    tx_meta(reason="本人修改密码")
    sessions.revoke_all(user.id, "password_change", keep=keep_session)
    _commit_or_conflict()


def grant_membership(user: User, unit: OrgUnit, role: str) -> Membership:
    check_role_fits_unit(role, unit)
    existing = db.session.execute(
        sa.select(Membership).where(
            Membership.user_id == user.id, Membership.unit_id == unit.id, Membership.role == role
        )
    ).scalar_one_or_none()
    if existing is not None and existing.is_active:
        raise AccountError("该用户已在此单位担任此角色。")
    if existing is not None:
        existing.is_active = True
        membership = existing
    else:
        membership = Membership(tenant_id=unit.tenant_id, user_id=user.id, unit_id=unit.id, role=role)
        db.session.add(membership)
    tx_meta(reason=f"授予角色：{unit.name} {ROLES[role][0]}")
    _commit_or_conflict()
    return membership


def revoke_membership(membership: Membership, reason: str | None = None) -> None:
    """End a membership (kept for history, never deleted)."""
    if not membership.is_active:
        raise AccountError("该角色已撤销。")
    membership.is_active = False
    tx_meta(reason=reason or "撤销角色")
    _commit_or_conflict()


def _commit_or_conflict() -> None:
    commit_or_raise(StaleEdit("该记录已被他人修改，请刷新后重试。"), AccountError("数据冲突，操作未生效。"))
