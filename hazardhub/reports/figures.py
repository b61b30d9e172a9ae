"""The figures of a phase report (阶段报告), as plain dicts: pure functions of scope, period and "as of".

Every function takes the scope unit (a school, a township central school, a district's bureau,
or a city bureau's root unit meaning "the city across its districts"), the period (the phase's
dates) and ``as_of`` and returns JSON-able dicts (ints, strings, ISO dates, lists), so the PDF
job, the page and another report (the city comparison) can reuse them and hash them.

"As of": records are read from the Continuum version tables as they stood at the cutoff — the
latest version of each row whose transaction was issued before it (the approach of the hazard
ledger's ``as_of`` view). A later edit, acceptance or voiding therefore never changes a report
run for the same cutoff: re-running it gives identical figures. ``as_of`` is a date (the end of
that day, Beijing time) or a naive-UTC datetime (an exact moment: what the report job stores for
a run requested "now", so a retry reproduces it). Units are read from the live tree (active and
created before the cutoff): units are never deleted, and the tree is provisioned, not versioned
in bulk.

Scoping: every query runs under the bound tenant scope (the requester's), so a city user reads its
districts and nobody else reads anything outside their tenants.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy_continuum import version_class, versioning_manager

from hazardhub import clock
from hazardhub.accountability.models import FINDING_KINDS, FINDING_STATUSES, AccountabilityFinding
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableFile, DeliverableSpec, Phase
from hazardhub.directives.models import Directive
from hazardhub.directives.models import RUNNING_STATUSES as DIRECTIVE_RUNNING
from hazardhub.directives.models import STATUSES as DIRECTIVE_STATUSES
from hazardhub.extensions import db
from hazardhub.hazards.models import CATEGORIES, LEVELS, OPEN_STATUSES, SOURCES, STATUSES, Hazard
from hazardhub.inspections.models import KINDS, Inspection, SignOff
from hazardhub.learning.models import LEVELS as LEARNING_LEVELS
from hazardhub.learning.models import LearningAttendee, LearningSession
from hazardhub.orgs.models import OrgUnit, Tenant

SCHOOL_KINDS = ("school", "affiliated_school")
#: rows of a long list kept in the figures (the count is always complete)
LIST_LIMIT = 300


# ---------------------------------------------------------------------------------------------
# scope, period and the as-of cutoff


def cutoff_for(as_of: date | datetime) -> datetime:
    """The naive-UTC moment the figures are read at.

    :param as_of: a date (its end, Beijing time) or a datetime (naive UTC, or aware).
    """
    if isinstance(as_of, datetime):
        return clock.naive_utc(as_of)
    return clock.cutoff(as_of)


def as_of_date(as_of: date | datetime) -> date:
    """The Beijing calendar day of ``as_of`` (what "overdue" is judged against)."""
    if isinstance(as_of, datetime):
        return clock.local_date(as_of)
    return as_of


def is_city_scope(scope_unit: OrgUnit) -> bool:
    """A city bureau's root unit stands for the whole city (its districts)."""
    if scope_unit.parent_id is not None:
        return False
    kind = db.session.execute(sa.select(Tenant.kind).where(Tenant.id == scope_unit.tenant_id)).scalar_one()
    return kind == "city"


def scope_roots(scope_unit: OrgUnit) -> list[OrgUnit]:
    """The subtrees the figures cover: the unit itself, or every district's bureau for a city."""
    if not is_city_scope(scope_unit):
        return [scope_unit]
    district_ids = db.session.execute(
        sa.select(Tenant.id).where(Tenant.parent_id == scope_unit.tenant_id)).scalars().all()
    if not district_ids:
        return []
    return list(db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.tenant_id.in_(district_ids), OrgUnit.parent_id.is_(None))
        .order_by(OrgUnit.tenant_id)).scalars())


def _in_roots(roots: list[OrgUnit], tenant_col, path_col):
    if not roots:
        return sa.false()
    return sa.or_(*[(tenant_col == r.tenant_id) & path_col.startswith(r.path, autoescape=True) for r in roots])


