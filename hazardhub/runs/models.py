"""Tracked background runs (exports, PDFs): one row per job, what the page polls."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected, Ref

RUN_STATUSES = {
    "queued": "排队中",
    "running": "生成中",
    "finished": "已完成",
    "failed": "失败",
}


class ReportRun(TenantScoped, TimestampMixin, Base):
    """One requested job and its outcome.

    Not versioned: it is operational state, and the file it points to carries its own SHA-256 and
    the audit-chain head at generation.
    """

    __tablename__ = "report_runs"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="run.view", unit=Ref("OrgUnit", "unit_id"))
    __table_args__ = (tenant_fk("requested_by_id", "users"), tenant_fk("unit_id", "org_units"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what to produce, e.g. ``unit_tree_xlsx``
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    #: the scope unit of the output (a subtree)
    unit_id: Mapped[int | None] = mapped_column()
    requested_by_id: Mapped[int] = mapped_column(nullable=False)
    #: dotted job name enqueued (the web never imports worker/)
    job_name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    job_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="queued", nullable=False)
    #: 0..100
    progress: Mapped[int] = mapped_column(default=0, nullable=False)
    #: path relative to the storage root; set only once the file is complete
    file_path: Mapped[str | None] = mapped_column(sa.String(255))
    file_name: Mapped[str | None] = mapped_column(sa.String(200))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: audit-chain head (seq:hash) when the file was produced
    chain_head: Mapped[str | None] = mapped_column(sa.String(90))
    error: Mapped[str | None] = mapped_column(sa.Text)
    #: what the job needs besides the unit, e.g. ``{"directive_id": 7}`` (ids only, JSON)
    params: Mapped[dict | None] = mapped_column(sa.JSON)
    attempts: Mapped[int] = mapped_column(default=0, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    @property
    def status_label(self) -> str:
        return RUN_STATUSES.get(self.status, self.status)
