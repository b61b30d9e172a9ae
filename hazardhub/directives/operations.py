"""Every state change of a directive, each one audited transaction (view → here → models).

Views parse the form and authorise with ``policy``; these functions enforce the lifecycle
(issued → acknowledged → responded → accepted, or returned and responded again; extensions
approved by the issuer), write ORM objects and commit. A broken rule raises
:class:`DirectiveError` with a Chinese message and writes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hazardhub.audit import tx_meta
from hazardhub.channels import events as channel_events
from hazardhub.clock import today, utcnow
from hazardhub.directives.models import (
    DOC_TITLES, LIFECYCLE, OPEN_STATUSES, RUNNING_STATUSES, Directive, DirectiveCounter, DirectiveHazard,
    DirectivePhoto, open_directives_of,
)
from hazardhub.errors import DomainError
from hazardhub.evidence import storage
from hazardhub.extensions import commit_or_raise
from hazardhub.extensions import db
from hazardhub.hazards.models import (
    LIFECYCLE as HAZARD_LIFECYCLE, OPEN_STATUSES as HAZARD_OPEN, Hazard, HazardCitation,
)
from hazardhub.orgs.models import OrgUnit, Tenant
from hazardhub.workdays import add_working_days
from hazardhub.policy import memberships_allowed

MAX_PHOTOS = 9
MAX_WORKING_DAYS = 120


class DirectiveError(DomainError):
    """A directive rule was broken; the message is shown to the user (Chinese)."""


# ---------------------------------------------------------------------------------------------
# who issues what to whom


def issuer_units(user) -> list[OrgUnit]:
    """Units the user issues directives from: a township supervisor's township central school,
    the bureau for its admins and leaders (city roles issue nothing)."""
    units = {}
    for m in memberships_allowed(user, "directive.issue_from"):
        if m.tenant_id == user.tenant_id and m.unit.is_active:
            units[m.unit.id] = m.unit
    return sorted(units.values(), key=lambda u: u.path)


def schools_for(issuer: OrgUnit) -> list[OrgUnit]:
    """Active schools (and affiliated schools) below the issuing unit."""
    return list(db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == issuer.tenant_id,
                                 OrgUnit.path.startswith(issuer.path, autoescape=True),
                                 OrgUnit.id != issuer.id, OrgUnit.is_active.is_(True),
                                 OrgUnit.kind.in_(("school", "affiliated_school")))
        .order_by(OrgUnit.path)
    ).scalars())


def open_hazards(school: OrgUnit) -> list[Hazard]:
    """The school's hazards that a directive may list (not closed, not voided)."""
    return list(db.session.execute(
        sa.select(Hazard).where(Hazard.school_id == school.id, Hazard.status.in_(HAZARD_OPEN))
        .order_by(Hazard.level.desc(), Hazard.found_on, Hazard.id)
    ).scalars())


_UNIT_SUFFIXES = ("中心学校", "中心校", "教育体育局", "教育局", "教体局")


def doc_prefix(unit: OrgUnit) -> str:
    """机关代字 of an issuing unit.

    The bureau uses its tenant's configured 代字 (``tenants/<slug>/tenant.toml`` ``doc_prefix``,
    e.g. 建教安) + 整 (整改): 建教安整. A township central school has no configured 代字; it is made
    from the place name: 将官池镇中心学校 → 将官池镇中校整.
    """
    tenant = db.session.execute(sa.select(Tenant).where(Tenant.id == unit.tenant_id)).scalar_one()
    if unit.kind == "bureau":
        base = (tenant.doc_prefix or "").strip() or f"{tenant.short_name}教安"
        return f"{base}整"[:30]
    name = re.sub(r"[（(].*?[)）]", "", unit.name).strip()
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name[:8]}中校整"


def format_number(prefix: str, year: int, seq: int) -> str:
    """``建教安整〔2026〕3号`` (六角括号, no 第, no leading zeros: GB/T 9704)."""
    return f"{prefix}〔{year}〕{seq}号"


