"""随手拍: codes, public reports and their triage, each step one audited transaction.

The public pages hold only tokens: :func:`find_code` and :func:`find_report` are the two
deliberate UNSCOPED lookups of this area (``all_tenants=True``, like the user loader): a code or a
receipt must be found before we know which tenant to bind. Everything after that runs with the
row's own tenant bound, through the same scoping floor, policy and audit chain as the rest.

Reporters are anonymous: the transaction's actor is empty and its meta names the channel (随手拍)
and the receipt. Their optional phone number is Fernet-encrypted (key from
``HAZARDHUB_PHONE_KEY``, else derived from ``SECRET_KEY``), stored outside the versioned tables
(see :mod:`hazardhub.publicreports.models`) and erased by the daily pass
``HAZARDHUB_PHONE_RETENTION_DAYS`` after the report is closed.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import statistics
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import BinaryIO, Iterable, Iterator

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from hazardhub import clock, secretbox
from hazardhub.audit import tx_meta
from hazardhub.evidence import storage
from hazardhub.evidence.models import Attachment
from hazardhub.evidence.storage import FileRefused, StoredFile
from hazardhub.extensions import db
from hazardhub.hazards import operations as hazard_ops
from hazardhub.hazards.models import Hazard
from hazardhub.notifications.operations import notify
from hazardhub.orgs.models import OrgUnit
from hazardhub.publicreports.models import KINDS, PublicReport, ReportCode, ReportContact, ReportPhoto
from hazardhub.roles import SCHOOL_ROLES
from hazardhub.workdays import add_working_days
from hazardhub.errors import DomainError

MAX_PHOTOS = 3
#: a report with the same text, or the same photo, at the same school within this many days is a duplicate
DUPLICATE_DAYS = 7
#: unambiguous letters and digits for receipts read aloud or typed from paper (no 0/O, 1/I/L)
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 12
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
RECEIPT_RE = re.compile(rf"^[{RECEIPT_ALPHABET}]{{{RECEIPT_LENGTH}}}$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
#: who at the school hears of a new report, and who hears of one left untouched
#: on the school's parent unit: its township supervisor, or, for a school directly under the bureau
#: (局属学校), the bureau's administrators
TOWNSHIP_ROLES = ("township_supervisor", "bureau_admin")
ESCALATE_AFTER_WORKING_DAYS = 2
STAFF_PATH = "/publicreports/{id}"


class PublicReportError(DomainError):
    """A rule of 随手拍 was broken; the message (Chinese) is shown to the person."""


class DuplicateReport(PublicReportError):
    """The same thing was already reported at this school (the receipt of the other is not shown)."""


# ---------------------------------------------------------------------------------------------
# tokens and the unscoped lookups


def new_token() -> str:
    return secrets.token_urlsafe(24)


def new_receipt() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def normalise_receipt(text: str | None) -> str:
    """What a person typed (spaces, dashes, lower case) → the stored form."""
    return re.sub(r"[\s\-]", "", text or "").upper()[:40]


def find_code(token: str) -> ReportCode | None:
    """The code a poster carries (UNSCOPED, by design: binds the tenant of the public page)."""
    if not TOKEN_RE.match(token or ""):
        return None
    return db.session.execute(
        sa.select(ReportCode).where(ReportCode.token == token).execution_options(all_tenants=True)
    ).scalar_one_or_none()


def find_report(receipt: str) -> PublicReport | None:
    """The report a receipt names (UNSCOPED, by design: binds the tenant of the status page)."""
    receipt = normalise_receipt(receipt)
    if not RECEIPT_RE.match(receipt):
        return None
    return db.session.execute(
        sa.select(PublicReport).where(PublicReport.receipt == receipt).execution_options(all_tenants=True)
    ).scalar_one_or_none()


# ---------------------------------------------------------------------------------------------
# codes


def _school(school_id: int) -> OrgUnit:
    return db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == school_id)).scalar_one()


def codes_of(school_id: int, *, include_retired: bool = False) -> list[ReportCode]:
    stmt = sa.select(ReportCode).where(ReportCode.school_id == school_id)
    if not include_retired:
        stmt = stmt.where(ReportCode.is_active.is_(True))
    return list(db.session.execute(stmt.order_by(ReportCode.is_active.desc(), ReportCode.id)).scalars())


def create_code(school: OrgUnit, actor_id: int | None, place: str | None) -> ReportCode:
    """A new code for the school (or a place in it); one active code per place."""
    place = (place or "").strip()[:40] or None
    if not school.is_active:
        raise PublicReportError("该单位已停用，不能生成二维码。")
    clash = db.session.execute(
        sa.select(ReportCode.id).where(ReportCode.school_id == school.id, ReportCode.is_active.is_(True),
                                       ReportCode.place.is_(None) if place is None else ReportCode.place == place)
    ).first()
    if clash is not None:
        raise PublicReportError(f"“{place or '全校'}”已有在用的二维码；如需换新，请先停用旧码。")
    code = ReportCode(tenant_id=school.tenant_id, school_id=school.id, place=place, token=new_token(),
                      is_active=True, created_by_id=actor_id)
    db.session.add(code)
    tx_meta(reason=f"生成随手拍二维码：{school.name}{'·' + place if place else ''}")
    db.session.commit()
    return code


def retire_code(code: ReportCode, *, reprint: bool) -> ReportCode | None:
    """Retire a code (a poster torn down, a token leaked); ``reprint``: issue its successor at once."""
    if not code.is_active:
        raise PublicReportError("该二维码已停用。")
    code.is_active = False
    code.retired_at = clock.utcnow()
    successor = None
    if reprint:
        successor = ReportCode(tenant_id=code.tenant_id, school_id=code.school_id, place=code.place,
                               token=new_token(), is_active=True, created_by_id=code.created_by_id)
        db.session.add(successor)
    tx_meta(reason=f"停用随手拍二维码{'并换新' if reprint else ''}：{code.place or '全校'}")
    db.session.commit()
    return successor


def ensure_codes(school: OrgUnit, places: Iterable[str | None], actor_id: int | None = None) -> list[ReportCode]:
    """The school's codes for ``places`` (``None``: the whole school), created when missing (demo)."""
    existing = {c.place: c for c in codes_of(school.id)}
    out = []
    for place in places:
        code = existing.get(place)
        if code is None:
            code = ReportCode(tenant_id=school.tenant_id, school_id=school.id, place=place, token=new_token(),
                              is_active=True, created_by_id=actor_id)
            db.session.add(code)
        out.append(code)
    return out


