"""Tenants (education bureaus) and the unit tree inside each district.

A tenant is one bureau; a district tenant has a parent city. ``OrgUnit`` rows form the tree of
one tenant: the bureau itself, township central schools, bureau-affiliated schools and the
schools/kindergartens under townships. ``path`` is materialised (``/1/7/42/``) so a subtree is one
indexed ``LIKE 'prefix%'`` instead of a recursive query on every permission check.
"""
from __future__ import annotations

from datetime import datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.clock import utcnow
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected

TENANT_KINDS = {"city": "市级教育局", "district": "县（市、区）教育局"}

UNIT_KINDS = {
    "bureau": "教育局（安全股）",
    "township_center": "乡镇中心学校",
    "affiliated_school": "局属学校",
    "school": "学校/幼儿园",
}

SCHOOL_TYPES = ["幼儿园", "小学", "初中", "九年一贯制", "高中", "职业学校", "特殊教育"]

OWNERSHIPS = {"public": "公办", "private": "民办"}


class Tenant(Base):
    """One education bureau. Not tenant-scoped itself: it *is* the scope."""

    __tablename__ = "tenants"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="tenant.view", tenant=lambda tenant: tenant.id)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: folder name under tenants/ and the ``--tenant`` argument of commands
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True, nullable=False)
    #: full name, e.g. 建安区教育体育局
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    #: short name used in numbers and tables, e.g. 建安
    short_name: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    #: ``city`` or ``district`` (a county-level city or county is a district)
    kind: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    #: the city a district belongs to
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tenants.id"), index=True)
    #: administrative division code, e.g. 411003
    region_code: Mapped[str | None] = mapped_column(sa.String(12))
    #: 机关代字 used in directive numbers, e.g. 建教安
    doc_prefix: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    parent: Mapped["Tenant | None"] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class OrgUnit(TenantScoped, TimestampMixin, Base):
    """A unit of a district's tree (or the city bureau's own single unit)."""

    __tablename__ = "org_units"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="unit.view", unit=lambda unit: unit)
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "code"),
        tenant_fk("parent_id", "org_units"),
        sa.CheckConstraint(
            "kind IN ('bureau','township_center','affiliated_school','school')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: parent unit (same tenant, enforced by the composite FK)
    parent_id: Mapped[int | None] = mapped_column(index=True)
    #: stable code from tenants/<slug>/units.csv; the key for idempotent provisioning
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    #: materialised path of ids, ``/root/.../self/``
    path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False, default="")
    depth: Mapped[int] = mapped_column(default=0, nullable=False)
    #: 幼儿园, 小学, 初中, 九年一贯制, 高中, 职业学校, 特殊教育 (schools only)
    school_type: Mapped[str | None] = mapped_column(sa.String(20))
    #: public or private
    ownership: Mapped[str | None] = mapped_column(sa.String(10))
    is_boarding: Mapped[bool] = mapped_column(default=False, nullable=False)
    enrolment: Mapped[int | None] = mapped_column()
    staff_count: Mapped[int | None] = mapped_column()
    address: Mapped[str | None] = mapped_column(sa.String(200))
    contact_name: Mapped[str | None] = mapped_column(sa.String(40))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(30))
    #: demo data is marked so nobody mistakes it for a real school
    is_demo: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: units are never deleted; a closed school is deactivated
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    #: optimistic lock: two clerks editing one unit get a conflict, not a lost update
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)

    __mapper_args__ = {"version_id_col": version_id}

    parent: Mapped["OrgUnit | None"] = relationship(
        remote_side=[id],
        primaryjoin="OrgUnit.parent_id == OrgUnit.id",
        foreign_keys=[parent_id],
        lazy="select",
    )

    @property
    def is_school(self) -> bool:
        return self.kind in ("school", "affiliated_school")

    @property
    def kind_label(self) -> str:
        return UNIT_KINDS.get(self.kind, self.kind)

    def contains(self, other: "OrgUnit") -> bool:
        """True when ``other`` is this unit or below it."""
        return other.tenant_id == self.tenant_id and other.path.startswith(self.path)

    def __repr__(self) -> str:
        return f"<OrgUnit {self.code} {self.name}>"


UNIT_LABELS = {
    "parent_id": "上级单位",
    "code": "单位代码",
    "name": "名称",
    "kind": "类别",
    "depth": "层级",
    "school_type": "学校类型",
    "ownership": "办学性质",
    "is_boarding": "寄宿制",
    "enrolment": "在校学生数",
    "staff_count": "教职工数",
    "address": "地址",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
    "is_demo": "演示数据",
    "is_active": "启用",
    "version_id": "修订号",
    "created_at": "创建时间",
}


#: what a unit's history shows (hazardhub/auditlog/timeline.py)
OrgUnit.__history__ = HistorySpec(
    labels=UNIT_LABELS, choices={"kind": UNIT_KINDS, "ownership": OWNERSHIPS}, hidden=("path", "depth"),
    name=lambda u: u.name,
)
Tenant.__history__ = HistorySpec(name=lambda t: t.name)