def as_of_versions(model, cutoff: datetime, scope=None):
    """``(version class, SELECT of each row's version current at cutoff)`` — deleted rows left out.

    :param scope: optional ``f(version_class) -> clause`` narrowing the rows (e.g. the scope's
        paths) inside the grouping subquery as well, so a district report does not group the
        whole city's version table.
    """
    vcls = version_class(model)
    tx = versioning_manager.transaction_cls
    latest = (
        sa.select(vcls.id.label("row_id"), sa.func.max(vcls.transaction_id).label("tx_id"))
        .join(tx, tx.id == vcls.transaction_id)
        .where(tx.issued_at < cutoff, *([scope(vcls)] if scope is not None else []))
        .group_by(vcls.id)
        .subquery()
    )
    stmt = sa.select(vcls).join(latest, (latest.c.row_id == vcls.id) & (latest.c.tx_id == vcls.transaction_id)) \
        .where(vcls.operation_type != 2)
    return vcls, stmt


def units_in_scope(scope_unit: OrgUnit, as_of: date | datetime) -> list[OrgUnit]:
    """Active units of the scope that existed at the cutoff, in tree order."""
    roots = scope_roots(scope_unit)
    cutoff = cutoff_for(as_of)
    return list(db.session.execute(
        sa.select(OrgUnit).where(_in_roots(roots, OrgUnit.tenant_id, OrgUnit.path), OrgUnit.is_active.is_(True),
                                 OrgUnit.created_at < cutoff)
        .order_by(OrgUnit.tenant_id, OrgUnit.path)).scalars())


def months_between(start: date, end: date) -> list[str]:
    """``YYYY-MM`` of every month that overlaps [start, end]."""
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _units(scope_unit, as_of):
    units = units_in_scope(scope_unit, as_of)
    schools = [u for u in units if u.kind in SCHOOL_KINDS]
    townships = [u for u in units if u.kind == "township_center"]
    return units, schools, townships


# ---------------------------------------------------------------------------------------------
# 三学: training and coverage


def learning_figures(scope_unit: OrgUnit, start: date, end: date, as_of: date | datetime) -> dict[str, Any]:
    """Sessions, hours and attendance per level; coverage of schools, principals and townships.

    Coverage: the share of schools that held an all-staff session in the period, of schools whose
    principal attended a principals' session, and of townships that organised one.
    """
    roots, cutoff = scope_roots(scope_unit), cutoff_for(as_of)
    _all, schools, townships = _units(scope_unit, as_of)
    vcls, stmt = as_of_versions(LearningSession, cutoff, lambda v: _in_roots(roots, v.tenant_id, v.unit_path))
    sessions = db.session.execute(stmt.where(
        _in_roots(roots, vcls.tenant_id, vcls.unit_path), vcls.held_on >= start, vcls.held_on <= end)
        .order_by(vcls.held_on, vcls.id)).scalars().all()
    session_ids = [s.id for s in sessions]
    avcls, astmt = as_of_versions(LearningAttendee, cutoff, lambda v: v.session_id.in_(session_ids))
    attendees = db.session.execute(astmt.where(avcls.session_id.in_(session_ids), avcls.is_active.is_(True))
                                   ).scalars().all() if session_ids else []
    listed = Counter(a.session_id for a in attendees)
    by_level = {key: {"label": label, "sessions": 0, "hours": Decimal(0), "attendance": 0}
                for key, label in LEARNING_LEVELS.items()}
    staff_held: set[int] = set()
    township_held: set[int] = set()
    by_month: dict[str, Counter] = {m: Counter() for m in months_between(start, end)}
    for s in sessions:
        row = by_level[s.level]
        row["sessions"] += 1
        row["hours"] += Decimal(s.hours)
        row["attendance"] += s.headcount if s.headcount is not None else listed.get(s.id, 0)
        by_month.setdefault(s.held_on.strftime("%Y-%m"), Counter())[s.level] += 1
        if s.level == "all_staff":
            staff_held.add(s.unit_id)
        elif s.level == "principals":
            township_held.add(s.unit_id)
    principal_sessions = {s.id for s in sessions if s.level == "principals"}
    principals_present = {a.unit_id for a in attendees if a.session_id in principal_sessions and a.role == "principal"}
    school_ids = {u.id for u in schools}
    township_ids = {u.id for u in townships}
    for row in by_level.values():
        row["hours"] = format(row["hours"].normalize(), "f") if row["hours"] else "0"
    staff_covered = len(staff_held & school_ids)
    principals_covered = len(principals_present & school_ids)
    townships_covered = len(township_held & township_ids)
    return {
        "by_level": by_level,
        "total_sessions": len(sessions),
        "schools": len(schools),
        "staff_covered": staff_covered,
        "staff_rate": _rate(staff_covered, len(schools)),
        "principals_covered": principals_covered,
        "principals_rate": _rate(principals_covered, len(schools)),
        "townships": len(townships),
        "townships_covered": townships_covered,
        "townships_rate": _rate(townships_covered, len(townships)),
        "by_month": [{"month": m, **{k: c.get(k, 0) for k in LEARNING_LEVELS}} for m, c in sorted(by_month.items())],
        "per_school": {u.id: 0 for u in schools} | dict(Counter(
            s.unit_id for s in sessions if s.level == "all_staff" and s.unit_id in school_ids)),
    }


