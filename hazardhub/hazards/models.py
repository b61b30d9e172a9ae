"""The hazard ledger (隐患排查治理台账): one row per hazard, its cited items, its numbering.

Column order and names follow the ledger columns of domain-reference §4.1; the rectification plan
carries the five requirements (责任、措施、资金、时限、预案) that a major hazard must have.
Nothing is deleted: a wrong entry is voided with a reason and stays in the ledger.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.changeindex import FigureUnits
from hazardhub.clock import utcnow
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Lifecycle, Protected, Transition
from hazardhub.standards.models import DOMAINS, SEED_AREAS

SOURCES = {
    "self": "学校自查",
    "township": "乡镇中心学校检查",
    "bureau": "教育局督导检查",
    "unannounced": "暗访暗查",
    "joint": "联合检查（消防/公安/交通）",
    "report": "群众举报",
}
CATEGORIES = DOMAINS + SEED_AREAS + ["其他"]
LEVELS = {"general": "一般", "major": "重大"}
STATUSES = {
    "registered": "已登记",
    "rectifying": "整改中",
    "awaiting_acceptance": "待验收",
    "closed": "已销号",
    "voided": "已作废",
}
OPEN_STATUSES = ("registered", "rectifying", "awaiting_acceptance")
#: the hazard's lifecycle: 登记 → 整改 → 待验收 → 销号, 退回 back to 整改, 作废 from any open state;
#: operations move through it, policy and the page's buttons read it (hazardhub.policy.Lifecycle)
LIFECYCLE = Lifecycle(STATUSES, [
    Transition("start", ("registered",), "rectifying", "hazard.rectify", "只有“已登记”的隐患可以开始整改。"),
    Transition("report", ("registered", "rectifying"), "awaiting_acceptance", "hazard.rectify",
               "只有“已登记”或“整改中”的隐患可以报告整改完成。"),
    Transition("accept", ("awaiting_acceptance",), "closed", "hazard.accept", "只有“待验收”的隐患可以验收。"),
    Transition("reject", ("awaiting_acceptance",), "rectifying", "hazard.accept", "只有“待验收”的隐患可以退回。"),
    Transition("void", OPEN_STATUSES, "voided", "hazard.void",
               {"voided": "该隐患已作废。", "*": "已验收销号的隐患不能作废。"}),
    # a directive's acceptance closes every open hazard it lists (directives.operations)
    Transition("close_by_directive", OPEN_STATUSES, "closed", "directive.verify",
               "已销号或已作废的隐患不能随整改指令销号。"),
])
#: the partial index's predicate (SQL text, so that autogenerate compares it as written)
#: what the ledger's open views filter by, carried in ``ix_hazards_open_deadline`` on PostgreSQL
OPEN_LEDGER_COLUMNS = ("school_path", "source", "level", "category", "is_listed", "found_on", "version_id")
OPEN_WHERE = "status IN ('registered', 'rectifying', 'awaiting_acceptance')"
DETERMINATIONS = {
    "manual": "人工定级",
    "direct": "直接判定",
    "composite": "综合判定",
    "downgraded": "经批准降级",
}


class HazardCounter(Base):
    """The last number handed out per tenant and year; its row lock serialises numbering."""

    __tablename__ = "hazard_counters"

    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0, nullable=False)


class Hazard(TenantScoped, TimestampMixin, Base):
    """One hazard of the ledger, from 发现 to 销号."""

    __tablename__ = "hazards"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="hazard.view", unit=lambda hazard: hazard.school)
    __lifecycle__ = LIFECYCLE
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(own=("school_id",))
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "number"),
        tenant_fk("school_id", "org_units"),
        tenant_fk("found_by_id", "users"),
        tenant_fk("rectified_by_id", "users"),
        tenant_fk("accepted_by_id", "users"),
        sa.Index("ix_hazards_tenant_status_level", "tenant_id", "status", "level"),
        sa.Index("ix_hazards_tenant_found_on", "tenant_id", "found_on"),
        sa.Index("ix_hazards_tenant_deadline", "tenant_id", "deadline"),
        sa.Index("ix_hazards_school_found_on", "school_id", "found_on"),
        # the ledger's counters by scope: index-only on PostgreSQL (migration 0011, README "Performance")
        sa.Index("ix_hazards_tenant_path_counts", "tenant_id", "school_path", "status", "level", "deadline",
                 postgresql_ops={"school_path": "varchar_pattern_ops"}),
        # open hazards by deadline (the ledger's 待整改 view, 挂牌督办, reminders): a few percent of a
        # district's rows, which a full (tenant_id, deadline) index walks past (migration 0012); on
        # PostgreSQL it carries the columns the ledger filters them by, so its page and its count
        # are index-only (migration 0022: 7 ms → 0.6 ms on the city data set)
        sa.Index("ix_hazards_open_deadline", "tenant_id", "deadline", "id",
                 postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE),
                 postgresql_include=list(OPEN_LEDGER_COLUMNS)),
        sa.CheckConstraint("level IN ('general','major')", name="level"),
        sa.CheckConstraint(
            "status IN ('registered','rectifying','awaiting_acceptance','closed','voided')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: 建安-2025-000123: tenant short name, year, sequence without gaps
    number: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    year: Mapped[int] = mapped_column(nullable=False)
    #: the school or kindergarten (or township/affiliated unit) where the hazard is
    school_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: materialised path of the school, copied so scope filters need no join
    school_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    found_on: Mapped[date] = mapped_column(nullable=False)
    found_by_name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    found_by_id: Mapped[int | None] = mapped_column()
    #: the inspection that found it (monthly checks arrive with the campaigns issue)
    inspection_id: Mapped[int | None] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    category: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    location: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    level: Mapped[str] = mapped_column(sa.String(10), default="general", nullable=False)
    determination: Mapped[str] = mapped_column(sa.String(12), default="manual", nullable=False)
    #: which rule decided the level, in words (shown on the page)
    determination_rule: Mapped[str | None] = mapped_column(sa.Text)
    #: listed supervision (挂牌督办): every major hazard is listed for the bureau
    is_listed: Mapped[bool] = mapped_column(default=False, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), default="registered", nullable=False)
    # rectification plan (五落实)
    responsible_person: Mapped[str | None] = mapped_column(sa.String(60))
    responsible_dept: Mapped[str | None] = mapped_column(sa.String(60))
    measures: Mapped[str | None] = mapped_column(sa.Text)
    funds: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    deadline: Mapped[date | None] = mapped_column()
    #: when the deadline was given as N working days (Chinese calendar) from found_on
    deadline_working_days: Mapped[int | None] = mapped_column()
    interim_controls: Mapped[str | None] = mapped_column(sa.Text)
    contingency_plan: Mapped[str | None] = mapped_column(sa.Text)
    # rectification report and acceptance
    rectified_on: Mapped[date | None] = mapped_column()
    rectification_note: Mapped[str | None] = mapped_column(sa.Text)
    rectified_by_id: Mapped[int | None] = mapped_column()
    accepted_by_id: Mapped[int | None] = mapped_column()
    accepted_on: Mapped[date | None] = mapped_column()
    acceptance_note: Mapped[str | None] = mapped_column(sa.Text)
    closed_on: Mapped[date | None] = mapped_column()
    reject_reason: Mapped[str | None] = mapped_column(sa.Text)
    void_reason: Mapped[str | None] = mapped_column(sa.Text)
    # downgrade of a major hazard: requested with a reason, approved one level up
    #: None, pending, approved or refused
    downgrade_status: Mapped[str | None] = mapped_column(sa.String(10))
    downgrade_reason: Mapped[str | None] = mapped_column(sa.Text)
    downgrade_decision_note: Mapped[str | None] = mapped_column(sa.Text)
    downgrade_requested_by_id: Mapped[int | None] = mapped_column()
    downgrade_decided_by_id: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    school = relationship("OrgUnit", primaryjoin="Hazard.school_id == OrgUnit.id", foreign_keys=[school_id],
                          viewonly=True, lazy="joined")
    citations: Mapped[list["HazardCitation"]] = relationship(
        primaryjoin="Hazard.id == HazardCitation.hazard_id", foreign_keys="HazardCitation.hazard_id",
        viewonly=True, order_by="HazardCitation.id",
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def is_overdue(self, today: date) -> bool:
        """Overdue is derived, never stored: open and past its deadline."""
        return self.is_open and self.deadline is not None and self.deadline < today

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]

    @property
    def level_label(self) -> str:
        return LEVELS[self.level]

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)

    def plan_missing(self) -> list[str]:
        """Which of the five plan requirements are still empty (Chinese names)."""
        missing = []
        if not (self.responsible_person or "").strip():
            missing.append("责任（整改责任人）")
        if not (self.measures or "").strip():
            missing.append("措施（整改措施）")
        if self.funds is None:
            missing.append("资金（整改资金）")
        if self.deadline is None:
            missing.append("时限（整改期限）")
        if not (self.interim_controls or "").strip() or not (self.contingency_plan or "").strip():
            missing.append("预案（临时管控措施和应急预案）")
        return missing


class HazardCitation(TenantScoped, TimestampMixin, Base):
    """An item a hazard cites, with a snapshot of the text and catalogue version it quoted."""

    __tablename__ = "hazard_citations"
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(via=(("hazards", "hazard_id", "school_id"),))
    __table_args__ = (
        tenant_fk("hazard_id", "hazards"),
        sa.UniqueConstraint("hazard_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the catalogue item (owned by this tenant or its city)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("standard_items.id"), index=True, nullable=False)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("rule_groups.id"), index=True, nullable=False)
    #: snapshot at citation time; a later catalogue edit never changes what the hazard cited
    item_number: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    item_text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    item_version: Mapped[int] = mapped_column(nullable=False)
    group_kind: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    group_label: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    standard_title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    #: a withdrawn citation stays, marked inactive
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)


HAZARD_LABELS = {
    "number": "隐患编号", "school_id": "学校", "found_on": "排查日期", "found_by_name": "排查人",
    "source": "检查类型", "category": "隐患类别", "location": "隐患部位", "description": "隐患描述",
    "level": "隐患等级", "determination": "判定方式", "determination_rule": "判定依据",
    "is_listed": "挂牌督办", "status": "状态", "responsible_person": "整改责任人",
    "responsible_dept": "责任部门", "measures": "整改措施", "funds": "整改资金（元）", "deadline": "整改期限",
    "deadline_working_days": "整改期限（工作日）", "interim_controls": "临时管控措施", "contingency_plan": "应急预案",
    "rectified_on": "整改完成日期", "rectification_note": "整改情况", "rectified_by_id": "整改报告人",
    "accepted_by_id": "验收人", "accepted_on": "验收日期", "acceptance_note": "验收意见", "closed_on": "销号日期",
    "reject_reason": "验收不通过原因", "void_reason": "作废原因", "downgrade_reason": "降级理由", "downgrade_status": "降级申请状态", "downgrade_decision_note": "降级审批意见",
    "downgrade_requested_by_id": "降级申请人", "downgrade_decided_by_id": "降级审批人", "updated_at": "更新时间",
    "version_id": "修订号", "year": "年度", "school_path": "单位路径", "found_by_id": "登记人",
    "inspection_id": "检查记录", "created_at": "登记时间",
}


DOWNGRADE_STATUSES = {"pending": "待审批", "approved": "已批准", "refused": "未批准"}

#: what a hazard's history shows (hazardhub/auditlog/timeline.py)
Hazard.__history__ = HistorySpec(
    labels=HAZARD_LABELS,
    choices={"source": SOURCES, "level": LEVELS, "status": STATUSES, "determination": DETERMINATIONS,
             "downgrade_status": DOWNGRADE_STATUSES},
    hidden=("school_path", "year"),
    refs={"inspection_id": "Inspection", "downgrade_requested_by_id": "User", "downgrade_decided_by_id": "User"},
    name=lambda h: h.number,
    children=(("HazardCitation", "hazard_id"), ("Attachment", "hazard_id")),
)
HazardCitation.__history__ = HistorySpec(
    labels={"is_active": "有效"},
    hidden=("item_id", "group_id", "item_text", "group_kind", "standard_title", "item_version", "group_label",
            "item_number"),
    name=lambda c: f"{c.item_number}（{c.group_label}）",
    child_label="判定依据条目",
    brief=True,
)


class ImportValueChoice(TenantScoped, Base):
    """What a tenant's clerks chose for one value of one ledger column at import (消防安全 → 校园消防),
    so the next file and the ``flask import ledger`` command map it the same way. Not versioned:
    a preference, not ledger data."""

    __tablename__ = "import_value_choices"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "field", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: category, level, status or source
    field: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    value: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    #: the key (level, status, source) or the category name
    choice: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
