"""One accountability finding (追责线索) about one unit in one period."""
from __future__ import annotations

from datetime import date, datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected, Ref

#: kind -> Chinese label; the order is the list's order of gravity
FINDING_KINDS = {
    "discovery_gap": "重大隐患自查未发现",
    "rectification_overdue": "整改逾期",
    "rectification_returned": "整改多次验收不合格",
    "directive_overdue": "整改指令逾期未落实",
    "directive_returned": "整改指令多次退回",
    "self_check_missing": "月度自查缺失",
    "self_check_late": "月度自查逾期签字",
    "township_check_missing": "乡镇检查未全覆盖",
    "deliverable_missing": "专项行动材料未报送",
    "deliverable_late": "专项行动材料逾期报送",
}
FINDING_STATUSES = {"open": "待处理", "handled": "已处理"}


class AccountabilityFinding(TenantScoped, TimestampMixin, Base):
    """A finding derived from the records, stored so that it never disappears.

    The daily pass derives findings from the ledger, inspections, sign-offs and deliverables and
    inserts the ones not yet stored (``key`` is unique per tenant); it never deletes or rewrites
    one, so a late sign-off stays on the list after the month is over and a hazard rectified
    after its deadline stays "overdue". The safety section marks a finding handled with a note;
    that is versioned like every record that decides accountability.
    """

    __tablename__ = "accountability_findings"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="accountability.view", unit=Ref("OrgUnit", "unit_id"))
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "key"),
        tenant_fk("unit_id", "org_units"),
        tenant_fk("hazard_id", "hazards"),
        tenant_fk("inspection_id", "inspections"),
        tenant_fk("other_inspection_id", "inspections"),
        tenant_fk("deliverable_id", "deliverables"),
        tenant_fk("handled_by_id", "users"),
        sa.Index("ix_accountability_findings_tenant_period", "tenant_id", "period"),
        sa.CheckConstraint("status IN ('open','handled')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what derived it, e.g. ``gap:hazard:42`` (one finding per fact)
    key: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    #: the responsible unit (a school, a township central school, an affiliated school)
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    unit_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    #: the month the fact belongs to ("YYYY-MM")
    period: Mapped[str] = mapped_column(sa.String(7), nullable=False)
    detected_on: Mapped[date] = mapped_column(nullable=False)
    summary: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    #: the evidence: the hazard, the inspection that found it or was missed, the self-inspection
    #: that did not record it, the deliverable, the directive
    hazard_id: Mapped[int | None] = mapped_column()
    inspection_id: Mapped[int | None] = mapped_column()
    other_inspection_id: Mapped[int | None] = mapped_column()
    deliverable_id: Mapped[int | None] = mapped_column()
    directive_id: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(10), default="open", nullable=False)
    handled_note: Mapped[str | None] = mapped_column(sa.Text)
    handled_by_id: Mapped[int | None] = mapped_column()
    handled_at: Mapped[datetime | None] = mapped_column()
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    unit = relationship("OrgUnit", primaryjoin="AccountabilityFinding.unit_id == OrgUnit.id",
                        foreign_keys=[unit_id], viewonly=True, lazy="joined")

    @property
    def kind_label(self) -> str:
        return FINDING_KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return FINDING_STATUSES[self.status]


FINDING_LABELS = {"status": "状态", "handled_note": "处理意见", "handled_by_id": "处理人", "handled_at": "处理时间",
                  "summary": "线索", "kind": "类型", "period": "所属月份", "detected_on": "发现日期"}


#: what a finding's history shows (hazardhub/auditlog/timeline.py)
AccountabilityFinding.__history__ = HistorySpec(
    labels={**FINDING_LABELS, "unit_id": "单位", "hazard_id": "隐患", "inspection_id": "检查记录",
            "other_inspection_id": "对照的检查记录", "deliverable_id": "报送材料", "directive_id": "整改指令"},
    choices={"kind": FINDING_KINDS, "status": FINDING_STATUSES},
    hidden=("unit_path", "key"),
    refs={"directive_id": "Directive"},
    name=lambda f: f"{FINDING_KINDS.get(f.kind, f.kind)}（{f.period}）",
)