# ---------------------------------------------------------------------------------------------
# phone numbers


def _fernet() -> Fernet:
    return secretbox.fernet("HAZARDHUB_PHONE_KEY", b"hazardhub-phone-numbers")


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def clean_phone(text: str | None) -> str | None:
    phone = re.sub(r"[\s\-]", "", text or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not phone:
        return None
    if not PHONE_RE.match(phone):
        raise PublicReportError("手机号格式不正确（11 位手机号码）；不需要回访可以不填。")
    return phone


def reveal_phone(report: PublicReport) -> str | None:
    """The number in clear, for the school's call-back (None when none was left or it was erased)."""
    contact = db.session.get(ReportContact, report.id)
    if contact is None or contact.tenant_id != report.tenant_id:
        return None
    try:
        return _fernet().decrypt(contact.phone_cipher.encode()).decode()
    except InvalidToken:
        return None


def phone_hint(report: PublicReport) -> str | None:
    contact = db.session.get(ReportContact, report.id)
    return contact.phone_hint if contact is not None and contact.tenant_id == report.tenant_id else None


# ---------------------------------------------------------------------------------------------
# submitting


def fingerprint(text: str) -> str:
    """Near-duplicate key: the description without spaces, punctuation and case."""
    norm = "".join(ch for ch in unicodedata.normalize("NFKC", text).lower()
                   if unicodedata.category(ch)[0] in ("L", "N"))
    return hashlib.sha256(norm.encode()).hexdigest()


@dataclass
class Submission:
    kind: str
    place: str
    description: str
    phone: str | None
    photos: list[BinaryIO]


@contextmanager
def _files_kept_on_commit(files: list[StoredFile]) -> Iterator[list[StoredFile]]:
    """Files written for this transaction (appended inside the block) are removed again if it fails,
    so storage never holds a file no row points to."""
    try:
        yield files
    except BaseException:
        db.session.rollback()
        for f in files:
            storage.remove(f)
        raise


def _is_duplicate(school_id: int, fp: str, hashes: set[str]) -> bool:
    since = clock.utcnow() - timedelta(days=DUPLICATE_DAYS)
    recent = (PublicReport.school_id == school_id, PublicReport.created_at >= since,
              PublicReport.status != "rejected")
    if db.session.execute(sa.select(PublicReport.id).where(*recent, PublicReport.fingerprint == fp)).first():
        return True
    if hashes and db.session.execute(
        sa.select(ReportPhoto.id).join(PublicReport, PublicReport.id == ReportPhoto.report_id)
        .where(*recent, ReportPhoto.sha256.in_(sorted(hashes)))
    ).first():
        return True
    return False


def submit(code: ReportCode, sub: Submission) -> PublicReport:
    """Record a report sent through ``code`` (its tenant bound); notify the school; one commit.

    Raises :class:`PublicReportError` (nothing written) or :class:`FileRefused` for a photo.
    """
    if not code.is_active:
        raise PublicReportError("此二维码已停用，请扫描学校张贴的新二维码。")
    school = _school(code.school_id)
    if not school.is_active:
        raise PublicReportError("该学校已停用随手拍。")
    if sub.kind not in KINDS:
        raise PublicReportError("请选择要反映的问题类别。")
    description = (sub.description or "").strip()
    if len(description) < 5:
        raise PublicReportError("请用几句话说明看到了什么问题（至少 5 个字）。")
    if len(sub.photos) > MAX_PHOTOS:
        raise PublicReportError(f"最多上传 {MAX_PHOTOS} 张照片。")
    phone = clean_phone(sub.phone)
    with _files_kept_on_commit([]) as stored:
        for stream in sub.photos:
            stored.append(storage.store(code.tenant_id, stream, allow_pdf=False))
        fp = fingerprint(description)
        if _is_duplicate(school.id, fp, {s.sha256 for s in stored}):
            raise DuplicateReport("学校已收到内容相同的反映，正在处理中，无需重复提交。感谢您的关心！")
        report = PublicReport(
            tenant_id=code.tenant_id, receipt=new_receipt(), school_id=school.id, school_path=school.path,
            code_id=code.id, kind=sub.kind, place=(sub.place or code.place or "校园内").strip()[:60],
            description=description[:2000], fingerprint=fp, status="new", show_after_photos=False,
        )
        db.session.add(report)
        db.session.flush()
        for s in stored:
            db.session.add(ReportPhoto(tenant_id=code.tenant_id, report_id=report.id, content_type=s.content_type,
                                       stored_name=s.stored_name, thumb_name=s.thumb_name, size=s.size,
                                       sha256=s.sha256, width=s.width, height=s.height))
        if phone:
            db.session.add(ReportContact(tenant_id=code.tenant_id, report_id=report.id,
                                         phone_cipher=_fernet().encrypt(phone.encode()).decode(),
                                         phone_hint=mask_phone(phone)))
        notify(code.tenant_id, kind="public_report", key=f"public-report:{report.id}",
               text=f"随手拍新反映：{school.name}·{report.place}（{report.kind}），请尽快处理。",
               url=STAFF_PATH.format(id=report.id), level="warning", unit_id=school.id, roles=SCHOOL_ROLES)
        tx_meta(reason=f"随手拍：群众反映（回执 {report.receipt}）", channel="随手拍")
        db.session.commit()
    return report


# ---------------------------------------------------------------------------------------------
# triage


def photos_of(report_id: int) -> list[ReportPhoto]:
    return list(db.session.execute(
        sa.select(ReportPhoto).where(ReportPhoto.report_id == report_id).order_by(ReportPhoto.id)).scalars())


def _triaged(report: PublicReport, actor) -> None:
    report.triaged_at = clock.utcnow()
    report.triaged_by_id = actor.id


def _check_new(report: PublicReport) -> None:
    if report.status != "new":
        raise PublicReportError("该反映已处理，不能重复处理。")


def register_hazard(report: PublicReport, actor, *, category: str, level: str, location: str,
                    description: str, item_ids: list[int], show_after_photos: bool) -> Hazard:
    """Turn a report into a ledger hazard (source 群众举报), its photos carried over as 整改前照片,
    the determination applied from the cited items; one commit."""
    _check_new(report)
    school = _school(report.school_id)
    with _files_kept_on_commit([]) as copies:
        hazard = hazard_ops.build_registration(
            school=school, actor=actor, item_ids=item_ids, level=level, require_plan=False,
            data={"source": "report", "category": category, "location": location.strip()[:200],
                  "description": description.strip(), "found_on": clock.local(report.created_at).date(),
                  "found_by_name": f"群众举报（回执 {report.receipt}）"},
        )
        for photo in photos_of(report.id):
            path = storage.path_for(report.tenant_id, photo.stored_name)
            if path is None:
                continue
            with path.open("rb") as fh:
                copy = storage.store(report.tenant_id, fh, allow_pdf=False)
            copies.append(copy)
            db.session.add(Attachment(
                tenant_id=report.tenant_id, hazard_id=hazard.id, stage="before", kind=copy.kind,
                content_type=copy.content_type, original_name=f"随手拍照片-{report.receipt}{copy.stored_name[-4:]}",
                stored_name=copy.stored_name, thumb_name=copy.thumb_name, size=copy.size, sha256=copy.sha256,
                width=copy.width, height=copy.height, caption=f"群众举报照片（回执 {report.receipt}）",
                uploaded_by_id=actor.id, is_active=True))
        report.status = "registered"
        report.hazard_id = hazard.id
        report.show_after_photos = bool(show_after_photos)
        _triaged(report, actor)
        tx_meta(reason=f"随手拍反映（回执 {report.receipt}）登记为隐患 {hazard.number}")
        db.session.commit()
    return hazard


def reject(report: PublicReport, actor, reason: str) -> None:
    """不予受理 with a reason the reporter will read; one commit."""
    _check_new(report)
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise PublicReportError("请填写不予受理的原因（举报人会看到）。")
    report.status = "rejected"
    report.close_reason = reason[:200]
    _triaged(report, actor)
    tx_meta(reason=f"随手拍反映（回执 {report.receipt}）不予受理：{reason[:200]}")
    db.session.commit()


# ---------------------------------------------------------------------------------------------
# what the reporter sees


@dataclass
class PublicStatus:
    """Everything the status page shows, and nothing else (no names, no ids)."""

    receipt: str
    school_name: str
    place: str
    kind: str
    received_at: datetime
    stage: str  # received / registered / rectified / rejected
    label: str
    hazard_number: str | None
    reason: str | None
    after_photos: list[Attachment]


def public_status(report: PublicReport) -> PublicStatus:
    school = _school(report.school_id)
    hazard = db.session.execute(sa.select(Hazard).where(Hazard.id == report.hazard_id)).scalar_one_or_none() \
        if report.hazard_id else None
    stage, label, after = "received", "已受理", []
    if report.status == "rejected":
        stage, label = "rejected", "不予受理"
    elif hazard is not None:
        stage, label = "registered", "已登记为隐患"
        if hazard.status == "closed":
            stage, label = "rectified", "已整改"
            if report.show_after_photos:
                after = [a for a in db.session.execute(
                    sa.select(Attachment).where(Attachment.hazard_id == hazard.id, Attachment.stage == "after",
                                                Attachment.kind == "image", Attachment.is_active.is_(True))
                    .order_by(Attachment.id)).scalars()]
    return PublicStatus(receipt=report.receipt, school_name=school.name, place=report.place, kind=report.kind,
                        received_at=report.created_at, stage=stage, label=label,
                        hazard_number=hazard.number if hazard is not None else None,
                        reason=report.close_reason if report.status == "rejected" else None, after_photos=after)


# ---------------------------------------------------------------------------------------------
# the daily pass: escalation and erasure


def sweep_tenant(tenant_id: int, today: date) -> dict[str, int]:
    """Escalate reports untouched for two working days to the school's township; erase phone
    numbers of reports closed more than the retention period ago. The tenant must be bound;
    one commit when anything changed; idempotent."""
    counts = {"escalated": 0, "erased": 0}
    for report in db.session.execute(
        sa.select(PublicReport).where(PublicReport.status == "new", PublicReport.escalated_at.is_(None))
        .order_by(PublicReport.id)
    ).scalars().all():
        received = clock.local(report.created_at).date()
        if add_working_days(received, ESCALATE_AFTER_WORKING_DAYS) > today:
            continue
        school = _school(report.school_id)
        report.escalated_at = clock.utcnow()
        counts["escalated"] += 1
        if school.parent_id is not None:
            notify(tenant_id, kind="public_report", key=f"public-report-escalated:{report.id}",
                   text=f"随手拍反映超过 {ESCALATE_AFTER_WORKING_DAYS} 个工作日未处理：{school.name}·{report.place}，请督促学校处理。",
                   url=STAFF_PATH.format(id=report.id), level="danger", unit_id=school.parent_id,
                   roles=TOWNSHIP_ROLES)
    if counts["escalated"]:
        tx_meta(reason=f"随手拍反映超过 {ESCALATE_AFTER_WORKING_DAYS} 个工作日未处理，升级至乡镇（{counts['escalated']} 条）")
    retention = timedelta(days=int(current_app.config.get("HAZARDHUB_PHONE_RETENTION_DAYS", 30)))
    rows = db.session.execute(
        sa.select(ReportContact, PublicReport, Hazard)
        .join(PublicReport, PublicReport.id == ReportContact.report_id)
        .outerjoin(Hazard, Hazard.id == PublicReport.hazard_id)
    ).all()
    for contact, report, hazard in rows:
        closed_on = None
        if report.status == "rejected" and report.triaged_at is not None:
            closed_on = clock.local(report.triaged_at).date()
        elif hazard is not None and hazard.status in ("closed", "voided"):
            closed_on = hazard.closed_on or clock.local(hazard.updated_at).date()
        if closed_on is not None and closed_on + retention <= today:
            db.session.delete(contact)
            counts["erased"] += 1
    if counts["escalated"] or counts["erased"]:
        db.session.commit()
    return counts


# ---------------------------------------------------------------------------------------------
# counts for townships, the bureau and the city


@dataclass
class SchoolCount:
    school_id: int
    school_name: str
    total: int
    new: int
    escalated: int
    registered: int
    rejected: int
    median_hours: float | None


def triage_hours(created: datetime, triaged: datetime | None) -> float | None:
    return None if triaged is None else round((triaged - created).total_seconds() / 3600, 1)


def median_triage_hours(rows: Iterable[tuple[datetime, datetime | None]]) -> float | None:
    hours = [h for h in (triage_hours(c, t) for c, t in rows) if h is not None]
    return round(statistics.median(hours), 1) if hours else None


def per_school(root_paths: list[str]) -> list[SchoolCount]:
    """Per-school counts and median time to triage (hours) under the given unit paths."""
    if not root_paths:
        return []
    rows = db.session.execute(
        sa.select(PublicReport.school_id, PublicReport.status, PublicReport.escalated_at, PublicReport.created_at,
                  PublicReport.triaged_at)
        .where(sa.or_(*[PublicReport.school_path.startswith(p) for p in root_paths]))
    ).all()
    by_school: dict[int, list] = {}
    for r in rows:
        by_school.setdefault(r.school_id, []).append(r)
    names = dict(db.session.execute(
        sa.select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(list(by_school)))).all()) if by_school else {}
    out = []
    for school_id, rs in by_school.items():
        out.append(SchoolCount(
            school_id=school_id, school_name=names.get(school_id, "?"), total=len(rs),
            new=sum(r.status == "new" for r in rs), escalated=sum(r.status == "new" and r.escalated_at is not None for r in rs),
            registered=sum(r.status == "registered" for r in rs), rejected=sum(r.status == "rejected" for r in rs),
            median_hours=median_triage_hours((r.created_at, r.triaged_at) for r in rs)))
    return sorted(out, key=lambda c: (-c.new, c.school_name))