# ---------------------------------------------------------------------------------------------
# 三查: inspections and the principal's monthly sign-off


def inspection_figures(scope_unit: OrgUnit, start: date, end: date, as_of: date | datetime) -> dict[str, Any]:
    """Inspections held in the period by kind (drafts not counted) and the schools each reached."""
    roots, cutoff = scope_roots(scope_unit), cutoff_for(as_of)
    _all, schools, _t = _units(scope_unit, as_of)
    vcls, stmt = as_of_versions(Inspection, cutoff, lambda v: _in_roots(roots, v.tenant_id, v.unit_path))
    rows = db.session.execute(stmt.where(
        _in_roots(roots, vcls.tenant_id, vcls.unit_path), vcls.inspected_on >= start, vcls.inspected_on <= end,
        vcls.status != "draft")).scalars().all()
    by_kind = {key: {"label": label, "count": 0, "schools": 0} for key, label in KINDS.items()}
    reached: dict[str, set[int]] = defaultdict(set)
    for r in rows:
        by_kind[r.kind]["count"] += 1
        reached[r.kind].add(r.unit_id)
    for key, units in reached.items():
        by_kind[key]["schools"] = len(units)
    return {"by_kind": by_kind, "total": len(rows), "schools": len(schools),
            "self_rate": _rate(len(reached["self"] & {u.id for u in schools}), len(schools))}


def signoff_figures(scope_unit: OrgUnit, start: date, end: date, as_of: date | datetime) -> dict[str, Any]:
    """Per month of the period: schools whose principal signed the monthly self-inspection on time,
    late, or not at all (a month not yet over at the as-of date is marked ``in_progress``)."""
    roots, cutoff, day = scope_roots(scope_unit), cutoff_for(as_of), as_of_date(as_of)
    _all, schools, _t = _units(scope_unit, as_of)
    school_ids = {u.id for u in schools}
    months = months_between(start, end)
    ivcls, istmt = as_of_versions(Inspection, cutoff, lambda v: _in_roots(roots, v.tenant_id, v.unit_path))
    inspections = db.session.execute(istmt.where(
        _in_roots(roots, ivcls.tenant_id, ivcls.unit_path), ivcls.kind == "self", ivcls.month.in_(months))
    ).scalars().all()
    month_of = {i.id: (i.month, i.unit_id) for i in inspections}
    svcls, sstmt = as_of_versions(SignOff, cutoff, lambda v: v.inspection_id.in_(list(month_of)))
    signoffs = db.session.execute(sstmt.where(svcls.inspection_id.in_(list(month_of)))).scalars().all() \
        if month_of else []
    state: dict[tuple[str, int], str] = {}
    for s in signoffs:
        key = month_of[s.inspection_id]
        if key[1] not in school_ids:
            continue
        if not s.is_late:
            state[key] = "on_time"
        else:
            state.setdefault(key, "late")
    per_school: dict[int, dict[str, str]] = {u.id: {} for u in schools}
    rows = []
    for month in months:
        in_progress = day <= clock.month_end(month)
        counts = Counter(state.get((month, sid), "missing") for sid in school_ids)
        for sid in school_ids:
            per_school[sid][month] = state.get((month, sid), "pending" if in_progress else "missing")
        rows.append({"month": month, "schools": len(school_ids), "on_time": counts.get("on_time", 0),
                     "late": counts.get("late", 0), "missing": counts.get("missing", 0),
                     "in_progress": in_progress,
                     "on_time_rate": _rate(counts.get("on_time", 0), len(school_ids))})
    return {"months": rows, "per_school": per_school}


