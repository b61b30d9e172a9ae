"""随手拍: QR codes on school posters, the reports the public sends through them, their photos.

Why three versioned tables and one that is not: codes, reports and photos are part of the record
(who turned a report into which hazard, why one was refused), so they are versioned on the
tenant's audit chain like every other ledger row. The reporter's phone number is personal data
that must be *erased* a set time after closure (PIPL); a versioned column would keep every old
value in its version table for ever, so the number lives, encrypted, in
:class:`ReportContact`, outside the chain, and erasure deletes that row.

Public pages reach these rows only by random tokens (``ReportCode.token``, ``PublicReport.receipt``),
never by id.
"""
from __future__ import annotations

from datetime import datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hazardhub.audit import VERSIONED
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected, Ref

#: the lifecycle of a report: (from, to, action, who) — who acts is decided by hazardhub.policy
STATUSES = {
    "new": "已受理",
    "registered": "已登记为隐患",
    "rejected": "不予受理",
}
TRANSITIONS = (
    ("new", "registered", "publicreport.triage", "the school's principal or safety officer"),
    ("new", "rejected", "publicreport.triage", "the school's principal or safety officer"),
)
#: what a reporter may pick as "what" (a short list; the school decides the ledger category)
KINDS = ("消防安全", "食品安全", "校舍设施", "交通安全", "校园周边", "用电用气", "其他")
#: the ledger category the triage form proposes for each kind (hazards.models.CATEGORIES)
KIND_CATEGORY = {"消防安全": "校园消防", "食品安全": "食品安全", "校舍设施": "校舍安全", "交通安全": "校车校园交通",
                 "校园周边": "周边环境", "用电用气": "水电气热运行", "其他": "其他"}
#: places a school usually names on its posters (the school may type any other)
SUGGESTED_PLACES = ("校门口", "食堂", "宿舍楼", "教学楼", "操场", "校园周边")


class ReportCode(TenantScoped, TimestampMixin, Base):
    """One QR code on one poster: the school, optionally a place in it, and a random token."""

    __tablename__ = "public_report_codes"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "school_id"))
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("school_id", "org_units"),
        tenant_fk("created_by_id", "users"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: 校门口, 食堂…; empty: the school as a whole
    place: Mapped[str | None] = mapped_column(sa.String(40))
    #: what the QR code carries (``secrets.token_urlsafe``); never an id
    token: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column()

    @property
    def unit_id(self) -> int:
        """The unit the code hangs on (policy's subtree checks)."""
        return self.school_id


class PublicReport(TenantScoped, TimestampMixin, Base):
    """A report sent through a code, from 已受理 to 已登记为隐患 or 不予受理."""

    __tablename__ = "public_reports"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "school_id"))
    __versioned__ = VERSIONED
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("school_id", "org_units"),
        tenant_fk("code_id", "public_report_codes"),
        tenant_fk("hazard_id", "hazards"),
        tenant_fk("triaged_by_id", "users"),
        sa.Index("ix_public_reports_tenant_status", "tenant_id", "status"),
        sa.CheckConstraint("status IN ('new','registered','rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: what the reporter keeps to follow the report (random, unique everywhere); never an id
    receipt: Mapped[str] = mapped_column(sa.String(16), unique=True, nullable=False)
    school_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: materialised path of the school (township/bureau counts filter on it without a join)
    school_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    code_id: Mapped[int] = mapped_column(index=True, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    place: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: SHA-256 of the normalised description (near-duplicate detection at the same school)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), index=True, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(12), default="new", nullable=False)
    hazard_id: Mapped[int | None] = mapped_column(index=True)
    close_reason: Mapped[str | None] = mapped_column(sa.String(200))
    #: may the reporter see the after-photos once the hazard is 销号 (the school decides at triage)
    show_after_photos: Mapped[bool] = mapped_column(default=False, nullable=False)
    triaged_at: Mapped[datetime | None] = mapped_column()
    triaged_by_id: Mapped[int | None] = mapped_column()
    #: untouched for two working days: the township was told (daily pass)
    escalated_at: Mapped[datetime | None] = mapped_column()

    @property
    def unit_id(self) -> int:
        return self.school_id

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]


class ReportPhoto(TenantScoped, TimestampMixin, Base):
    """A photo of a report: sniffed, re-encoded, EXIF and location removed (evidence storage)."""

    __tablename__ = "public_report_photos"
    __versioned__ = VERSIONED
    __table_args__ = (tenant_fk("report_id", "public_reports"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(index=True, nullable=False)
    content_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True, nullable=False)
    thumb_name: Mapped[str | None] = mapped_column(sa.String(80))
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True, nullable=False)
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()


class ReportContact(TenantScoped, Base):
    """The reporter's phone number for feedback: Fernet ciphertext and a masked hint; not versioned
    so that erasure (a DELETE by the daily pass) leaves nothing behind."""

    __tablename__ = "public_report_contacts"
    __table_args__ = (tenant_fk("report_id", "public_reports"),)

    report_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    phone_cipher: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: 138****5678, what staff see
    phone_hint: Mapped[str] = mapped_column(sa.String(20), nullable=False)
