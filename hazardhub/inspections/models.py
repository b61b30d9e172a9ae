"""三查: inspections (the principal's monthly self-inspection, township checks, the bureau leaders'
unannounced visits, joint and special checks), their checklists, and the principal's sign-off.

A self-inspection is closed by the principal's sign-off; from then on the inspection and its items
are frozen (``hazardhub.inspections.operations`` refuses edits and a flush guard refuses any
change that slips past it). A correction is a new inspection that ``amends`` the signed one and
is signed in its own right.
"""
from __future__ import annotations

from datetime import date, datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.changeindex import FigureUnits
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Lifecycle, Protected, Ref, Transition

KINDS = {
    "self": "校长带队月度自查",
    "township": "乡镇中心学校检查",
    "unannounced": "分包领导暗访暗查",
    "joint": "联合检查（消防/公安/交通）",
    "special": "专项检查",
}
#: the hazard source each kind of inspection records
HAZARD_SOURCE = {"self": "self", "township": "township", "unannounced": "unannounced", "joint": "joint",
                 "special": "bureau"}
RESULTS = {"unchecked": "未检查", "pass": "合格", "fail": "不合格", "na": "不适用"}
#: the seed campaign's four areas, checked at every school besides the catalogue items
SEED_AREA_CHECKS = [
    ("校门口", "校门口：护栏、减速带、警示标志、上下学护导、周边交通秩序"),
    ("设备设施", "设备设施：消防器材、应急照明、疏散指示、电气线路、大型设施设备"),
    ("校内施工", "校内施工：施工区域隔离、动火审批、现场监管"),
    ("周边环境", "周边环境：校园周边摊点、易燃物堆放、危险场所、治安秩序"),
]


class LeaderAssignment(TenantScoped, TimestampMixin, Base):
    """分包: a bureau leader is assigned a township or school for unannounced visits."""

    __tablename__ = "leader_assignments"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "unit_id"))
    __versioned__ = VERSIONED
    __table_args__ = (tenant_fk("leader_id", "users"), tenant_fk("unit_id", "org_units"),
                      sa.UniqueConstraint("leader_id", "unit_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(index=True, nullable=False)
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)


class Inspection(TenantScoped, TimestampMixin, Base):
    __tablename__ = "inspections"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="inspection.view", unit=Ref("OrgUnit", "unit_id"))
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(own=("unit_id",))
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("unit_id", "org_units"),
        tenant_fk("recorded_by_id", "users"),
        tenant_fk("amends_id", "inspections"),
        sa.Index("ix_inspections_tenant_month_kind", "tenant_id", "month", "kind"),
        sa.CheckConstraint("kind IN ('self','township','unannounced','joint','special')", name="kind"),
        sa.CheckConstraint("status IN ('draft','recorded','signed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    #: the school inspected
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    unit_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    #: the month checked, "2026-11"
    month: Mapped[str] = mapped_column(sa.String(7), nullable=False)
    inspected_on: Mapped[date] = mapped_column(nullable=False)
    recorded_by_id: Mapped[int] = mapped_column(nullable=False)
    #: who took part (names; for joint checks the agencies too)
    inspectors: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    agencies: Mapped[str | None] = mapped_column(sa.String(200))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    #: draft → recorded (visible to the school) → signed (self-inspections only; frozen)
    status: Mapped[str] = mapped_column(sa.String(10), default="draft", nullable=False)
    #: the signed inspection this one corrects
    amends_id: Mapped[int | None] = mapped_column()
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    unit = relationship("OrgUnit", primaryjoin="Inspection.unit_id == OrgUnit.id", foreign_keys=[unit_id],
                        viewonly=True, lazy="joined")

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


class InspectionItem(TenantScoped, TimestampMixin, Base):
    """One line of the checklist: a catalogue item or a seed area, and its result."""

    __tablename__ = "inspection_items"
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(via=(("inspections", "inspection_id", "unit_id"),))
    __table_args__ = (tenant_fk("inspection_id", "inspections"), tenant_fk("hazard_id", "hazards"),
                      sa.CheckConstraint("result IN ('unchecked','pass','fail','na')", name="result"))

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the catalogue item checked (None for a seed-area check)
    item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("standard_items.id"))
    area: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    number: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    #: snapshot of what was checked
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    group_kind: Mapped[str | None] = mapped_column(sa.String(12))
    result: Mapped[str] = mapped_column(sa.String(10), default="unchecked", nullable=False)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    #: the hazard a failure became
    hazard_id: Mapped[int | None] = mapped_column(index=True)
    sort: Mapped[int] = mapped_column(default=0, nullable=False)