# ---------------------------------------------------------------------------------------------
# the hazard ledger


def _hazard_row(h, schools_by_id: dict[int, OrgUnit], day: date) -> dict[str, Any]:
    school = schools_by_id.get(h.school_id)
    return {
        "id": h.id, "number": h.number, "school": school.name if school else "", "found_on": h.found_on,
        "source": SOURCES.get(h.source, h.source), "category": h.category, "location": h.location,
        "description": h.description[:120], "level": LEVELS.get(h.level, h.level),
        "status": STATUSES.get(h.status, h.status), "deadline": h.deadline,
        "overdue_days": (day - h.deadline).days if h.deadline and h.deadline < day else 0,
        "is_listed": bool(h.is_listed), "responsible_person": h.responsible_person or "",
    }


def hazard_figures(scope_unit: OrgUnit, start: date, end: date, as_of: date | datetime) -> dict[str, Any]:
    """Hazards found in the period by level, category and source; rectification and on-time rates;
    the overdue and the listed (挂牌督办) major hazards of the scope at the as-of date.

    - 整改率: hazards found in the period that were closed (销号) by the as-of date / found.
    - 按期整改率: of those with a deadline whose rectification was reported, the share reported on
      or before the deadline.
    - Overdue and listed hazards cover the whole scope (also carried over from before the period):
      open at the as-of date, and past the deadline / listed for supervision.
    """
    roots, cutoff, day = scope_roots(scope_unit), cutoff_for(as_of), as_of_date(as_of)
    vcls, stmt = as_of_versions(Hazard, cutoff, lambda v: _in_roots(roots, v.tenant_id, v.school_path))
    in_scope = stmt.where(_in_roots(roots, vcls.tenant_id, vcls.school_path), vcls.status != "voided")
    found = db.session.execute(in_scope.where(vcls.found_on >= start, vcls.found_on <= end)
                               .order_by(vcls.found_on, vcls.id)).scalars().all()
    open_rows = db.session.execute(in_scope.where(vcls.status.in_(OPEN_STATUSES), vcls.found_on <= day)
                                   .order_by(vcls.deadline, vcls.id)).scalars().all()
    school_ids = {h.school_id for h in found} | {h.school_id for h in open_rows}
    schools_by_id = {u.id: u for u in db.session.execute(
        sa.select(OrgUnit).where(OrgUnit.id.in_(school_ids))).scalars()} if school_ids else {}
    by_level = {key: 0 for key in LEVELS}
    by_category = {key: 0 for key in CATEGORIES}
    by_source = {key: 0 for key in SOURCES}
    by_status = {key: 0 for key in STATUSES if key != "voided"}
    for h in found:
        by_level[h.level] = by_level.get(h.level, 0) + 1
        by_category[h.category] = by_category.get(h.category, 0) + 1
        by_source[h.source] = by_source.get(h.source, 0) + 1
        by_status[h.status] = by_status.get(h.status, 0) + 1
    closed = by_status.get("closed", 0)
    major = [h for h in found if h.level == "major"]
    reported = [h for h in found if h.rectified_on is not None and h.deadline is not None]
    on_time = sum(1 for h in reported if h.rectified_on <= h.deadline)
    overdue = [h for h in open_rows if h.deadline is not None and h.deadline < day]
    listed = [h for h in open_rows if h.level == "major" and h.is_listed]
    per_school: dict[int, dict[str, int]] = defaultdict(lambda: {"found": 0, "major": 0, "open": 0, "overdue": 0})
    for h in found:
        per_school[h.school_id]["found"] += 1
        per_school[h.school_id]["major"] += h.level == "major"
    overdue_ids = {h.id for h in overdue}
    for h in open_rows:
        per_school[h.school_id]["open"] += 1
        per_school[h.school_id]["overdue"] += h.id in overdue_ids
    return {
        "found": len(found),
        "by_level": {LEVELS[k]: v for k, v in by_level.items()},
        "by_category": {k: v for k, v in by_category.items() if v},
        "by_source": {SOURCES[k]: v for k, v in by_source.items()},
        "by_status": {STATUSES[k]: v for k, v in by_status.items()},
        "closed": closed,
        "rectification_rate": _rate(closed, len(found)),
        "major_found": len(major),
        "major_closed": sum(1 for h in major if h.status == "closed"),
        "major_rectification_rate": _rate(sum(1 for h in major if h.status == "closed"), len(major)),
        "reported_with_deadline": len(reported),
        "on_time": on_time,
        "on_time_rate": _rate(on_time, len(reported)),
        "open": len(open_rows),
        "overdue": len(overdue),
        "overdue_major": sum(1 for h in overdue if h.level == "major"),
        "overdue_list": [_hazard_row(h, schools_by_id, day) for h in overdue[:LIST_LIMIT]],
        "listed": len(listed),
        "listed_list": [_hazard_row(h, schools_by_id, day) for h in listed[:LIST_LIMIT]],
        "per_school": {sid: dict(v) for sid, v in per_school.items()},
    }


