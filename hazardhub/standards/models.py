"""The standards catalogue: standards → rule groups (one article's paragraph) → items.

Reference data, not ledger data: a city tenant owns the catalogue its districts use (the shipped
national standards are loaded into every city tenant by ``tenants apply``); a district may own a
local overlay. So these tables carry ``tenant_id`` as the *owner* but are not ``TenantScoped``:
``hazardhub.standards.operations.visible_tenant_ids`` is the one place that decides who reads
which rows (own tenant and parent city). Writes still land in exactly one tenant's audit chain
(the seal refuses version rows of another tenant), and every edit is versioned, so a hazard's
cited text can always be traced to the catalogue version it quoted.
"""
from __future__ import annotations

from datetime import date

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.db import Base, TimestampMixin

#: the guide's eight domains (第二条) plus the seed campaign's areas; used as hazard categories too
DOMAINS = ["校园消防", "校舍安全", "食品安全", "实验实训", "校车校园交通", "预防拥挤踩踏", "特种设备使用", "水电气热运行"]
SEED_AREAS = ["校门口", "设备设施", "校内施工", "周边环境"]

GROUP_KINDS = {
    "direct": "直接判定（任一项即为重大隐患）",
    "composite": "综合判定（同一学校同一时段达到阈值项数为重大隐患）",
    "pending": "待补充（判定方式未核实）",
    "reference": "引用依据（不自动判定）",
}
SOURCE_STATUSES = {"confirmed": "已核实", "partial": "部分核实", "missing": "待补充", "local": "本地补充"}


class Standard(TimestampMixin, Base):
    """A standard document (national guide, ten fire rules, a city's or district's overlay)."""

    __tablename__ = "standards"
    __versioned__ = VERSIONED
    __table_args__ = (sa.UniqueConstraint("tenant_id", "code"), sa.UniqueConstraint("tenant_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    #: owner tenant (a city for shipped standards; a city or district for overlays)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), index=True, nullable=False)
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    doc_number: Mapped[str | None] = mapped_column(sa.String(60))
    issuer: Mapped[str | None] = mapped_column(sa.String(100))
    issued_on: Mapped[date | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(sa.Text)
    #: shipped with the product (re-loaded idempotently) or written locally
    is_local: Mapped[bool] = mapped_column(default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    groups: Mapped[list["RuleGroup"]] = relationship(
        primaryjoin="Standard.id == RuleGroup.standard_id", foreign_keys="RuleGroup.standard_id",
        order_by="RuleGroup.sort", viewonly=True,
    )


class RuleGroup(TimestampMixin, Base):
    """One paragraph of an article with its determination rule (direct, composite N, …)."""

    __tablename__ = "rule_groups"
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("standard_id", "code"),
        sa.ForeignKeyConstraint(["tenant_id", "standard_id"], ["standards.tenant_id", "standards.id"]),
        sa.CheckConstraint("kind IN ('direct','composite','pending','reference')", name="kind"),
        sa.CheckConstraint("threshold IS NULL OR threshold >= 1", name="threshold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), index=True, nullable=False)
    standard_id: Mapped[int] = mapped_column(index=True, nullable=False)
    code: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    article_no: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    article_title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    #: one of DOMAINS (or 其他)
    domain: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    label: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    #: composite only: items of this group at one school within ``window_days`` that make it major;
    #: unknown thresholds stay NULL (counted, never decided) until an administrator sets them
    threshold: Mapped[int | None] = mapped_column()
    window_days: Mapped[int] = mapped_column(default=30, nullable=False)
    note: Mapped[str | None] = mapped_column(sa.Text)
    source_status: Mapped[str] = mapped_column(sa.String(12), default="confirmed", nullable=False)
    sort: Mapped[int] = mapped_column(default=0, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    items: Mapped[list["StandardItem"]] = relationship(
        primaryjoin="RuleGroup.id == StandardItem.group_id", foreign_keys="StandardItem.group_id",
        order_by="StandardItem.sort", viewonly=True,
    )

    @property
    def kind_label(self) -> str:
        return GROUP_KINDS.get(self.kind, self.kind)


class StandardItem(TimestampMixin, Base):
    """One numbered item (e.g. 3.1.6) that a hazard can cite."""

    __tablename__ = "standard_items"
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        sa.UniqueConstraint("group_id", "number"),
        sa.ForeignKeyConstraint(["tenant_id", "group_id"], ["rule_groups.tenant_id", "rule_groups.id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), index=True, nullable=False)
    group_id: Mapped[int] = mapped_column(index=True, nullable=False)
    number: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: comma-separated scope tags: 宿舍, 幼儿园, 实验室, 人员密集场所 …
    tags: Mapped[str] = mapped_column(sa.String(200), default="", nullable=False)
    source_status: Mapped[str] = mapped_column(sa.String(12), default="confirmed", nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    sort: Mapped[int] = mapped_column(default=0, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    group: Mapped[RuleGroup] = relationship(
        primaryjoin="StandardItem.group_id == RuleGroup.id", foreign_keys=[group_id], viewonly=True, lazy="joined",
    )

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]


ITEM_LABELS = {"number": "条目编号", "text": "条文", "tags": "适用范围", "source_status": "核实状态",
               "is_active": "启用", "sort": "排序"}
GROUP_LABELS = {"article_no": "条号", "label": "款项", "kind": "判定方式", "threshold": "综合判定阈值", "window_days": "统计时段（天）",
                "note": "说明", "source_status": "核实状态", "article_title": "条文标题", "domain": "领域"}


#: what the catalogue's history shows (hazardhub/auditlog/timeline.py)
Standard.__history__ = HistorySpec(name=lambda s: s.title)
RuleGroup.__history__ = HistorySpec(
    labels=GROUP_LABELS, choices={"kind": GROUP_KINDS, "source_status": SOURCE_STATUSES},
    hidden=("sort", "code", "standard_id"), name=lambda g: f"{g.article_no} {g.label}",
)
StandardItem.__history__ = HistorySpec(
    labels=ITEM_LABELS, choices={"source_status": SOURCE_STATUSES}, hidden=("group_id",), name=lambda i: i.number,
)
