"""Deriving, keeping and handling accountability findings (追责线索).

The seed plan ends with "对存在重大隐患发现不了的单位、对拒不整改或整改不到位的单位…严肃追责".
:func:`derive` reads the records of one tenant and says which facts are findings; :func:`sync`
(run by the daily pass, and on demand by the safety section) stores the new ones. A finding is
never deleted: handling it means a versioned note, not removal.

The rules:

- **discovery gap** — a major hazard found by a township check, a bureau check or an unannounced
  visit, at a school whose own signed self-inspection of that month (or, when the school had not
  inspected yet that month, of the month before: the hazard could have been seen then) did not
  record it: none of its failed lines cites a clause the hazard cites (for a hazard without
  clauses: the self-inspection recorded no major hazard at all);
- **monthly checks** — a school's self-inspection of a finished month missing or signed late; a
  township central school that left schools of its township unchecked in a finished month;
- **deliverables** — a campaign deliverable not submitted by its due date, or submitted late;
- **rectification** — an open hazard past its deadline; a rectification returned at acceptance
  more than once; a rectification directive (整改指令) past its deadline, or whose rectification
  report the issuer returned more than once.

Months count from the tenant's first recorded inspection: before the routine began there was
nothing to miss. Every active school answers from then on (the unit register does not say since
when a school exists; a school opened later is handled with a note, which the list keeps).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy_continuum import version_class

from hazardhub.accountability.models import AccountabilityFinding
from hazardhub.audit import tx_meta
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableSpec
from hazardhub.clock import month_of, utcnow
from hazardhub.directives.models import Directive, RUNNING_STATUSES
from hazardhub.errors import DomainError
from hazardhub.extensions import commit_or_raise
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard, HazardCitation
from hazardhub.inspections.models import Inspection, InspectionItem, SignOff
from hazardhub.orgs.models import OrgUnit
from hazardhub.tenancy import tenant_bound

SUPERVISION_SOURCES = ("township", "bureau", "unannounced")


class AccountabilityError(DomainError):
    """A refused change, with a Chinese message for the user."""


@dataclass
class Candidate:
    key: str
    kind: str
    unit: OrgUnit
    period: str
    summary: str
    hazard_id: int | None = None
    inspection_id: int | None = None
    other_inspection_id: int | None = None
    deliverable_id: int | None = None
    directive_id: int | None = None


def _months(first: str, last: str) -> list[str]:
    year, mon = (int(p) for p in first.split("-"))
    out = []
    while f"{year:04d}-{mon:02d}" <= last:
        out.append(f"{year:04d}-{mon:02d}")
        mon += 1
        if mon == 13:
            year, mon = year + 1, 1
    return out


def _previous(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def derive(tenant_id: int, today: date) -> list[Candidate]:
    """Every finding the records of ``tenant_id`` support on ``today`` (bound scope required)."""
    units = {u.id: u for u in db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant_id)).unique().scalars()}
    result: list[Candidate] = []
    result += _discovery_gaps(units)
    result += _monthly_checks(tenant_id, units, today)
    result += _deliverables(tenant_id, units, today)
    result += _rectification(units, today)
    result += _directives(units, today)
    return result


def _signed_self_inspections() -> dict[tuple[int, str], Inspection]:
    """(school, month) -> the latest signed self-inspection (an amendment supersedes)."""
    rows = db.session.execute(
        sa.select(Inspection).where(Inspection.kind == "self", Inspection.status == "signed")
        .order_by(Inspection.id)).scalars()
    return {(i.unit_id, i.month): i for i in rows}


def _discovery_gaps(units: dict[int, OrgUnit]) -> list[Candidate]:
    hazards = db.session.execute(sa.select(Hazard).where(
        Hazard.level == "major", Hazard.status != "voided", Hazard.source.in_(SUPERVISION_SOURCES))).scalars().all()
    if not hazards:
        return []
    signed = _signed_self_inspections()
    cited = defaultdict(set)
    for hazard_id, item_id in db.session.execute(sa.select(HazardCitation.hazard_id, HazardCitation.item_id).where(
            HazardCitation.hazard_id.in_([h.id for h in hazards]), HazardCitation.is_active.is_(True))):
        cited[hazard_id].add(item_id)
    result = []
    for hazard in hazards:
        month = month_of(hazard.found_on)
        own = signed.get((hazard.school_id, month))
        if own is None or own.inspected_on > hazard.found_on:
            own = signed.get((hazard.school_id, _previous(month)))
        if own is None:
            continue  # no signed self-inspection to compare: that is a missing check, found below
        failed = db.session.execute(sa.select(InspectionItem.item_id, InspectionItem.hazard_id).where(
            InspectionItem.inspection_id == own.id, InspectionItem.result == "fail")).all()
        if cited[hazard.id]:
            recorded = any(item_id in cited[hazard.id] for item_id, _ in failed)
        else:
            linked = [h for _, h in failed if h]
            recorded = bool(linked) and db.session.execute(sa.select(sa.func.count()).select_from(Hazard).where(
                Hazard.id.in_(linked), Hazard.level == "major")).scalar_one() > 0
        if recorded:
            continue
        school = units.get(hazard.school_id)
        if school is None:
            continue
        result.append(Candidate(
            key=f"gap:hazard:{hazard.id}", kind="discovery_gap", unit=school, period=month,
            summary=(f"{school.name}：{hazard.found_on:%Y-%m-%d} {_SOURCE_LABELS[hazard.source]}发现重大隐患"
                     f"“{hazard.description[:60]}”（{hazard.number}），该校 {own.month} 月已签字的校长带队自查未记录"),
            hazard_id=hazard.id, inspection_id=hazard.inspection_id, other_inspection_id=own.id))
    return result


_SOURCE_LABELS = {"township": "乡镇中心学校检查", "bureau": "教育局督导检查", "unannounced": "暗访暗查"}


def _first_month() -> str | None:
    first = db.session.execute(sa.select(sa.func.min(Inspection.month))).scalar_one_or_none()
    return first


def _monthly_checks(tenant_id: int, units: dict[int, OrgUnit], today: date) -> list[Candidate]:
    first = _first_month()
    last = _previous(month_of(today))
    if first is None or first > last:
        return []
    months = _months(first, last)
    schools = [u for u in units.values() if u.kind == "school" and u.is_active]
    signed = _signed_self_inspections()
    late = dict(db.session.execute(sa.select(SignOff.inspection_id, SignOff.is_late)).all())
    checked = set(db.session.execute(sa.select(Inspection.unit_id, Inspection.month).where(
        Inspection.kind == "township", Inspection.status != "draft")).all())
    result = []
    for month in months:
        for school in schools:
            own = signed.get((school.id, month))
            if own is None:
                result.append(Candidate(
                    key=f"selfcheck:{month}:{school.id}", kind="self_check_missing", unit=school, period=month,
                    summary=f"{school.name}：{month} 月校长带队月度自查未开展或未签字"))
            elif late.get(own.id):
                result.append(Candidate(
                    key=f"selfcheck-late:{month}:{school.id}", kind="self_check_late", unit=school, period=month,
                    summary=f"{school.name}：{month} 月校长带队月度自查逾期签字（月末后）", inspection_id=own.id))
        for township in (u for u in units.values() if u.kind == "township_center" and u.is_active):
            under = [s for s in schools if s.parent_id == township.id]
            missing = [s for s in under if (s.id, month) not in checked]
            if under and missing:
                names = "、".join(s.name for s in missing[:5]) + ("等" if len(missing) > 5 else "")
                result.append(Candidate(
                    key=f"township:{month}:{township.id}", kind="township_check_missing", unit=township,
                    period=month,
                    summary=f"{township.name}：{month} 月有 {len(missing)}/{len(under)} 所学校未检查（{names}）"))
    return result


def _deliverables(tenant_id: int, units: dict[int, OrgUnit], today: date) -> list[Candidate]:
    rows = db.session.execute(
        sa.select(Deliverable, Campaign.title).join(Campaign, Campaign.id == Deliverable.campaign_id)
        .join(DeliverableSpec, DeliverableSpec.id == Deliverable.spec_id)
        .where(Campaign.status != "draft", DeliverableSpec.due_on < today)).unique().all()
    result = []
    for deliverable, title in rows:
        unit = units.get(deliverable.unit_id)
        if unit is None:
            continue
        due = deliverable.spec.due_on
        submitted = deliverable.submitted_on()
        if submitted is None:
            result.append(Candidate(
                key=f"deliverable:{deliverable.id}", kind="deliverable_missing", unit=unit, period=month_of(due),
                summary=f"{unit.name}：《{title}》的《{deliverable.spec.name}》截至 {due:%Y-%m-%d} 未报送",
                deliverable_id=deliverable.id))
        elif submitted > due:
            result.append(Candidate(
                key=f"deliverable-late:{deliverable.id}", kind="deliverable_late", unit=unit, period=month_of(due),
                summary=(f"{unit.name}：《{title}》的《{deliverable.spec.name}》应于 {due:%Y-%m-%d} 前报送，"
                         f"{submitted:%Y-%m-%d} 才报送"),
                deliverable_id=deliverable.id))
    return result


def _rectification(units: dict[int, OrgUnit], today: date) -> list[Candidate]:
    result = []
    overdue = db.session.execute(sa.select(Hazard).where(
        Hazard.status.in_(OPEN_STATUSES), Hazard.deadline.is_not(None), Hazard.deadline < today)).scalars().all()
    for hazard in overdue:
        school = units.get(hazard.school_id)
        if school is None:
            continue
        result.append(Candidate(
            key=f"overdue:hazard:{hazard.id}", kind="rectification_overdue", unit=school,
            period=month_of(hazard.deadline),
            summary=(f"{school.name}：{hazard.level_label}隐患"
                     f"“{hazard.description[:60]}”（{hazard.number}）整改期限 {hazard.deadline:%Y-%m-%d} 已过，仍未整改到位"),
            hazard_id=hazard.id, inspection_id=hazard.inspection_id))
    returned = db.session.execute(sa.select(Hazard).where(Hazard.reject_reason.is_not(None))).scalars().all()
    if returned:
        vcls = version_class(Hazard)
        versions = defaultdict(list)
        for hazard_id, status in db.session.execute(
                sa.select(vcls.id, vcls.status).where(vcls.id.in_([h.id for h in returned]))
                .order_by(vcls.id, vcls.transaction_id)):
            versions[hazard_id].append(status)
        for hazard in returned:
            statuses = versions[hazard.id]
            times = sum(1 for a, b in zip(statuses, statuses[1:]) if a == "awaiting_acceptance" and b == "rectifying")
            school = units.get(hazard.school_id)
            if times >= 2 and school is not None:
                result.append(Candidate(
                    key=f"returned:hazard:{hazard.id}", kind="rectification_returned", unit=school,
                    period=month_of(hazard.found_on),
                    summary=(f"{school.name}：隐患“{hazard.description[:60]}”（{hazard.number}）"
                             f"整改 {times} 次验收不合格"),
                    hazard_id=hazard.id))
    return result


def _directives(units: dict[int, OrgUnit], today: date) -> list[Candidate]:
    """整改指令 not carried out by their deadline, or whose reported rectification the issuer
    returned more than once (拒不整改或整改不到位)."""
    result = []
    rows = db.session.execute(sa.select(Directive).where(sa.or_(
        sa.and_(Directive.status.in_(RUNNING_STATUSES), Directive.deadline < today),
        Directive.return_count >= 2))).scalars().all()
    for directive in rows:
        school = units.get(directive.school_id)
        if school is None:
            continue
        if directive.status in RUNNING_STATUSES and directive.deadline < today:
            result.append(Candidate(
                key=f"directive-overdue:{directive.id}", kind="directive_overdue", unit=school,
                period=month_of(directive.deadline),
                summary=(f"{school.name}：整改指令 {directive.number} 期限 {directive.deadline:%Y-%m-%d} 已过，"
                         f"仍未完成整改（{directive.status_label}）"),
                directive_id=directive.id))
        if directive.return_count >= 2:
            result.append(Candidate(
                key=f"directive-returned:{directive.id}", kind="directive_returned", unit=school,
                period=month_of(directive.issued_on),
                summary=f"{school.name}：整改指令 {directive.number} 的整改报告被退回 {directive.return_count} 次，整改不到位",
                directive_id=directive.id))
    return result


def sync(tenant_id: int, today: date) -> int:
    """Store the findings not yet stored; never delete or rewrite one. Returns how many are new."""
    with tenant_bound(tenant_id):
        candidates = derive(tenant_id, today)
        known = set(db.session.execute(sa.select(AccountabilityFinding.key)).scalars())
        new = [c for c in candidates if c.key not in known]
        for c in new:
            db.session.add(AccountabilityFinding(
                tenant_id=tenant_id, key=c.key, kind=c.kind, unit_id=c.unit.id, unit_path=c.unit.path,
                period=c.period, detected_on=today, summary=c.summary[:500], hazard_id=c.hazard_id,
                inspection_id=c.inspection_id, other_inspection_id=c.other_inspection_id,
                deliverable_id=c.deliverable_id, directive_id=c.directive_id, status="open"))
        if new:
            tx_meta(reason=f"追责线索更新：新增 {len(new)} 条")
        commit_or_raise(AccountabilityError("线索正在被他人更新，请稍后重试。"),
                        AccountabilityError("线索已由其他进程写入，请刷新。"))
        return len(new)


def findings_query(roots: list[OrgUnit], *, kind: str | None = None, status: str | None = None,
                   start: str | None = None, end: str | None = None):
    """Findings under the given roots (subtrees), newest period first."""
    scope = sa.or_(*[(AccountabilityFinding.tenant_id == r.tenant_id)
                     & AccountabilityFinding.unit_path.startswith(r.path, autoescape=True) for r in roots]) \
        if roots else sa.false()
    query = sa.select(AccountabilityFinding).where(scope)
    if kind:
        query = query.where(AccountabilityFinding.kind == kind)
    if status:
        query = query.where(AccountabilityFinding.status == status)
    if start:
        query = query.where(AccountabilityFinding.period >= start)
    if end:
        query = query.where(AccountabilityFinding.period <= end)
    return query.order_by(AccountabilityFinding.period.desc(), AccountabilityFinding.kind,
                          AccountabilityFinding.unit_path, AccountabilityFinding.id)


def findings_for(scope_unit: OrgUnit, start: date, end: date) -> list[AccountabilityFinding]:
    """Findings in ``scope_unit``'s subtree whose month lies within [start, end] (phase reports)."""
    return list(db.session.execute(findings_query([scope_unit], start=month_of(start), end=month_of(end))).unique().scalars())