# ---------------------------------------------------------------------------------------------
# directives and accountability


def directive_figures(scope_unit: OrgUnit, start: date, end: date, as_of: date | datetime) -> dict[str, Any]:
    """整改指令 issued in the period to schools of the scope (status at the cutoff), the overdue ones."""
    roots, cutoff, day = scope_roots(scope_unit), cutoff_for(as_of), as_of_date(as_of)
    vcls, stmt = as_of_versions(Directive, cutoff, lambda v: _in_roots(roots, v.tenant_id, v.school_path))
    rows = db.session.execute(stmt.where(
        _in_roots(roots, vcls.tenant_id, vcls.school_path), vcls.issued_on >= start, vcls.issued_on <= end)
        .order_by(vcls.issued_on, vcls.id)).scalars().all()
    by_status = {label: 0 for label in DIRECTIVE_STATUSES.values()}
    for r in rows:
        by_status[DIRECTIVE_STATUSES.get(r.status, r.status)] = by_status.get(DIRECTIVE_STATUSES.get(r.status, r.status), 0) + 1
    overdue_ids = {r.id for r in rows if r.status in DIRECTIVE_RUNNING and r.deadline < day}
    accepted = [r for r in rows if r.status == "accepted"]
    accepted_on_time = sum(1 for r in accepted if r.accepted_on is not None and r.accepted_on <= r.deadline)
    return {
        "issued": len(rows),
        "by_status": by_status,
        "accepted": len(accepted),
        "accepted_on_time": accepted_on_time,
        "acceptance_rate": _rate(len(accepted), len(rows)),
        "overdue": len(overdue_ids),
        "returned_more_than_once": sum(1 for r in rows if r.return_count > 1),
        "list": [{"number": r.number, "issuer": r.issuer_name, "school": r.school_name, "issued_on": r.issued_on,
                  "deadline": r.deadline, "status": DIRECTIVE_STATUSES.get(r.status, r.status),
                  "overdue": r.id in overdue_ids} for r in rows[:LIST_LIMIT]],
    }


def accountability_figures(scope_unit: OrgUnit, start: date, end: date, as_of: date | datetime) -> dict[str, Any]:
    """追责线索 of the scope whose month lies in the period, as stored at the cutoff.

    The same selection as ``hazardhub.accountability.operations.findings_for`` (unit subtree,
    period month within [start, end]) but read from the findings' versions at the cutoff, so a
    finding detected or handled later does not change a report for an earlier moment.
    """
    roots, cutoff = scope_roots(scope_unit), cutoff_for(as_of)
    vcls, stmt = as_of_versions(AccountabilityFinding, cutoff,
                                lambda v: _in_roots(roots, v.tenant_id, v.unit_path))
    first, last = f"{start.year:04d}-{start.month:02d}", f"{end.year:04d}-{end.month:02d}"
    rows = db.session.execute(stmt.where(
        _in_roots(roots, vcls.tenant_id, vcls.unit_path), vcls.period >= first, vcls.period <= last)
        .order_by(vcls.period.desc(), vcls.kind, vcls.unit_path, vcls.id)).scalars().all()
    unit_ids = {r.unit_id for r in rows}
    names = dict(db.session.execute(sa.select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(unit_ids))).all()) \
        if unit_ids else {}
    by_kind = Counter(FINDING_KINDS.get(r.kind, r.kind) for r in rows)
    return {
        "total": len(rows),
        "open": sum(1 for r in rows if r.status == "open"),
        "by_kind": dict(sorted(by_kind.items())),
        "ids": sorted(r.id for r in rows),
        "list": [{"kind": FINDING_KINDS.get(r.kind, r.kind), "unit": names.get(r.unit_id, ""), "period": r.period,
                  "detail": r.summary[:200], "status": FINDING_STATUSES.get(r.status, r.status),
                  "handled": r.status == "handled"} for r in rows[:LIST_LIMIT]],
    }


