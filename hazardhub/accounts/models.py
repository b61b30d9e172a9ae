"""People: users, their memberships (user, unit, role) and every login attempt.

A user belongs to one tenant; what they may do comes only from memberships, each a role on one
unit, acting on that unit's subtree (see ``hazardhub.policy``). The password hash and the session
salt are excluded from versioning: no secret ever lands in a version table.
"""
from __future__ import annotations

import secrets
from datetime import datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from hazardhub.audit import VERSIONED
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk, utcnow

#: role -> (Chinese label, level); the level orders roles top down for display
ROLES: dict[str, tuple[str, str]] = {
    "city_admin": ("市教育局管理员", "city"),
    "city_viewer": ("市教育局查阅人员", "city"),
    "bureau_admin": ("安全股管理员", "bureau"),
    "bureau_leader": ("分包领导", "bureau"),
    "bureau_viewer": ("教育局查阅人员", "bureau"),
    "township_supervisor": ("乡镇中心学校督导", "township"),
    "principal": ("校长（园长）", "school"),
    "safety_officer": ("安全专干", "school"),
    "staff": ("教职工", "school"),
}

#: which unit kinds each role level may sit on
ROLE_UNIT_KINDS = {
    "city": {"bureau"},
    "bureau": {"bureau"},
    "township": {"township_center"},
    "school": {"school", "affiliated_school", "township_center"},
}


def role_label(role: str) -> str:
    return ROLES.get(role, (role, ""))[0]


def _new_salt() -> str:
    return secrets.token_hex(8)


class User(UserMixin, TenantScoped, TimestampMixin, Base):
    """A person who logs in. Usernames are unique across the instance (login has no tenant)."""

    __tablename__ = "users"
    __versioned__ = {**VERSIONED, "exclude": ["password_hash", "session_salt"]}
    __table_args__ = (sa.UniqueConstraint("tenant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    #: scrypt hash (werkzeug); never versioned
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    #: rotated on every password change so other sessions of the user end; never versioned
    session_salt: Mapped[str] = mapped_column(sa.String(32), default=_new_salt, nullable=False)
    #: set by an admin reset or a one-time password: the next login must choose a new one
    must_change_password: Mapped[bool] = mapped_column(default=True, nullable=False)
    password_changed_at: Mapped[datetime | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    is_demo: Mapped[bool] = mapped_column(default=False, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version_id}

    memberships: Mapped[list["Membership"]] = relationship(
        primaryjoin="and_(User.id == Membership.user_id, Membership.is_active == True)",  # noqa: E712
        foreign_keys="Membership.user_id",
        viewonly=True,
        lazy="select",  # only on access: every page loads its user (load_memberships does the rest)
    )

    def set_password(self, password: str, *, must_change: bool) -> None:
        # scrypt in production; the test suite configures a cheap method (hundreds of users).
        method = current_app.config.get("HAZARDHUB_PASSWORD_HASH", "scrypt") if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)
        self.session_salt = _new_salt()
        self.must_change_password = must_change
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """Session identity: id plus the salt, so a password change ends every other session."""
        return f"{self.id}.{self.session_salt}"

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Membership(TenantScoped, TimestampMixin, Base):
    """A role held by a user on one unit; it reaches that unit's subtree."""

    __tablename__ = "memberships"
    __versioned__ = VERSIONED
    __table_args__ = (
        tenant_fk("user_id", "users"),
        tenant_fk("unit_id", "org_units"),
        sa.UniqueConstraint("user_id", "unit_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True, nullable=False)
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    role: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    #: memberships are ended, not deleted, so history keeps who held what
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)

    unit = relationship(
        "OrgUnit",
        primaryjoin="Membership.unit_id == OrgUnit.id",
        foreign_keys=[unit_id],
        lazy="joined",
        viewonly=True,
    )
    user = relationship(
        "User",
        primaryjoin="Membership.user_id == User.id",
        foreign_keys=[user_id],
        viewonly=True,
    )

    @property
    def role_label(self) -> str:
        return role_label(self.role)


class LoginAttempt(Base):
    """Every login attempt, successful or not (等保 2.0 expects the record).

    Not tenant-scoped: an attempt for an unknown username has no tenant. Lockout is derived from
    these rows, so a login never writes to the versioned ``users`` table.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (sa.Index("ix_login_attempts_username_at", "username", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    succeeded: Mapped[bool] = mapped_column(nullable=False)
    #: why it failed: bad_password, unknown_user, locked, inactive
    reason: Mapped[str | None] = mapped_column(sa.String(20))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(50))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


USER_LABELS = {
    "username": "用户名",
    "display_name": "姓名",
    "phone": "电话",
    "must_change_password": "须修改密码",
    "password_changed_at": "密码修改时间",
    "is_active": "启用",
    "is_demo": "演示账号",
    "version_id": "修订号",
    "created_at": "创建时间",
}

MEMBERSHIP_LABELS = {"user_id": "用户", "unit_id": "单位", "role": "角色", "is_active": "有效"}