def _next_number(issuer: OrgUnit, year: int) -> tuple[str, int, str]:
    """Take the issuer's next number for ``year``; the counter row lock serialises concurrent issuers."""
    stmt = sa.select(DirectiveCounter).where(
        DirectiveCounter.tenant_id == issuer.tenant_id, DirectiveCounter.unit_id == issuer.id,
        DirectiveCounter.year == year).with_for_update()
    counter = db.session.execute(stmt).scalar_one_or_none()
    if counter is None:
        try:
            with db.session.begin_nested():
                counter = DirectiveCounter(tenant_id=issuer.tenant_id, unit_id=issuer.id, year=year,
                                           prefix=doc_prefix(issuer), last=0)
                db.session.add(counter)
        except IntegrityError:
            counter = db.session.execute(stmt.execution_options(populate_existing=True)).scalar_one()
    counter.last += 1
    return counter.prefix, counter.last, format_number(counter.prefix, year, counter.last)


def _clauses(hazard: Hazard) -> str:
    rows = db.session.execute(
        sa.select(HazardCitation).where(HazardCitation.hazard_id == hazard.id, HazardCitation.is_active.is_(True))
        .order_by(HazardCitation.id)
    ).scalars()
    return "\n".join(f"{c.item_number} {c.item_text}（{c.standard_title}）" for c in rows)


def _clean(text: str | None, what: str, limit: int) -> str:
    value = (text or "").strip()
    if not value:
        raise DirectiveError(f"请填写{what}。")
    if len(value) > limit:
        raise DirectiveError(f"{what}不能超过 {limit} 字。")
    return value


def issue(*, issuer: OrgUnit, school: OrgUnit, actor, hazard_ids: Iterable[int], requirements: str,
          signer_name: str, deadline: date | None = None, working_days: int | None = None,
          doc_title: str = DOC_TITLES[0], issued_on: date | None = None) -> Directive:
    """Issue a directive from ``issuer`` to ``school`` for some of the school's open hazards.

    :param deadline: a date, or ``working_days`` after ``issued_on`` on the Chinese calendar
        (exactly one of the two).
    :raises DirectiveError: school not below the issuer, no or foreign hazards, bad deadline.
    """
    issued_on = issued_on or today()
    if not school.is_active or not school.is_school:
        raise DirectiveError("只能向学校（幼儿园）下达整改指令。")
    if not (school.tenant_id == issuer.tenant_id and school.path.startswith(issuer.path) and school.id != issuer.id):
        raise DirectiveError("该学校不在本单位的管辖范围内。")
    if doc_title not in DOC_TITLES:
        raise DirectiveError("文书名称无效。")
    requirements = _clean(requirements, "整改要求", 4000)
    signer_name = _clean(signer_name, "签发人", 40)
    ids = list(dict.fromkeys(int(i) for i in hazard_ids))
    if not ids:
        raise DirectiveError("请至少选择一项隐患。")
    hazards = {h.id: h for h in open_hazards(school)}
    missing = [i for i in ids if i not in hazards]
    if missing:
        raise DirectiveError("所选隐患不属于该学校或已销号、作废，请刷新页面后重新选择。")
    taken = open_directives_of(ids)
    if taken:
        raise DirectiveError("；".join(
            f"隐患 {hazards[i].number} 已在整改指令 {d.number} 中督办（{d.status_label}）" for i, d in taken.items())
            + "。同一隐患在指令办结前不能再次下达整改指令。")
    if (deadline is None) == (working_days is None):
        raise DirectiveError("请填写整改期限：选择日期，或填写工作日天数（二选一）。")
    if working_days is not None:
        if not 1 <= working_days <= MAX_WORKING_DAYS:
            raise DirectiveError(f"整改期限的工作日天数应为 1–{MAX_WORKING_DAYS}。")
        deadline = add_working_days(issued_on, working_days)
    if deadline <= issued_on:
        raise DirectiveError("整改期限应晚于签发日期。")
    prefix, seq, number = _next_number(issuer, issued_on.year)
    directive = Directive(
        tenant_id=issuer.tenant_id, number=number, prefix=prefix, year=issued_on.year, seq=seq,
        doc_title=doc_title, issuer_unit_id=issuer.id, issuer_name=issuer.name, school_id=school.id,
        school_name=school.name, school_path=school.path, requirements=requirements, issued_on=issued_on,
        deadline=deadline, deadline_working_days=working_days, issued_by_id=actor.id, signer_name=signer_name,
        status="issued",
    )
    db.session.add(directive)
    db.session.flush()
    for sort, hazard_id in enumerate(ids):
        hazard = hazards[hazard_id]
        db.session.add(DirectiveHazard(
            tenant_id=directive.tenant_id, directive_id=directive.id, hazard_id=hazard.id, sort=sort,
            hazard_number=hazard.number, description=hazard.description, location=hazard.location,
            level=hazard.level, clauses=_clauses(hazard) or None,
        ))
    tx_meta(reason=f"下达{doc_title} {number}（{school.name}，{len(ids)} 项隐患）")
    channel_events.directive_issued(directive)  # the school's principal and safety officer, at once
    commit()
    return directive


