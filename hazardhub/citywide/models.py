"""The city's outside witness of its districts' audit chains.

A district's chain proves its own integrity only against itself: whoever can rewrite the district's
rows by SQL can also recompute every link. So the parent city keeps copies of the chain heads its
districts' sign-offs and reports carried, and of the heads it saw at each verification. Both tables
belong to the *city* tenant (rows are written in city transactions, sealed on the city's own chain),
so a district cannot quietly change what the city saw.
"""
from __future__ import annotations

from datetime import datetime

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hazardhub.audit import VERSIONED
from hazardhub.changeindex import FigureUnits
from hazardhub.clock import utcnow
from hazardhub.db import Base, TenantScoped

#: where a witnessed head came from
SOURCE_KINDS = {
    "signoff": "校长签字",
    "report": "生成报告",
    "verification": "核验",
}


class WitnessedHead(TenantScoped, Base):
    """One district chain head seen by the city (``tenant_id`` is the city)."""

    __tablename__ = "witnessed_heads"
    __versioned__ = VERSIONED
    #: read only by the city's own figures, keyed by its head (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(no_unit=True)
    __table_args__ = (
        sa.Index("ix_witnessed_heads_district_seq", "district_tenant_id", "seq"),
        sa.CheckConstraint("source_kind IN ('signoff','report','verification')", name="source_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the district whose chain this head belongs to
    district_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), nullable=False)
    #: the link number (0 = the genesis head, nothing to compare)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    #: the link hash at that seq
    head_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    #: signoff, report or verification
    source_kind: Mapped[str] = mapped_column(sa.String(14), nullable=False)
    #: the sign-off or run id in the district (or the verification id in the city)
    source_id: Mapped[int | None] = mapped_column()
    #: when the city recorded it (naive UTC)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)

    @property
    def source_label(self) -> str:
        return SOURCE_KINDS.get(self.source_kind, self.source_kind)


class ChainVerification(TenantScoped, Base):
    """One verification of a district's chain, recorded by the city (``tenant_id`` is the city)."""

    __tablename__ = "chain_verifications"
    __versioned__ = VERSIONED
    #: read only by the city's own figures, keyed by its head (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(no_unit=True)
    __table_args__ = (sa.Index("ix_chain_verifications_district_at", "district_tenant_id", "verified_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), nullable=False)
    verified_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    #: the district's own chain recomputed without a problem *and* every witnessed head still matched
    is_ok: Mapped[bool] = mapped_column(nullable=False)
    #: links walked in the district's chain
    links: Mapped[int] = mapped_column(sa.BigInteger, default=0, nullable=False)
    #: witnessed heads compared
    heads_checked: Mapped[int] = mapped_column(default=0, nullable=False)
    #: first problems found, or a short "一致" note (Chinese)
    message: Mapped[str] = mapped_column(sa.Text, nullable=False)
    #: cli or web
    triggered_by: Mapped[str] = mapped_column(sa.String(10), default="cli", nullable=False)