class SignOff(TenantScoped, TimestampMixin, Base):
    """The principal's signature on a self-inspection: what was signed, its hash, the chain head."""

    __tablename__ = "sign_offs"
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(via=(("inspections", "inspection_id", "unit_id"),))
    __table_args__ = (tenant_fk("inspection_id", "inspections"), tenant_fk("signed_by_id", "users"),
                      sa.UniqueConstraint("inspection_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(nullable=False)
    signed_by_id: Mapped[int] = mapped_column(nullable=False)
    signed_at: Mapped[datetime] = mapped_column(nullable=False)
    #: canonical JSON of the inspection, its items and the school's open ledger at signing
    snapshot: Mapped[str] = mapped_column(sa.Text, nullable=False)
    snapshot_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    #: the tenant's audit-chain head (seq:hash) just before the signature
    chain_head: Mapped[str] = mapped_column(sa.String(90), nullable=False)
    items_checked: Mapped[int] = mapped_column(nullable=False)
    items_failed: Mapped[int] = mapped_column(nullable=False)
    open_hazards: Mapped[int] = mapped_column(nullable=False)
    #: on time: by the last day of the month inspected (Beijing time)
    is_late: Mapped[bool] = mapped_column(default=False, nullable=False)


INSPECTION_LABELS = {"kind": "检查类型", "unit_id": "学校", "month": "月份", "inspected_on": "检查日期",
                     "inspectors": "检查人员", "agencies": "参加部门", "summary": "检查小结", "status": "状态",
                     "amends_id": "更正的检查", "recorded_by_id": "记录人"}
STATUSES = {"draft": "草稿", "recorded": "已记录", "signed": "已签字"}
#: an inspection's lifecycle: the checklist is filled and finished (again, until signed); a
#: self-inspection is signed by the principal and frozen; operations move through it, policy and
#: the page read it. (A correction of a signed one is a new inspection: ``amends_id``.)
LIFECYCLE = Lifecycle(STATUSES, [
    Transition("finish", ("draft", "recorded"), "recorded", "inspection.edit",
               "该检查已签字封存，不能再修改；如需更正，请发起更正记录并重新签字。"),
    Transition("sign", ("recorded",), "signed", "inspection.sign",
               {"signed": "该检查已签字。", "*": "请先完成检查表，再签字。"}),
])
Inspection.__lifecycle__ = LIFECYCLE


#: what an inspection's history shows, its checklist lines and sign-off included (hazardhub/auditlog/timeline.py)
Inspection.__history__ = HistorySpec(
    labels=INSPECTION_LABELS,
    choices={"kind": KINDS, "status": STATUSES},
    hidden=("unit_path",),
    name=lambda i: f"{KINDS.get(i.kind, i.kind)}（{i.month}）",
    children=(("InspectionItem", "inspection_id"), ("SignOff", "inspection_id")),
)
InspectionItem.__history__ = HistorySpec(
    labels={"result": "检查结果", "note": "情况说明", "hazard_id": "形成隐患"},
    choices={"result": RESULTS},
    hidden=("item_id", "area", "number", "text", "group_kind", "sort"),
    name=lambda i: f"{i.number} {i.area}",
    child_label="检查项",
)
SignOff.__history__ = HistorySpec(
    labels={"signed_by_id": "签字人", "signed_at": "签字时间", "items_checked": "检查项数", "items_failed": "不合格项数",
            "open_hazards": "未销号隐患数", "is_late": "逾期签字"},
    hidden=("snapshot", "snapshot_sha256", "chain_head"),
    child_label="校长签字",
)
LeaderAssignment.__history__ = HistorySpec(labels={"leader_id": "分包领导", "unit_id": "分包单位", "is_active": "有效"})