# ---------------------------------------------------------------------------------------------
# the school's side


def _check_version(directive: Directive, version_id: int | None) -> None:
    if version_id is not None and directive.version_id != version_id:
        raise DirectiveError("操作失败：您打开页面后，该整改指令已被他人处理。请刷新页面后查看最新状态。")


def acknowledge(directive: Directive, *, actor, signer_name: str, version_id: int | None = None) -> None:
    """签收: the school signs the receipt (回执) with the signer's name."""
    _check_version(directive, version_id)
    LIFECYCLE.check(directive, "acknowledge", DirectiveError)
    directive.acknowledged_by_name = _clean(signer_name, "签收人姓名", 40)
    directive.acknowledged_by_id = actor.id
    directive.acknowledged_at = utcnow()
    LIFECYCLE.move(directive, "acknowledge", DirectiveError)
    tx_meta(reason=f"签收整改指令 {directive.number}（签收人：{directive.acknowledged_by_name}）")
    commit()


def respond(directive: Directive, *, actor, note: str, photos: list, version_id: int | None = None,
            plans: dict[int, dict[str, Any]] | None = None) -> list[DirectivePhoto]:
    """Report the rectification done, with after-photos (at least one).

    The report IS the rectification report of every hazard the directive lists: each open one goes
    to 待验收 in the same transaction (a major hazard needs its five-item plan; ``plans`` maps a
    hazard id to the plan fields the school filled in on the directive page). Photos are sniffed,
    checked and stripped of EXIF by ``evidence.storage``; they are written before the commit and
    removed again if anything fails, so nothing is left half-done.
    """
    _check_version(directive, version_id)
    LIFECYCLE.check(directive, "respond", DirectiveError)
    note = _clean(note, "整改情况", 4000)
    photos = [p for p in photos if p is not None and (getattr(p, "filename", "") or "").strip()]
    if not photos:
        raise DirectiveError("请上传至少一张整改后照片。")
    if len(photos) > MAX_PHOTOS:
        raise DirectiveError(f"一次最多上传 {MAX_PHOTOS} 张照片。")
    stored = []
    try:
        for upload in photos:
            stored.append((storage.clean_original_name(upload.filename),
                           storage.store(directive.tenant_id, upload.stream, allow_pdf=False)))
        directive.response_round += 1
        rows = []
        for original_name, s in stored:
            row = DirectivePhoto(
                tenant_id=directive.tenant_id, directive_id=directive.id, round=directive.response_round,
                content_type=s.content_type, original_name=original_name, stored_name=s.stored_name,
                thumb_name=s.thumb_name, size=s.size, sha256=s.sha256, width=s.width, height=s.height,
                uploaded_by_id=actor.id)
            db.session.add(row)
            rows.append(row)
        directive.response_note = note
        directive.responded_at = utcnow()
        directive.responded_by_id = actor.id
        LIFECYCLE.move(directive, "respond", DirectiveError)
        _report_hazards(directive, actor=actor, note=note, plans=plans or {})
        tx_meta(reason=f"报告整改情况（第 {directive.response_round} 次，照片 {len(rows)} 张）")
        commit()
    except BaseException:
        db.session.rollback()
        for _name, s in stored:
            storage.remove(s)
        raise
    return rows


