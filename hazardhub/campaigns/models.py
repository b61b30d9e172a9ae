"""专项行动 (campaigns): phases with dates, the deliverables each unit reports, and their files.

A campaign belongs to one tenant. The city bureau may publish a campaign as reference; a district
adopts it by copying it into its own tenant (``adopted_from_id`` and ``adopted_from_title`` keep the
city campaign's id and title as a snapshot only: a foreign key across tenants is impossible by
design). Each deliverable (实施方案, 总结报告 …) is one row per reporting unit — every township central
school and bureau-affiliated school of the district — reviewed by the bureau's safety section.
"""
from __future__ import annotations

from datetime import date, datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub import clock
from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Lifecycle, Protected, Ref, Transition

SOURCES = {"template": "按方案模板创建", "custom": "自定义"}
CAMPAIGN_STATUSES = {"draft": "筹备中", "active": "进行中", "closed": "已结束"}
DELIVERABLE_STATUSES = {"draft": "未提交", "submitted": "已提交待审核", "returned": "已退回", "accepted": "已通过"}
#: a deliverable's lifecycle: the unit edits and submits it (again after a return), the safety
#: section returns or accepts it; operations move through it, policy and the page read it
DELIVERABLE_LIFECYCLE = Lifecycle(DELIVERABLE_STATUSES, [
    Transition("submit", ("draft", "returned"), "submitted", "deliverable.edit",
               "材料已提交，审核前不能修改；如需修改请等待退回。"),
    Transition("return", ("submitted",), "returned", "deliverable.review", "只能审核已提交的材料。"),
    Transition("accept", ("submitted",), "accepted", "deliverable.review", "只能审核已提交的材料。"),
])
SPEC_KINDS = {"text": "文字", "file": "文件（图片/PDF/视频）", "any": "文字或文件"}
#: who reports a deliverable; the seed's rule: every township central school and affiliated school
WHO = {"township_center+affiliated_school": "各乡镇中心学校、局属各学校"}
REPORTING_KINDS = ("township_center", "affiliated_school")
#: derived badge of a deliverable → (label, bootstrap class)
BADGES = {
    "accepted": ("已通过", "bg-success"),
    "on_time": ("按时提交", "bg-primary"),
    "late": ("逾期提交", "bg-warning text-dark"),
    "returned": ("已退回", "bg-danger"),
    "missing": ("逾期未交", "bg-dark"),
    "pending": ("未到期", "bg-secondary"),
}


#: what a reader is shown of a campaign: the stored draft and closed as they are, an active one by
#: the calendar of its phases (key → label, badge class)
CALENDAR_STATUSES = {
    "draft": ("筹备中", "bg-secondary"),
    "upcoming": ("未开始", "bg-info text-dark"),
    "running": ("进行中", "bg-primary"),
    "ended": ("已到期", "bg-warning text-dark"),
    "closed": ("已结束", "bg-success"),
}


def calendar_status(campaign: "Campaign", today: date, period: tuple[date, date] | None) -> tuple[str, str, str]:
    """``(key, label, badge class)`` of ``campaign`` on ``today``.

    Why: ``status`` says only whether the bureau has closed the campaign (结束专项行动); a 2026
    campaign left active showed 进行中 in December, after all its phases had ended (issue #18). An
    active campaign is 进行中 while ``period`` (its first phase's start to its last phase's end)
    runs, 未开始 before it and 已到期 after it, until the bureau closes it (已结束).
    """
    key = campaign.status
    if key == "active" and period is not None:
        start, end = period
        key = "upcoming" if today < start else ("ended" if today > end else "running")
    elif key == "active":
        key = "running"
    label, badge = CALENDAR_STATUSES[key]
    return key, label, badge


