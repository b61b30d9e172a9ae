"""Evidence files: photos and PDFs attached to a hazard (before, after, documents).

Files live under ``HAZARDHUB_STORAGE_PATH/evidence/<tenant>/`` with random names; the database
row says what the file is (sniffed, never trusted from the upload's name) and who may see it. A
wrong upload is withdrawn (``is_active`` False), never deleted: evidence is part of the record.
"""
from __future__ import annotations

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.changeindex import FigureUnits
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected, Ref

STAGES = {"before": "整改前照片", "after": "整改后照片", "document": "文件资料"}
KINDS = {"image": "照片", "pdf": "PDF 文件"}


class Attachment(TenantScoped, TimestampMixin, Base):
    __tablename__ = "attachments"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(view="evidence.view", owner=Ref("Hazard", "hazard_id"))
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(via=(("hazards", "hazard_id", "school_id"),))
    __table_args__ = (
        tenant_fk("hazard_id", "hazards"),
        tenant_fk("uploaded_by_id", "users"),
        sa.CheckConstraint("stage IN ('before','after','document')", name="stage"),
        sa.CheckConstraint("kind IN ('image','pdf')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: before / after / document
    stage: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    #: image or pdf, from the file's content
    kind: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    content_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    #: the name the uploader's device gave (shown, never used as a path)
    original_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    #: random file name under the storage path
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True, nullable=False)
    thumb_name: Mapped[str | None] = mapped_column(sa.String(80))
    size: Mapped[int] = mapped_column(nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    caption: Mapped[str | None] = mapped_column(sa.String(200))
    uploaded_by_id: Mapped[int] = mapped_column(nullable=False)
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)
    withdraw_reason: Mapped[str | None] = mapped_column(sa.String(200))


#: how a photo or file appears in its hazard's history (hazardhub/auditlog/timeline.py)
Attachment.__history__ = HistorySpec(
    labels={"stage": "证据类别", "is_active": "有效", "caption": "说明", "withdraw_reason": "撤回原因"},
    choices={"stage": STAGES, "kind": KINDS},
    hidden=("stored_name", "thumb_name", "sha256", "width", "height", "uploaded_by_id", "content_type", "size",
            "kind"),
    name=lambda a: f"{STAGES.get(a.stage, a.stage)} {a.original_name}",
    child_label="附件",
    brief=True,
)