def request_extension(directive: Directive, *, actor, until: date | None, reason: str,
                      version_id: int | None = None) -> None:
    """The school asks for a later deadline; the issuer decides."""
    _check_version(directive, version_id)
    if directive.status not in RUNNING_STATUSES:
        raise DirectiveError("只有整改期间（未报告整改或被退回后）可以申请延期。")
    if directive.extension_status == "pending":
        raise DirectiveError("已有待审批的延期申请。")
    if until is None or until <= directive.deadline:
        raise DirectiveError("申请延期至的日期应晚于当前整改期限。")
    if (until - directive.deadline).days > 366:
        raise DirectiveError("延期不能超过一年。")
    directive.extension_reason = _clean(reason, "延期理由", 2000)
    directive.extension_until = until
    directive.extension_status = "pending"
    directive.extension_requested_by_id = actor.id
    directive.extension_decided_by_id = None
    directive.extension_decision_note = None
    tx_meta(reason=f"申请延期至 {until.isoformat()}：{directive.extension_reason}")
    commit()


# ---------------------------------------------------------------------------------------------
# the issuer's side


def decide_extension(directive: Directive, *, actor, approve: bool, note: str, version_id: int | None = None) -> None:
    """Approve (the deadline moves, the overdue mark is lifted) or refuse an extension."""
    _check_version(directive, version_id)
    if directive.extension_status != "pending":
        raise DirectiveError("没有待审批的延期申请。")
    note = _clean(note, "审批意见", 2000)
    directive.extension_decided_by_id = actor.id
    directive.extension_decision_note = note
    if approve:
        old = directive.deadline
        directive.extension_status = "approved"
        directive.deadline = directive.extension_until
        directive.deadline_working_days = None
        if not directive.overdue_on(today()):
            directive.is_overdue = False
        tx_meta(reason=f"批准延期：整改期限 {old.isoformat()} → {directive.deadline.isoformat()}；{note}")
    else:
        directive.extension_status = "refused"
        tx_meta(reason=f"不同意延期：{note}")
    commit()


def accept(directive: Directive, *, actor, note: str, accepted_on: date | None = None,
           version_id: int | None = None) -> None:
    """验收合格. The person who reported the rectification never accepts it."""
    _check_version(directive, version_id)
    LIFECYCLE.check(directive, "accept", DirectiveError)
    if directive.responded_by_id == actor.id:
        raise DirectiveError("报告整改的人不能验收自己的整改。")
    accepted_on = accepted_on or today()
    if accepted_on > today():
        raise DirectiveError("验收日期不能晚于今天。")
    directive.verification_note = _clean(note, "验收意见", 2000)
    directive.verified_by_id = actor.id
    directive.verified_at = utcnow()
    directive.accepted_on = accepted_on
    LIFECYCLE.move(directive, "accept", DirectiveError)
    directive.is_overdue = False
    close_listed_hazards(directive, acceptor_id=actor.id)
    if directive.extension_status == "pending":
        directive.extension_status = "refused"
        directive.extension_decision_note = "整改已验收，延期申请自动失效。"
        directive.extension_decided_by_id = actor.id
    tx_meta(reason=f"验收合格：{directive.verification_note}")
    commit()


def return_(directive: Directive, *, actor, comments: str, version_id: int | None = None) -> None:
    """验收不通过: back to the school with comments; it rectifies and reports again."""
    _check_version(directive, version_id)
    LIFECYCLE.check(directive, "return", DirectiveError)
    if directive.responded_by_id == actor.id:
        raise DirectiveError("报告整改的人不能验收自己的整改。")
    directive.verification_note = _clean(comments, "退回意见", 2000)
    directive.verified_by_id = actor.id
    directive.verified_at = utcnow()
    directive.return_count += 1
    LIFECYCLE.move(directive, "return", DirectiveError)
    for hazard in listed_hazards(directive):
        if HAZARD_LIFECYCLE.allows(hazard, "reject"):
            HAZARD_LIFECYCLE.move(hazard, "reject", DirectiveError)
            hazard.reject_reason = f"整改指令 {directive.number} 验收不通过：{directive.verification_note}"
    if directive.is_overdue and not directive.overdue_on(today()):
        directive.is_overdue = False  # returned within the deadline: the sweep marks it again if missed
    tx_meta(reason=f"退回整改（第 {directive.return_count} 次）：{directive.verification_note}")
    commit()