# ---------------------------------------------------------------------------------------------
# deliverables: the appendix of photos and documents


def matching_phase_ids(phase: Phase, scope_unit: OrgUnit) -> list[int]:
    """The phase itself and, for scopes in other tenants (a city phase reported on its districts),
    the same phase (by position) of each district's adoption of the phase's campaign."""
    roots = scope_roots(scope_unit)
    tenants = {r.tenant_id for r in roots}
    ids = [phase.id] if phase.tenant_id in tenants else []
    others = tenants - {phase.tenant_id}
    if others:
        adopted = db.session.execute(sa.select(Campaign.id).where(
            Campaign.tenant_id.in_(others), Campaign.adopted_from_id == phase.campaign_id)).scalars().all()
        if adopted:
            ids += list(db.session.execute(sa.select(Phase.id).where(
                Phase.campaign_id.in_(adopted), Phase.sort == phase.sort)).scalars())
    return ids


def deliverable_figures(scope_unit: OrgUnit, phase: Phase, as_of: date | datetime) -> dict[str, Any]:
    """The phase's deliverables of units in scope (status at the cutoff) and the files of those
    submitted (submitted, returned or accepted at the cutoff)."""
    roots, cutoff, day = scope_roots(scope_unit), cutoff_for(as_of), as_of_date(as_of)
    phase_ids = matching_phase_ids(phase, scope_unit)
    specs = {s.id: s for s in db.session.execute(
        sa.select(DeliverableSpec).where(DeliverableSpec.phase_id.in_(phase_ids))).scalars()} if phase_ids else {}
    units = {u.id: u for u in db.session.execute(sa.select(OrgUnit).where(
        _in_roots(roots, OrgUnit.tenant_id, OrgUnit.path))).scalars()} if specs else {}
    dvcls, dstmt = as_of_versions(Deliverable, cutoff, lambda v: v.spec_id.in_(list(specs)))
    items = db.session.execute(dstmt.where(dvcls.spec_id.in_(list(specs)), dvcls.unit_id.in_(list(units)))
                               .order_by(dvcls.spec_id, dvcls.unit_id)).scalars().all() if specs and units else []
    # the appendix lists what was submitted: files of drafts not yet handed in are left out
    by_item = {d.id: d for d in items if d.status in ("submitted", "returned", "accepted")}
    fvcls, fstmt = as_of_versions(DeliverableFile, cutoff, lambda v: v.deliverable_id.in_(list(by_item)))
    files = db.session.execute(fstmt.where(fvcls.deliverable_id.in_(list(by_item))).order_by(fvcls.id)
                               ).scalars().all() if by_item else []
    status_counts = Counter()
    for d in items:
        spec = specs[d.spec_id]
        submitted = _beijing_day(d.submitted_at) if d.submitted_at else None
        if d.status == "accepted":
            status_counts["accepted"] += 1
        elif d.status in ("submitted", "returned"):
            status_counts["late" if submitted and submitted > spec.due_on else d.status] += 1
        else:
            status_counts["missing" if day > spec.due_on else "pending"] += 1
    rows = []
    for f in files:
        d = by_item[f.deliverable_id]
        unit = units.get(d.unit_id)
        rows.append({"id": f.id, "tenant_id": f.tenant_id, "unit": unit.name if unit else "",
                     "spec": specs[d.spec_id].name, "kind": f.kind, "name": f.original_name, "size": f.size,
                     "sha256": f.sha256, "stored_name": f.stored_name, "thumb_name": f.thumb_name,
                     "uploaded_on": _beijing_day(f.created_at)})
    return {
        "specs": [{"name": s.name, "due_on": s.due_on} for s in sorted(specs.values(), key=lambda s: (s.due_on, s.sort))],
        "deliverables": len(items),
        "status": {"accepted": status_counts.get("accepted", 0), "submitted": status_counts.get("submitted", 0),
                   "late": status_counts.get("late", 0), "returned": status_counts.get("returned", 0),
                   "missing": status_counts.get("missing", 0), "pending": status_counts.get("pending", 0)},
        "files": rows,
        "images": sum(1 for r in rows if r["kind"] == "image"),
        "documents": sum(1 for r in rows if r["kind"] != "image"),
    }


