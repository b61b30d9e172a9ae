"""Adding and withdrawing evidence, each one audited transaction.

The file is written first (atomically, under a random name), then the row is committed; if the
commit fails the written files are removed, so storage never holds a file no row points to.
Withdrawing marks the row inactive with a reason: neither the row nor the file is ever deleted.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from hazardhub.accounts.models import User
from hazardhub.audit import tx_meta
from hazardhub.errors import DomainError
from hazardhub.evidence import storage
from hazardhub.evidence.models import STAGES, Attachment
from hazardhub.evidence.storage import FileRefused
from hazardhub.extensions import db
from hazardhub.hazards.models import Hazard

#: a hazard in these states is final: no evidence added or withdrawn
FINAL_STATUSES = ("closed", "voided")


class EvidenceError(DomainError):
    """A rule about evidence was broken; the message (Chinese) is shown to the user."""


__all__ = ["EvidenceError", "FileRefused", "add_attachment", "build_attachment", "withdraw", "attachments_for",
           "panel_context"]


def _check_open(hazard: Hazard) -> None:
    if hazard.status in FINAL_STATUSES:
        raise EvidenceError("已销号或已作废的隐患不能再上传或撤回附件。")


def add_attachment(hazard: Hazard, actor, file_storage: FileStorage | None, stage: str,
                   caption: str | None = None) -> Attachment:
    """Check, clean and store one upload for ``hazard`` and record it (one commit).

    Raises :class:`EvidenceError` or :class:`FileRefused` (both ``ValueError``) with a Chinese
    message; nothing is written in that case.
    """
    if stage not in STAGES:
        raise EvidenceError("请选择附件类别（整改前照片、整改后照片或文件资料）。")
    _check_open(hazard)
    if file_storage is None or not (file_storage.filename or "").strip():
        raise EvidenceError("请选择要上传的文件。")
    attachment, stored = build_attachment(hazard, actor, file_storage, stage, caption)
    try:
        tx_meta(reason=f"上传{STAGES[stage]}：{attachment.original_name}（隐患 {hazard.number}）")
        db.session.commit()
    except BaseException as exc:
        db.session.rollback()
        storage.remove(stored)
        if isinstance(exc, IntegrityError):
            raise EvidenceError("保存附件失败（数据冲突），请刷新后重试。") from exc
        raise
    return attachment


def build_attachment(hazard: Hazard, actor, file_storage: FileStorage, stage: str,
                     caption: str | None = None) -> tuple[Attachment, storage.StoredFile]:
    """Check, clean and store one upload and add its row to the session, without committing, so
    that a caller (registering a hazard with its photos) keeps everything in one transaction.

    The file is on disk once this returns: the caller removes it (``storage.remove``) if its
    commit fails. Raises :class:`FileRefused` (nothing written) for a bad file.
    """
    original_name = storage.clean_original_name(file_storage.filename)
    stored = storage.store(hazard.tenant_id, file_storage.stream, allow_pdf=stage == "document")
    attachment = Attachment(
        tenant_id=hazard.tenant_id, hazard_id=hazard.id, stage=stage, kind=stored.kind,
        content_type=stored.content_type, original_name=original_name,
        stored_name=stored.stored_name, thumb_name=stored.thumb_name, size=stored.size,
        sha256=stored.sha256, width=stored.width, height=stored.height,
        caption=(caption or "").strip()[:200] or None, uploaded_by_id=actor.id, is_active=True,
    )
    db.session.add(attachment)
    return attachment, stored


def withdraw(attachment: Attachment, actor, reason: str) -> None:
    """Mark an attachment withdrawn (``is_active`` False) with a reason; the file stays."""
    reason = (reason or "").strip()
    if not reason:
        raise EvidenceError("请填写撤回原因。")
    if not attachment.is_active:
        raise EvidenceError("该附件已撤回。")
    hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == attachment.hazard_id)).scalar_one()
    _check_open(hazard)
    attachment.is_active = False
    attachment.withdraw_reason = reason[:200]
    tx_meta(reason=f"撤回附件：{attachment.original_name}，原因：{reason[:200]}")
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise EvidenceError("撤回失败（数据冲突），请刷新后重试。") from exc


def attachments_for(hazard: Hazard, *, include_withdrawn: bool = True) -> list[Attachment]:
    """The hazard's attachments, oldest first (withdrawn ones too, unless told otherwise)."""
    stmt = sa.select(Attachment).where(Attachment.hazard_id == hazard.id)
    if not include_withdrawn:
        stmt = stmt.where(Attachment.is_active.is_(True))
    return list(db.session.execute(stmt.order_by(Attachment.created_at, Attachment.id)).scalars())


def panel_context(hazard: Hazard) -> dict[str, Any]:
    """Everything ``templates/evidence/_panel.html`` needs besides ``hazard``.

    ``render_template("hazards/show.html", hazard=hazard, **evidence_ops.panel_context(hazard))``
    """
    attachments = attachments_for(hazard)
    ids = {a.uploaded_by_id for a in attachments}
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all()) if ids else {}
    return {"attachments": attachments, "evidence_uploaders": names}