# ---------------------------------------------------------------------------------------------
# one rectification: the directive's steps are its hazards' steps


#: the five-item plan (五落实) fields the school may complete when it reports on a directive
PLAN_FIELDS = ("responsible_person", "responsible_dept", "measures", "funds", "deadline",
               "interim_controls", "contingency_plan")


def listed_hazards(directive: Directive) -> list[Hazard]:
    """The live hazards the directive lists, in the directive's order."""
    ids = [i.hazard_id for i in directive.items]
    if not ids:
        return []
    rows = {h.id: h for h in db.session.execute(sa.select(Hazard).where(Hazard.id.in_(ids))).scalars()}
    return [rows[i] for i in ids if i in rows]


def plan_defaults(directive: Directive, hazard: Hazard) -> dict[str, Any]:
    """The plan fields as the response form offers them: the hazard's own, else the directive's
    requirements as the measures and its deadline as the time limit."""
    values = {key: getattr(hazard, key) for key in PLAN_FIELDS}
    values["measures"] = values["measures"] or directive.requirements
    values["deadline"] = values["deadline"] or directive.deadline
    return values


def _report_hazards(directive: Directive, *, actor, note: str, plans: dict[int, dict[str, Any]]) -> None:
    """Each open listed hazard is reported rectified (待验收) with the directive's report."""
    from decimal import Decimal

    for hazard in listed_hazards(directive):
        if not HAZARD_LIFECYCLE.allows(hazard, "report"):
            continue  # already awaiting acceptance, closed or voided
        for key, value in (plans.get(hazard.id) or {}).items():
            if key in PLAN_FIELDS:
                if isinstance(value, str):
                    value = value.strip() or None
                if value is not None:
                    setattr(hazard, key, value)
        if hazard.funds is not None and hazard.funds < Decimal(0):
            raise DirectiveError(f"隐患 {hazard.number}：整改资金不能为负数。")
        if hazard.deadline is not None and hazard.deadline < hazard.found_on:
            raise DirectiveError(f"隐患 {hazard.number}：整改期限不能早于排查日期。")
        if hazard.level == "major":
            missing = hazard.plan_missing()
            if missing:
                raise DirectiveError(f"重大事故隐患 {hazard.number} 必须落实“五落实”，尚缺：" + "、".join(missing) + "。")
        if hazard.deadline_working_days and hazard.deadline != add_working_days(hazard.found_on,
                                                                              hazard.deadline_working_days):
            hazard.deadline_working_days = None  # the date given now is the deadline
        HAZARD_LIFECYCLE.move(hazard, "report", DirectiveError)
        hazard.rectified_on = today()
        hazard.rectification_note = f"按整改指令 {directive.number} 整改（第 {directive.response_round} 次报告）：{note}"
        hazard.rectified_by_id = actor.id


def close_listed_hazards(directive: Directive, *, acceptor_id: int | None) -> int:
    """销号 every open hazard of an accepted directive, the acceptance as its verification.

    Used by :func:`accept` and by :func:`reconcile_accepted` (directives accepted before this rule
    existed). Idempotent: closed and voided hazards are left as they are. Returns how many closed.
    """
    accepted_on = directive.accepted_on or today()
    closed = 0
    for hazard in listed_hazards(directive):
        if not HAZARD_LIFECYCLE.allows(hazard, "close_by_directive"):
            continue
        if hazard.status != "awaiting_acceptance" or hazard.rectified_on is None:
            hazard.rectified_on = min(accepted_on, directive.responded_at.date() if directive.responded_at else accepted_on)
            hazard.rectified_on = max(hazard.rectified_on, hazard.found_on)
            hazard.rectified_by_id = hazard.rectified_by_id or directive.responded_by_id
            hazard.rectification_note = hazard.rectification_note or \
                f"按整改指令 {directive.number} 整改：{directive.response_note or ''}"
        HAZARD_LIFECYCLE.move(hazard, "close_by_directive", DirectiveError)
        hazard.accepted_by_id = acceptor_id
        hazard.accepted_on = max(accepted_on, hazard.rectified_on)
        hazard.acceptance_note = f"整改指令 {directive.number} 验收合格：{directive.verification_note or ''}"
        hazard.closed_on = hazard.accepted_on
        hazard.reject_reason = None
        hazard.is_listed = False
        closed += 1
    return closed