def _beijing_day(value: datetime | None) -> date | None:
    if value is None:
        return None
    return clock.local_date(value)


# ---------------------------------------------------------------------------------------------
# per unit, and everything together


def school_table(scope_unit: OrgUnit, as_of: date | datetime, learning: dict, signoffs: dict,
                 hazards: dict) -> list[dict[str, Any]]:
    """One row per school of the scope, from the section figures (no further queries but units)."""
    units, schools, _t = _units(scope_unit, as_of)
    names = {u.id: u.name for u in units}
    rows = []
    for school in schools:
        signed = signoffs["per_school"].get(school.id, {})
        h = hazards["per_school"].get(school.id, {})
        rows.append({
            "township": names.get(school.parent_id, "") if school.kind == "school" else "局属",
            "school": school.name,
            "staff_sessions": learning["per_school"].get(school.id, 0),
            "signed_on_time": sum(1 for v in signed.values() if v == "on_time"),
            "signed_late": sum(1 for v in signed.values() if v == "late"),
            "missing": sum(1 for v in signed.values() if v == "missing"),
            "found": h.get("found", 0), "major": h.get("major", 0), "open": h.get("open", 0),
            "overdue": h.get("overdue", 0),
        })
    return rows


def phase_figures(scope_unit: OrgUnit, phase: Phase, as_of: date | datetime, progress=None) -> dict[str, Any]:
    """All figures of a phase report; ``progress(percent)`` is called between sections.

    The period is the phase's dates, cut at the as-of day when the phase was still running then.
    """
    step = progress or (lambda percent: None)
    day = as_of_date(as_of)
    start, end = phase.starts_on, min(phase.ends_on, max(day, phase.starts_on))
    campaign = db.session.execute(sa.select(Campaign).where(Campaign.id == phase.campaign_id)).scalar_one()
    tenant = db.session.execute(sa.select(Tenant).where(Tenant.id == scope_unit.tenant_id)).scalar_one()
    city = is_city_scope(scope_unit)
    units, schools, townships = _units(scope_unit, as_of)
    step(10)
    learning = learning_figures(scope_unit, start, end, as_of)
    step(20)
    inspections = inspection_figures(scope_unit, start, end, as_of)
    signoffs = signoff_figures(scope_unit, start, end, as_of)
    step(30)
    hazards = hazard_figures(scope_unit, start, end, as_of)
    step(40)
    directives = directive_figures(scope_unit, start, end, as_of)
    accountability = accountability_figures(scope_unit, start, end, as_of)
    step(45)
    deliverables = deliverable_figures(scope_unit, phase, as_of)
    step(50)
    rows = school_table(scope_unit, as_of, learning, signoffs, hazards)
    learning = {k: v for k, v in learning.items() if k != "per_school"}
    signoffs = {"months": signoffs["months"]}
    hazards = {k: v for k, v in hazards.items() if k != "per_school"}
    districts = len({u.tenant_id for u in units}) if city else None
    return {
        "scope": {"id": scope_unit.id, "name": "全市（各县区汇总）" if city else scope_unit.name,
                  "unit_name": scope_unit.name, "tenant": tenant.name, "is_city": city,
                  "kind": "city" if city else scope_unit.kind, "districts": districts,
                  "schools": len(schools), "townships": len(townships)},
        "phase": {"id": phase.id, "name": phase.name, "campaign": campaign.title, "year": campaign.year,
                  "starts_on": phase.starts_on, "ends_on": phase.ends_on},
        "period": {"start": start, "end": end, "as_of": day,
                   "cutoff": cutoff_for(as_of).isoformat(timespec="seconds")},
        "learning": learning,
        "inspections": inspections,
        "signoffs": signoffs,
        "hazards": hazards,
        "directives": directives,
        "accountability": accountability,
        "deliverables": deliverables,
        "schools": rows,
    }