class Campaign(TenantScoped, TimestampMixin, Base):
    __tablename__ = "campaigns"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="campaign.view")
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("created_by_id", "users"),
        sa.CheckConstraint("source IN ('template','custom')", name="source"),
        sa.CheckConstraint("status IN ('draft','active','closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    year: Mapped[int] = mapped_column(nullable=False)
    source: Mapped[str] = mapped_column(sa.String(10), default="template", nullable=False)
    #: a city campaign offered to the districts as reference (read-only for them)
    published_by_city: Mapped[bool] = mapped_column(default=False, nullable=False)
    #: the city campaign this one was adopted from: id and title snapshot only (another tenant)
    adopted_from_id: Mapped[int | None] = mapped_column()
    adopted_from_title: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(10), default="draft", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column()
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    @property
    def status_label(self) -> str:
        return CAMPAIGN_STATUSES[self.status]


class Phase(TenantScoped, TimestampMixin, Base):
    __tablename__ = "campaign_phases"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="campaign.view")
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("campaign_id", "campaigns"),
        sa.CheckConstraint("ends_on >= starts_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(index=True, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    starts_on: Mapped[date] = mapped_column(nullable=False)
    ends_on: Mapped[date] = mapped_column(nullable=False)
    sort: Mapped[int] = mapped_column(default=0, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}


class DeliverableSpec(TenantScoped, TimestampMixin, Base):
    """What each unit must report in a phase, by when."""

    __tablename__ = "deliverable_specs"
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("phase_id", "campaign_phases"),
        sa.CheckConstraint("kind IN ('text','file','any')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(index=True, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    description: Mapped[str | None] = mapped_column(sa.Text)
    due_on: Mapped[date] = mapped_column(nullable=False)
    who: Mapped[str] = mapped_column(sa.String(40), default="township_center+affiliated_school", nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(5), default="any", nullable=False)
    sort: Mapped[int] = mapped_column(default=0, nullable=False)


class Deliverable(TenantScoped, TimestampMixin, Base):
    """One unit's report for one spec: written, submitted, then returned or accepted."""

    __tablename__ = "deliverables"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="deliverable.view", unit=Ref("OrgUnit", "unit_id"))
    __lifecycle__ = DELIVERABLE_LIFECYCLE
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("spec_id", "unit_id"),
        tenant_fk("spec_id", "deliverable_specs"),
        tenant_fk("campaign_id", "campaigns"),
        tenant_fk("unit_id", "org_units"),
        tenant_fk("submitted_by_id", "users"),
        tenant_fk("reviewed_by_id", "users"),
        sa.CheckConstraint("status IN ('draft','submitted','returned','accepted')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    spec_id: Mapped[int] = mapped_column(index=True, nullable=False)
    campaign_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the reporting unit (a township central school or an affiliated school)
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(10), default="draft", nullable=False)
    text: Mapped[str | None] = mapped_column(sa.Text)
    #: naive UTC of the (last) submission; late is judged on its Beijing date
    submitted_at: Mapped[datetime | None] = mapped_column()
    submitted_by_id: Mapped[int | None] = mapped_column()
    reviewed_by_id: Mapped[int | None] = mapped_column()
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_comment: Mapped[str | None] = mapped_column(sa.String(1000))
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    unit = relationship("OrgUnit", primaryjoin="Deliverable.unit_id == OrgUnit.id", foreign_keys=[unit_id],
                        viewonly=True, lazy="joined")
    spec = relationship("DeliverableSpec", primaryjoin="Deliverable.spec_id == DeliverableSpec.id",
                        foreign_keys=[spec_id], viewonly=True, lazy="joined")

    def submitted_on(self) -> date | None:
        """The Beijing date of the submission."""
        if self.submitted_at is None:
            return None
        return clock.local_date(self.submitted_at)

    def is_late(self, today: date) -> bool:
        """Submitted after the due date, or not submitted and the due date has passed."""
        submitted = self.submitted_on()
        if submitted is not None:
            return submitted > self.spec.due_on
        return today > self.spec.due_on

    def badge(self, today: date) -> str:
        """accepted / returned / late / on_time / missing / pending (a key of ``BADGES``)."""
        if self.status == "accepted":
            return "accepted"
        if self.status == "returned":
            return "returned"
        if self.status == "submitted":
            return "late" if self.is_late(today) else "on_time"
        return "missing" if self.is_late(today) else "pending"


class DeliverableFile(TenantScoped, TimestampMixin, Base):
    """A photo, PDF or MP4 video attached to a deliverable (stored under ``storage_root()``)."""

    __tablename__ = "deliverable_files"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="deliverable.view", owner=Ref("Deliverable", "deliverable_id"))
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("deliverable_id", "deliverables"),
        tenant_fk("uploaded_by_id", "users"),
        sa.CheckConstraint("kind IN ('image','pdf','video')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deliverable_id: Mapped[int] = mapped_column(index=True, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(5), nullable=False)
    stored_name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    thumb_name: Mapped[str | None] = mapped_column(sa.String(60))
    content_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    original_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    uploaded_by_id: Mapped[int] = mapped_column(nullable=False)


DELIVERABLE_LABELS = {"status": "状态", "text": "报送内容", "submitted_at": "提交时间", "submitted_by_id": "提交人",
                      "reviewed_by_id": "审核人", "reviewed_at": "审核时间", "review_comment": "审核意见"}


#: what a deliverable's history shows (hazardhub/auditlog/timeline.py)
Deliverable.__history__ = HistorySpec(
    labels={**DELIVERABLE_LABELS, "spec_id": "报送材料", "campaign_id": "专项行动", "unit_id": "报送单位"},
    choices={"status": DELIVERABLE_STATUSES},
    name=lambda d: d.spec.name if d.spec is not None else "报送材料",
    children=(("DeliverableFile", "deliverable_id"),),
)
DeliverableFile.__history__ = HistorySpec(
    hidden=("kind", "stored_name", "thumb_name", "content_type", "size", "sha256", "uploaded_by_id"),
    name=lambda f: f.original_name,
    child_label="附件",
    brief=True,
)
Campaign.__history__ = HistorySpec(choices={"source": SOURCES, "status": CAMPAIGN_STATUSES}, name=lambda c: c.title)
DeliverableSpec.__history__ = HistorySpec(choices={"kind": SPEC_KINDS, "who": WHO}, name=lambda s: s.name)
