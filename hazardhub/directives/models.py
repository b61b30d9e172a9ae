"""Rectification directives (整改通知书 / 整改指令书) and the escalation of overdue hazards.

A directive is issued by a township central school or the bureau to ONE school for one or more of
that school's open hazards. The hazards it lists are snapshotted at issue (code, description,
location, level, cited clauses), so the document says what it said even after the ledger moves on.
Numbers are ``<机关代字>〔<年>〕<n>号`` per issuing unit and year, without gaps: the counter row of
the unit and year is locked (``SELECT … FOR UPDATE``) while a number is taken, as for hazards.

Lifecycle (every step versioned): ``issued`` → ``acknowledged`` (the school signs the receipt,
签收 回执) → ``responded`` (rectification reported with after-photos) → ``accepted``, or
``returned`` with comments (the school responds again). An extension of the deadline is requested
by the school and approved or refused by the issuer. Overdue is derived from the deadline and also
stamped by the daily escalation job (``is_overdue``), which records :class:`Escalation` rows.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Iterable

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.clock import utcnow
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.extensions import db
from hazardhub.policy import Lifecycle, Protected, Ref, Transition

STATUSES = {
    "issued": "已下达待签收",
    "acknowledged": "已签收整改中",
    "responded": "已报告待验收",
    "returned": "已退回继续整改",
    "accepted": "已验收",
}
#: states in which the school still owes the rectification (the deadline runs)
RUNNING_STATUSES = ("issued", "acknowledged", "returned")
#: states in which the directive is not finished
OPEN_STATUSES = ("issued", "acknowledged", "responded", "returned")
#: the directive's lifecycle: 下达 → 签收 → 报告 → 验收 (or 退回 and report again); operations move
#: through it, policy and the page's buttons read it (hazardhub.policy.Lifecycle)
LIFECYCLE = Lifecycle(STATUSES, [
    Transition("acknowledge", ("issued",), "acknowledged", "directive.acknowledge", "该整改指令已签收。"),
    Transition("respond", ("acknowledged", "returned"), "responded", "directive.respond",
               {"issued": "请先签收整改指令，再报告整改情况。", "*": "当前状态不能报告整改情况（已报告待验收或已验收）。"}),
    Transition("accept", ("responded",), "accepted", "directive.verify", "只有“已报告待验收”的整改指令可以验收。"),
    Transition("return", ("responded",), "returned", "directive.verify", "只有“已报告待验收”的整改指令可以退回。"),
])
DOC_TITLES = ("隐患整改通知书", "限期整改指令书")
EXTENSION_STATUSES = {"pending": "待审批", "approved": "已批准", "refused": "未批准"}
LEVELS = {"school": "学校", "township": "乡镇中心学校", "bureau": "县（市、区）教育局", "city": "市教育局"}
ESCALATION_KINDS = {"overdue": "逾期未整改", "escalated": "升级督办"}


class DirectiveCounter(Base):
    """The last number an issuing unit gave in a year; its row lock serialises numbering.

    ``prefix`` (机关代字) is fixed when the first number of the year is taken, so every directive of
    the unit in that year carries the same 代字 even if the unit is renamed.
    """

    __tablename__ = "directive_counters"
    __table_args__ = (tenant_fk("unit_id", "org_units"),)

    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    prefix: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    last: Mapped[int] = mapped_column(default=0, nullable=False)


class Directive(TenantScoped, TimestampMixin, Base):
    """One directive to one school."""

    __tablename__ = "directives"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="directive.view", unit=Ref("OrgUnit", "school_id"))
    __lifecycle__ = LIFECYCLE
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "number"),
        sa.UniqueConstraint("tenant_id", "issuer_unit_id", "year", "seq"),
        tenant_fk("issuer_unit_id", "org_units"),
        tenant_fk("school_id", "org_units"),
        tenant_fk("issued_by_id", "users"),
        tenant_fk("acknowledged_by_id", "users"),
        tenant_fk("responded_by_id", "users"),
        tenant_fk("verified_by_id", "users"),
        tenant_fk("extension_requested_by_id", "users"),
        tenant_fk("extension_decided_by_id", "users"),
        sa.Index("ix_directives_tenant_status", "tenant_id", "status"),
        sa.Index("ix_directives_tenant_deadline", "tenant_id", "deadline"),
        sa.CheckConstraint(
            "status IN ('issued','acknowledged','responded','returned','accepted')", name="status"),
        sa.CheckConstraint("deadline >= issued_on", name="deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 文号, e.g. 建教安整〔2026〕3号
    number: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    #: 机关代字 the number was made with
    prefix: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    year: Mapped[int] = mapped_column(nullable=False)
    #: sequence within issuer and year, from 1, no gaps
    seq: Mapped[int] = mapped_column(nullable=False)
    #: 隐患整改通知书 or 限期整改指令书
    doc_title: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    #: the issuing unit (township central school or the bureau) and its name at issue (文头)
    issuer_unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    issuer_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    #: the school the directive is addressed to, its name at issue, and its path (scope filters)
    school_id: Mapped[int] = mapped_column(index=True, nullable=False)
    school_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    school_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    #: 整改要求与措施
    requirements: Mapped[str] = mapped_column(sa.Text, nullable=False)
    issued_on: Mapped[date] = mapped_column(nullable=False)
    #: 整改期限 (moved by an approved extension; history keeps the earlier one)
    deadline: Mapped[date] = mapped_column(nullable=False)
    #: when the deadline was given as N working days after ``issued_on`` (Chinese calendar)
    deadline_working_days: Mapped[int | None] = mapped_column()
    issued_by_id: Mapped[int] = mapped_column(nullable=False)
    #: 签发人 as printed on the document
    signer_name: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(14), default="issued", nullable=False)
    # 签收 (回执)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by_id: Mapped[int | None] = mapped_column()
    #: the name the school's signer gave on the receipt
    acknowledged_by_name: Mapped[str | None] = mapped_column(sa.String(40))
    # the school's rectification report (the latest round)
    response_note: Mapped[str | None] = mapped_column(sa.Text)
    responded_at: Mapped[datetime | None] = mapped_column()
    responded_by_id: Mapped[int | None] = mapped_column()
    #: 1 for the first report, 2 after one return, …
    response_round: Mapped[int] = mapped_column(default=0, nullable=False)
    # the issuer's verification
    verified_at: Mapped[datetime | None] = mapped_column()
    verified_by_id: Mapped[int | None] = mapped_column()
    #: acceptance note or the comments of a return
    verification_note: Mapped[str | None] = mapped_column(sa.Text)
    return_count: Mapped[int] = mapped_column(default=0, nullable=False)
    accepted_on: Mapped[date | None] = mapped_column()
    # extension of the deadline
    extension_status: Mapped[str | None] = mapped_column(sa.String(10))
    extension_until: Mapped[date | None] = mapped_column()
    extension_reason: Mapped[str | None] = mapped_column(sa.Text)
    extension_decision_note: Mapped[str | None] = mapped_column(sa.Text)
    extension_requested_by_id: Mapped[int | None] = mapped_column()
    extension_decided_by_id: Mapped[int | None] = mapped_column()
    #: stamped by the daily escalation job (also derived live from the deadline)
    is_overdue: Mapped[bool] = mapped_column(default=False, nullable=False)
    overdue_marked_on: Mapped[date | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    items: Mapped[list["DirectiveHazard"]] = relationship(
        primaryjoin="Directive.id == DirectiveHazard.directive_id", foreign_keys="DirectiveHazard.directive_id",
        viewonly=True, order_by="DirectiveHazard.sort",
    )

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue_on(self, today: date) -> bool:
        """Derived: the school still owes the rectification and the deadline has passed."""
        return self.status in RUNNING_STATUSES and self.deadline < today

    @property
    def extension_label(self) -> str | None:
        return EXTENSION_STATUSES.get(self.extension_status or "")


class DirectiveHazard(TenantScoped, TimestampMixin, Base):
    """A hazard listed on a directive, with the snapshot printed on the document."""

    __tablename__ = "directive_hazards"
    __versioned__ = VERSIONED
    __table_args__ = (
        tenant_fk("directive_id", "directives"),
        tenant_fk("hazard_id", "hazards"),
        sa.UniqueConstraint("directive_id", "hazard_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    directive_id: Mapped[int] = mapped_column(index=True, nullable=False)
    hazard_id: Mapped[int] = mapped_column(index=True, nullable=False)
    sort: Mapped[int] = mapped_column(default=0, nullable=False)
    #: snapshot at issue
    hazard_number: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    location: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    level: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    #: cited clauses, one per line: ``3.1.6 …（教发厅函〔2024〕20号）``
    clauses: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def level_label(self) -> str:
        return {"general": "一般", "major": "重大"}.get(self.level, self.level)


class DirectivePhoto(TenantScoped, TimestampMixin, Base):
    """An after-photo of a rectification report (cleaned and stored by ``evidence.storage``)."""

    __tablename__ = "directive_photos"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="directive.view", owner=Ref("Directive", "directive_id"))
    __versioned__ = VERSIONED
    __table_args__ = (
        tenant_fk("directive_id", "directives"),
        tenant_fk("uploaded_by_id", "users"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    directive_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the response round it was sent with
    round: Mapped[int] = mapped_column(nullable=False)
    content_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    original_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True, nullable=False)
    thumb_name: Mapped[str | None] = mapped_column(sa.String(80))
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    uploaded_by_id: Mapped[int] = mapped_column(nullable=False)


class Escalation(TenantScoped, TimestampMixin, Base):
    """An overdue hazard put in front of a supervising level (逾期) or one level up (升级督办).

    One row per hazard, kind, receiving level and missed deadline: the unique constraint makes the
    daily job idempotent (and a second deadline that is missed again is a new event).
    """

    __tablename__ = "escalations"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "school_id"))
    __versioned__ = VERSIONED
    __table_args__ = (
        tenant_fk("hazard_id", "hazards"),
        tenant_fk("directive_id", "directives"),
        tenant_fk("school_id", "org_units"),
        sa.UniqueConstraint("tenant_id", "hazard_id", "kind", "to_level", "deadline"),
        sa.CheckConstraint("kind IN ('overdue','escalated')", name="kind"),
        sa.Index("ix_escalations_tenant_to_level", "tenant_id", "to_level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the directive whose deadline was missed, when the hazard was on one
    directive_id: Mapped[int | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    #: school / township / bureau → township / bureau / city
    from_level: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    to_level: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    #: the deadline that was missed
    deadline: Mapped[date] = mapped_column(nullable=False)
    escalated_on: Mapped[date] = mapped_column(nullable=False)
    school_id: Mapped[int] = mapped_column(index=True, nullable=False)
    school_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    #: snapshot for the list
    hazard_number: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    hazard_level: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)

    @property
    def kind_label(self) -> str:
        return ESCALATION_KINDS.get(self.kind, self.kind)

    @property
    def from_label(self) -> str:
        return LEVELS.get(self.from_level, self.from_level)

    @property
    def to_label(self) -> str:
        return LEVELS.get(self.to_level, self.to_level)


DIRECTIVE_LABELS = {
    "number": "文号", "prefix": "机关代字", "year": "年度", "seq": "序号", "doc_title": "文书名称",
    "issuer_unit_id": "签发单位", "issuer_name": "签发单位名称", "school_id": "受检单位", "school_name": "受检单位名称",
    "requirements": "整改要求", "issued_on": "签发日期", "deadline": "整改期限",
    "deadline_working_days": "整改期限（工作日）", "issued_by_id": "下达人", "signer_name": "签发人",
    "status": "状态", "acknowledged_at": "签收时间", "acknowledged_by_id": "签收账号",
    "acknowledged_by_name": "签收人", "response_note": "整改情况", "responded_at": "报告时间",
    "responded_by_id": "报告人", "response_round": "报告轮次", "verified_at": "验收/退回时间",
    "verified_by_id": "验收人", "verification_note": "验收意见", "return_count": "退回次数",
    "accepted_on": "验收日期", "extension_status": "延期申请", "extension_until": "申请延期至",
    "extension_reason": "延期理由", "extension_decision_note": "延期审批意见",
    "extension_requested_by_id": "延期申请人", "extension_decided_by_id": "延期审批人",
    "is_overdue": "已逾期", "overdue_marked_on": "逾期标记日期",
}


#: what a directive's history shows, its hazards and photos included (hazardhub/auditlog/timeline.py)
Directive.__history__ = HistorySpec(
    labels=DIRECTIVE_LABELS,
    choices={"status": STATUSES, "extension_status": EXTENSION_STATUSES},
    hidden=("school_path", "prefix", "year", "seq"),
    name=lambda d: d.number,
    children=(("DirectiveHazard", "directive_id"), ("DirectivePhoto", "directive_id")),
)
DirectiveHazard.__history__ = HistorySpec(
    hidden=("hazard_id", "sort", "hazard_number", "description", "location", "level", "clauses"),
    name=lambda i: f"{i.hazard_number} {i.location}（{i.level_label}）",
    child_label="所列隐患",
    brief=True,
)
DirectivePhoto.__history__ = HistorySpec(
    hidden=("round", "content_type", "stored_name", "thumb_name", "size", "sha256", "width", "height",
            "uploaded_by_id"),
    name=lambda p: f"{p.original_name}（第 {p.round} 次报告）",
    child_label="整改后照片",
    brief=True,
)
Escalation.__history__ = HistorySpec(
    choices={"kind": ESCALATION_KINDS, "from_level": LEVELS, "to_level": LEVELS},
    hidden=("school_path",),
)


def open_directives_of(hazard_ids: Iterable[int]) -> dict[int, Directive]:
    """hazard id → the open directive that lists it (a hazard is on at most one open directive).

    The rule "one hazard, one rectification": while a directive is open its hazards are
    rectified, reported and accepted through it, so no second directive may list them.
    """
    ids = list(hazard_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(DirectiveHazard.hazard_id, Directive)
        .join(Directive, Directive.id == DirectiveHazard.directive_id)
        .where(DirectiveHazard.hazard_id.in_(ids), Directive.status.in_(OPEN_STATUSES))
        .order_by(Directive.id)
    ).all()
    return {hazard_id: directive for hazard_id, directive in rows}