def district_figures(tenant_ids: list[int], start: date, end: date) -> dict[int, tuple[int, list[float]]]:
    """Per district: reports received from ``start`` to ``end`` (Beijing dates), and the days each
    triaged one took from receipt to triage (the city's comparison: 群众举报/百校, median days)."""
    if not tenant_ids:
        return {}
    rows = db.session.execute(
        sa.select(PublicReport.tenant_id, PublicReport.created_at, PublicReport.triaged_at)
        .where(PublicReport.tenant_id.in_(tenant_ids),
               PublicReport.created_at >= datetime.combine(start - timedelta(days=1), datetime.min.time()),
               PublicReport.created_at < datetime.combine(end + timedelta(days=2), datetime.min.time()))
    ).all()
    out: dict[int, tuple[int, list[float]]] = {}
    for tid, created, triaged in rows:
        if not start <= clock.local_date(created) <= end:
            continue
        count, days = out.get(tid, (0, []))
        hours = triage_hours(created, triaged)
        out[tid] = (count + 1, days + ([round(hours / 24, 2)] if hours is not None else []))
    return out


def reports_query(root_paths: list[str], status: str | None = None):
    stmt = sa.select(PublicReport).where(sa.or_(*[PublicReport.school_path.startswith(p) for p in root_paths])) \
        if root_paths else sa.select(PublicReport).where(sa.false())
    if status in ("new", "registered", "rejected"):
        stmt = stmt.where(PublicReport.status == status)
    if status == "escalated":
        stmt = stmt.where(PublicReport.status == "new", PublicReport.escalated_at.is_not(None))
    return stmt.order_by(PublicReport.status != "new", PublicReport.created_at.desc(), PublicReport.id.desc())


__all__ = ["FileRefused", "PublicReportError", "DuplicateReport", "Submission", "submit", "find_code", "find_report"]