def reconcile_accepted(tenant_id: int) -> int:
    """Close the still-open hazards of directives accepted before acceptance closed them.

    Run by the daily pass (and so by ``flask --app wsgi jobs daily``): one audited transaction per
    directive, acceptor = the directive's verifier; a second run finds nothing to do.
    """
    rows = db.session.execute(
        sa.select(Directive).join(DirectiveHazard, DirectiveHazard.directive_id == Directive.id)
        .join(Hazard, Hazard.id == DirectiveHazard.hazard_id)
        .where(Directive.tenant_id == tenant_id, Directive.status == "accepted", Hazard.status.in_(HAZARD_OPEN))
        .order_by(Directive.id)
    ).unique().scalars().all()
    done = 0
    for directive in rows:
        if close_listed_hazards(directive, acceptor_id=directive.verified_by_id):
            tx_meta(reason=f"整改指令 {directive.number} 已验收：所列隐患按验收结果销号（数据校正）")
            commit()
            done += 1
    return done


def commit() -> None:
    commit_or_raise(DirectiveError("操作失败：该整改指令已被他人修改，请刷新后重试。"),
                    DirectiveError("数据冲突，操作未生效，请刷新后重试。"))


# ---------------------------------------------------------------------------------------------
# lists


@dataclass
class DirectiveFilters:
    status: str | None = None
    overdue: bool = False
    q: str | None = None
    school_id: int | None = None


def directives_query(roots: list[OrgUnit], filters: DirectiveFilters, *, on: date | None = None) -> sa.Select:
    """Directives to schools under the user's roots, or issued by a unit there (scoped by the hooks)."""
    on = on or today()
    stmt = sa.select(Directive).where(sa.or_(*[
        (Directive.tenant_id == r.tenant_id) & Directive.school_path.startswith(r.path, autoescape=True)
        for r in roots
    ]))
    if filters.status == "open":
        stmt = stmt.where(Directive.status.in_(OPEN_STATUSES))
    elif filters.status:
        stmt = stmt.where(Directive.status == filters.status)
    if filters.overdue:
        stmt = stmt.where(Directive.status.in_(RUNNING_STATUSES), Directive.deadline < on)
    if filters.school_id:
        stmt = stmt.where(Directive.school_id == filters.school_id)
    if filters.q:
        stmt = stmt.where(sa.or_(Directive.number.contains(filters.q, autoescape=True),
                                 Directive.school_name.contains(filters.q, autoescape=True)))
    return stmt


def directives_for_hazard(hazard: Hazard) -> list[Directive]:
    return list(db.session.execute(
        sa.select(Directive).join(DirectiveHazard, DirectiveHazard.directive_id == Directive.id)
        .where(DirectiveHazard.hazard_id == hazard.id).order_by(Directive.issued_on.desc(), Directive.id.desc())
    ).scalars())


def photos_of(directive: Directive) -> list[DirectivePhoto]:
    return list(db.session.execute(
        sa.select(DirectivePhoto).where(DirectivePhoto.directive_id == directive.id)
        .order_by(DirectivePhoto.round, DirectivePhoto.id)
    ).scalars())


def pdf_data(directive: Directive) -> dict[str, Any]:
    """Exactly what the directive PDF shows (its content hash is taken of this)."""
    return {
        "doc_title": directive.doc_title,
        "number": directive.number,
        "issuer_name": directive.issuer_name,
        "school_name": directive.school_name,
        "issued_on": directive.issued_on,
        "deadline": directive.deadline,
        "deadline_working_days": directive.deadline_working_days,
        "signer_name": directive.signer_name,
        "requirements": directive.requirements,
        "hazards": [
            {"number": i.hazard_number, "description": i.description, "location": i.location,
             "level": i.level_label, "clauses": i.clauses or ""}
            for i in directive.items
        ],
        "acknowledged_by_name": directive.acknowledged_by_name,
        "acknowledged_on": directive.acknowledged_at.date() if directive.acknowledged_at else None,
    }