def counts_by_kind(findings: list[AccountabilityFinding]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for f in findings:
        out[f.kind] += 1
    return dict(out)


def handle(finding: AccountabilityFinding, *, actor, note: str, version_id: int) -> None:
    """Mark handled with the safety section's note (e.g. 约谈校长、通报批评); the finding stays."""
    note = (note or "").strip()
    if not note:
        raise AccountabilityError("请填写处理意见（如约谈、通报、责令整改的情况）。")
    if len(note) > 2000:
        raise AccountabilityError("处理意见不能超过 2000 字。")
    if finding.version_id != version_id:
        raise AccountabilityError("该线索已被他人处理或修改，请刷新后重试。")
    finding.status = "handled"
    finding.handled_note = note
    finding.handled_by_id = actor.id
    finding.handled_at = utcnow()
    tx_meta(reason="追责线索处理")
    commit_or_raise(AccountabilityError("该线索已被他人处理或修改，请刷新后重试。"),
                    AccountabilityError("数据冲突，操作未生效，请刷新后重试。"))


def reopen(finding: AccountabilityFinding, *, actor, note: str, version_id: int) -> None:
    """Back to open (e.g. the handling proved insufficient); the earlier note stays in history."""
    note = (note or "").strip()
    if not note:
        raise AccountabilityError("请填写重新处理的理由。")
    if finding.version_id != version_id:
        raise AccountabilityError("该线索已被他人处理或修改，请刷新后重试。")
    if finding.status != "handled":
        raise AccountabilityError("只有已处理的线索可以重新打开。")
    finding.status = "open"
    finding.handled_note = note
    finding.handled_by_id = actor.id
    finding.handled_at = utcnow()
    tx_meta(reason="追责线索重新打开")
    commit_or_raise(AccountabilityError("该线索已被他人处理或修改，请刷新后重试。"),
                    AccountabilityError("数据冲突，操作未生效，请刷新后重试。"))
