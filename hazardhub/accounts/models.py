"""People: users, their memberships (user, unit, role) and every login attempt.

A user belongs to one tenant; what they may do comes only from memberships, each a role on one
unit, acting on that unit's subtree (see ``hazardhub.policy``). The password hash and the session
salt are excluded from versioning: no secret ever lands in a version table.

Login attempts and server-side sessions (:class:`UserSession`) are neither versioned nor
tenant-scoped: they are the authentication record, not ledger data (see each class).
"""
from __future__ import annotations

import secrets
from datetime import datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.accounts import passwords
from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.clock import utcnow
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.extensions import db
from hazardhub.policy import Protected
from hazardhub.roles import ROLE_LEVEL, ROLE_UNIT_KINDS  # noqa: F401 - ROLE_UNIT_KINDS: re-exported

#: role -> (Chinese label, level); the level orders roles top down for display
ROLES: dict[str, tuple[str, str]] = {
    role: (label, ROLE_LEVEL[role]) for role, label in (
        ("city_admin", "市教育局管理员"),
        ("city_viewer", "市教育局查阅人员"),
        ("bureau_admin", "安全股管理员"),
        ("bureau_leader", "分包领导"),
        ("bureau_viewer", "教育局查阅人员"),
        ("township_supervisor", "乡镇中心学校督导"),
        ("principal", "校长（园长）"),
        ("safety_officer", "安全专干"),
        ("staff", "教职工"),
    )
}


def role_label(role: str) -> str:
    return ROLES.get(role, (role, ""))[0]


def _new_salt() -> str:
    return secrets.token_hex(8)


class User(UserMixin, TenantScoped, TimestampMixin, Base):
    """A person who logs in. Usernames are unique across the instance (login has no tenant)."""

    __tablename__ = "users"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="user.view", held=lambda user: user.held_units())
    __versioned__ = {**VERSIONED, "exclude": ["password_hash", "session_salt"]}
    __table_args__ = (sa.UniqueConstraint("tenant_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    #: scrypt hash (werkzeug); never versioned
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    #: retired (issue #12): sessions now end by revoking their :class:`UserSession` rows, which also
    #: covers logout; the column stays (unversioned, still rotated) so that no migration has to
    #: rebuild ``users`` on SQLite, and nothing reads it any more
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
        """Store a new hash. Ending the user's sessions is the caller's part
        (:mod:`hazardhub.accounts.sessions`), in the same commit."""
        self.password_hash = passwords.hash_password(password)
        self.session_salt = _new_salt()
        self.must_change_password = must_change
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        return passwords.verify(self.password_hash, password)

    def held_units(self) -> list:
        """``[(unit, role), …]`` of the user's active memberships, read fresh (policy's reach over
        a person: a grant earlier in the request counts)."""
        rows = db.session.execute(
            sa.select(Membership).where(Membership.user_id == self.id, Membership.is_active.is_(True))
        ).scalars()
        return [(membership.unit, membership.role) for membership in rows]

    def get_id(self) -> str:
        """Flask-Login's identity: the user id only. Whether the request may act as this user is
        decided by its server-side session row (:func:`hazardhub.accounts.auth.load_user`)."""
        return str(self.id)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Membership(TenantScoped, TimestampMixin, Base):
    """A role held by a user on one unit; it reaches that unit's subtree."""

    __tablename__ = "memberships"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="unit.view", unit=lambda membership: membership.unit)
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
    these rows (per account and client address), so a login never writes to the versioned
    ``users`` table.
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        sa.Index("ix_login_attempts_username_at", "username", "attempted_at"),
        # the lockout counts per (account, client address)
        sa.Index("ix_login_attempts_username_addr_at", "username", "remote_addr", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    succeeded: Mapped[bool] = mapped_column(nullable=False)
    #: why it failed: bad_password, unknown_user, locked, throttled, inactive
    reason: Mapped[str | None] = mapped_column(sa.String(20))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(50))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class UserSession(Base):
    """One signed-in browser, held on the server so that ending it is real (issue #12, item 4).

    The cookie carries a random 256-bit id; only its SHA-256 is stored, so a copy of this table
    (a backup, a replica) cannot be replayed as cookies. A request is accepted only while its row
    exists, is not revoked and has not idled out (:func:`hazardhub.accounts.auth.load_user`);
    logout revokes the row, a password change the user's other rows, and deactivation or an
    admin reset all of them (:mod:`hazardhub.accounts.sessions`). Every web host reads the same
    table, so a session ended on one host is ended on all.

    Not versioned: a row changes at most once a minute while the user works (``last_seen_at``)
    and says nothing about the ledger; versioning it would put a Continuum transaction and a link
    of the tenant's audit chain on ordinary page views. The revocations themselves happen in the
    commit of the versioned change that causes them (password, deactivation), so the chain
    records the cause. Not tenant-scoped: the user loader reads it before any tenant is known
    (it reads ``users`` with ``all_tenants=True`` in the same query), and it carries no
    tenant's data, only ``user_id``.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 (hex) of the random id in the cookie; never the id itself
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True,
                                         nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    #: refreshed at most once a minute (no write per request); idle expiry is measured from it
    last_seen_at: Mapped[datetime] = mapped_column(nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column()
    #: logout, idle, password_change, admin_reset, deactivated
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(20))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(50))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))


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


#: what a user's history shows, their roles included (hazardhub/auditlog/timeline.py)
User.__history__ = HistorySpec(labels=USER_LABELS, name=lambda u: u.display_name,
                               children=(("Membership", "user_id"),))
Membership.__history__ = HistorySpec(
    labels=MEMBERSHIP_LABELS, choices={"role": ROLES}, hidden=("unit_id", "role"),
    name=lambda m: f"{m.unit.name if m.unit is not None else ''} {ROLES[m.role][0]}".strip(),
    child_label="角色", brief=True,
)
