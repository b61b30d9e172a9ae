"""What the city's comparison counts, kept per school, so that one school's write recomputes one
school (#15 item 2).

The comparison reads every record of six districts (2,000 schools): 1.9 s of SQL on the city data
set, and every write anywhere in the city used to throw it away, in every web process. The figures
are sums over schools, so each school's own facts are kept as a piece
(:func:`hazardhub.datacache.unit_pieces`): the months it signed on time and was checked, its
unannounced visits, the days of its learning sessions and of its principal's attendance, its
hazards found in the period by level/source/status, and their 销号 durations. A write recomputes
the pieces of the schools it names. What belongs to a district as a whole (its schools, its leaders
with an assignment, its directives, deliverables and 随手拍 reports) is a tenant part, recomputed
only when something of the district as a whole changes.

The definitions are the comparison's own (see :mod:`hazardhub.citywide.operations`); the
functions at the bottom give the same dicts the grouped queries gave, per tenant or per
(tenant, month).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from hazardhub import clock, datacache
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableSpec
from hazardhub.directives.models import Directive, RUNNING_STATUSES
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard
from hazardhub.inspections.models import Inspection, LeaderAssignment, SignOff
from hazardhub.learning.models import LearningAttendee, LearningSession
from hazardhub.orgs.models import OrgUnit
from hazardhub.publicreports.operations import district_figures

SCHOOL_KINDS = ("school", "affiliated_school")
SUPERVISION_SOURCES = ("township", "bureau", "unannounced", "joint")


@dataclass
class HazardTotals:
    total: int = 0
    general: int = 0
    major: int = 0
    self_found: int = 0
    supervision: int = 0
    closed: int = 0
    closed_on_time: int = 0
    overdue: int = 0
    listed_open_major: int = 0
    days: list[int] = field(default_factory=list)


class HazardLine(NamedTuple):
    """Hazards of one school found in the period with one level, source and status."""

    level: str
    source: str
    status: str
    n: int
    overdue: int
    on_time: int
    listed: int


class SchoolFacts(NamedTuple):
    """One unit's own records that the comparison counts (plain values: kept and compared)."""

    #: months of the window whose self-inspection (not an amendment) was signed on time
    signed: frozenset = frozenset()
    #: months of the window with a township check recorded (not a draft)
    checked: frozenset = frozenset()
    #: ``(leader id, month)`` of every unannounced visit recorded at it in the window
    visits: tuple = ()
    #: days of the all-staff sessions it held, of the principals' sessions its principal attended,
    #: and of the bureau-staff sessions it held (a bureau), in the learning window
    staff: frozenset = frozenset()
    principals: frozenset = frozenset()
    bureau: frozenset = frozenset()
    #: its hazards found in the period (not voided), and their 销号 durations in days
    hazards: tuple = ()
    days: tuple = ()


class DistrictWhole(NamedTuple):
    """What the comparison counts of a district as a whole."""

    root: object
    schools: int
    township_schools: int
    inactive: frozenset
    leaders: int
    assigned: frozenset
    directives: tuple[int, int] | None
    deliverables: tuple[int, int]
    public: tuple[int, tuple]


@dataclass(frozen=True)
class Window:
    """What the pieces are kept for: the months counted (the period's and the trend's), the
    learning days (from the earliest of both to today) and the hazards' period."""

    months: tuple[str, ...]
    learning_start: date
    start: date
    end: date
    today: date


def school_facts(wanted: dict[int, list[int] | None], window: Window) -> dict[int, dict[int, SchoolFacts]]:
    """``{tenant: {unit id: SchoolFacts}}`` of the units with records in the window: every unit
    of a tenant wanted with ``None``, the listed units of the others (one round of queries)."""
    whole = [tid for tid, units in wanted.items() if units is None]
    named = sorted({u for units in wanted.values() if units is not None for u in units})

    def only(tenant_column, unit_column):
        return sa.or_(tenant_column.in_(whole) if whole else sa.false(),
                      unit_column.in_(named) if named else sa.false())
    #: unit → its tenant, as the rows say
    owner: dict[int, int] = {}
    signed: dict[int, set] = defaultdict(set)
    checked: dict[int, set] = defaultdict(set)
    visits: dict[int, list] = defaultdict(list)
    if window.months:
        for tid, unit_id, kind, month, recorded_by_id, late, amends_id, status in db.session.execute(
                sa.select(Inspection.tenant_id, Inspection.unit_id, Inspection.kind, Inspection.month,
                          Inspection.recorded_by_id, SignOff.is_late, Inspection.amends_id, Inspection.status)
                .outerjoin(SignOff, SignOff.inspection_id == Inspection.id)
                .where(Inspection.month.in_(window.months), only(Inspection.tenant_id, Inspection.unit_id))
                .order_by(Inspection.id)):
            owner[unit_id] = tid
            if kind == "self":
                if amends_id is None and late is False:
                    signed[unit_id].add(month)
            elif status == "draft":
                continue
            elif kind == "township":
                checked[unit_id].add(month)
            elif kind == "unannounced":
                visits[unit_id].append((recorded_by_id, month))
    staff: dict[int, set] = defaultdict(set)
    bureau: dict[int, set] = defaultdict(set)
    for tid, unit_id, level, held_on in db.session.execute(
            sa.select(LearningSession.tenant_id, LearningSession.unit_id, LearningSession.level, LearningSession.held_on)
            .where(LearningSession.held_on >= window.learning_start,
                   LearningSession.held_on <= window.today, LearningSession.level.in_(("all_staff", "bureau_staff")),
                   only(LearningSession.tenant_id, LearningSession.unit_id))):
        owner[unit_id] = tid
        (staff if level == "all_staff" else bureau)[unit_id].add(held_on)
    principals: dict[int, set] = defaultdict(set)
    for tid, unit_id, held_on in db.session.execute(
            sa.select(LearningAttendee.tenant_id, LearningAttendee.unit_id, LearningSession.held_on)
            .join(LearningSession, LearningSession.id == LearningAttendee.session_id)
            .where(LearningSession.held_on >= window.learning_start,
                   LearningSession.held_on <= window.today, LearningSession.level == "principals",
                   LearningAttendee.role == "principal", LearningAttendee.is_active.is_(True),
                   only(LearningAttendee.tenant_id, LearningAttendee.unit_id))):
        owner[unit_id] = tid
        principals[unit_id].add(held_on)
    hazards: dict[int, list] = defaultdict(list)
    days: dict[int, list] = defaultdict(list)
    is_open = Hazard.status.in_(OPEN_STATUSES)
    overdue = sa.func.sum(sa.case((sa.and_(is_open, Hazard.deadline < window.today), 1), else_=0))
    on_time = sa.func.sum(sa.case((sa.and_(Hazard.status == "closed", sa.or_(
        Hazard.deadline.is_(None), Hazard.closed_on <= Hazard.deadline)), 1), else_=0))
    listed_open = sa.func.sum(sa.case((sa.and_(is_open, Hazard.level == "major", Hazard.is_listed.is_(True)), 1),
                                      else_=0))
    found = (Hazard.found_on >= window.start, Hazard.found_on <= window.end,
             Hazard.status != "voided", only(Hazard.tenant_id, Hazard.school_id))
    for tid, school_id, level, source, status, n, n_overdue, n_on_time, n_listed in db.session.execute(
            sa.select(Hazard.tenant_id, Hazard.school_id, Hazard.level, Hazard.source, Hazard.status, sa.func.count(),
                      overdue, on_time, listed_open).where(*found)
            .group_by(Hazard.tenant_id, Hazard.school_id, Hazard.level, Hazard.source, Hazard.status)):
        owner[school_id] = tid
        hazards[school_id].append(HazardLine(level, source, status, int(n), int(n_overdue or 0),
                                             int(n_on_time or 0), int(n_listed or 0)))
    for school_id, found_on, closed_on in db.session.execute(
            sa.select(Hazard.school_id, Hazard.found_on, Hazard.closed_on)
            .where(*found, Hazard.status == "closed", Hazard.closed_on.is_not(None))):
        days[school_id].append((closed_on - found_on).days)
    touched = set(signed) | set(checked) | set(visits) | set(staff) | set(bureau) | set(principals) | set(hazards)
    out: dict[int, dict[int, SchoolFacts]] = {tid: {} for tid in wanted}
    for uid in touched:
        out.setdefault(owner[uid], {})[uid] = SchoolFacts(
            frozenset(signed.get(uid, ())), frozenset(checked.get(uid, ())), tuple(visits.get(uid, ())),
            frozenset(staff.get(uid, ())), frozenset(principals.get(uid, ())), frozenset(bureau.get(uid, ())),
            tuple(sorted(hazards.get(uid, ()))), tuple(sorted(days.get(uid, ()))))
    return out


def district_whole(tenant_id: int, start: date, end: date, today: date, with_directives: bool) -> DistrictWhole:
    """The district's schools, leaders, directives, deliverables and 随手拍 of the period."""
    active_school = sa.and_(OrgUnit.kind.in_(SCHOOL_KINDS), OrgUnit.is_active.is_(True))
    root = db.session.execute(sa.select(OrgUnit).where(OrgUnit.tenant_id == tenant_id,
                                                       OrgUnit.parent_id.is_(None))).scalars().first()
    schools = db.session.execute(sa.select(sa.func.count()).where(OrgUnit.tenant_id == tenant_id, active_school)).scalar()
    parent = aliased(OrgUnit)
    township_schools = db.session.execute(
        sa.select(sa.func.count()).select_from(OrgUnit).join(parent, parent.id == OrgUnit.parent_id)
        .where(OrgUnit.tenant_id == tenant_id, active_school, parent.kind == "township_center")).scalar()
    inactive = frozenset(db.session.execute(sa.select(OrgUnit.id).where(
        OrgUnit.tenant_id == tenant_id, OrgUnit.kind.in_(SCHOOL_KINDS), OrgUnit.is_active.is_(False))).scalars())
    assigned = frozenset(db.session.execute(sa.select(LeaderAssignment.leader_id).where(
        LeaderAssignment.tenant_id == tenant_id, LeaderAssignment.is_active.is_(True)).distinct()).scalars())
    directives = None
    if with_directives:
        late = sa.func.sum(sa.case((sa.and_(Directive.status.in_(RUNNING_STATUSES), Directive.deadline < today), 1),
                                   else_=0))
        issued, overdue = db.session.execute(
            sa.select(sa.func.count(), late).where(Directive.tenant_id == tenant_id, Directive.issued_on >= start,
                                                   Directive.issued_on <= end)).one()
        directives = (int(issued or 0), int(overdue or 0))
    deliverables = (0, 0)
    last = min(end, today - timedelta(days=1))
    if last >= start:
        due = ok = 0
        for submitted_at, due_on in db.session.execute(
                sa.select(Deliverable.submitted_at, DeliverableSpec.due_on)
                .join(DeliverableSpec, DeliverableSpec.id == Deliverable.spec_id)
                .join(Campaign, Campaign.id == Deliverable.campaign_id)
                .where(Deliverable.tenant_id == tenant_id, DeliverableSpec.due_on >= start,
                       DeliverableSpec.due_on <= last, Campaign.status != "draft")):
            due += 1
            ok += 1 if submitted_at is not None and clock.local_date(submitted_at) <= due_on else 0
        deliverables = (due, ok)
    last_public = min(end, today)
    received, triage_days = district_figures([tenant_id], start, last_public).get(tenant_id, (0, [])) \
        if start <= last_public else (0, [])
    return DistrictWhole(root, int(schools or 0), int(township_schools or 0), inactive, len(assigned), assigned,
                         directives, deliverables, (received, tuple(triage_days)))


@dataclass
class CityFacts:
    """Every district's whole and school pieces for one window, and the key naming this state."""

    key: tuple
    window: Window
    wholes: dict[int, DistrictWhole]
    schools: dict[int, dict[int, SchoolFacts]]


def city_facts(ids: list[int], window: Window, with_directives: bool) -> CityFacts:
    """The districts' facts, each district's whole and schools kept by
    :mod:`hazardhub.datacache` (one head query for all districts)."""
    datacache.watches(ids)
    pieces = datacache.unit_pieces_of(("city_schools", window), ids, lambda wanted: school_facts(wanted, window))
    wholes, schools, generations = {}, {}, []
    for tid in ids:
        g_whole, wholes[tid] = datacache.tenant_part(
            ("city_whole", window.start, window.end, window.today, with_directives), tid,
            lambda tid=tid: district_whole(tid, window.start, window.end, window.today, with_directives))
        g_schools, schools[tid] = pieces[tid]
        generations.append((tid, g_whole, g_schools))
    return CityFacts(("city_facts", window, with_directives, tuple(generations)), window, wholes, schools)


# ---------------------------------------------------------------------------------------------
# the comparison's dicts, from the facts


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _counted(facts: CityFacts, tid: int, what: str, months: list[str], by_month: bool) -> dict:
    """School-months (``signed``, ``checked``) of active schools, per tenant or (tenant, month)."""
    wanted, inactive = set(months), facts.wholes[tid].inactive
    out: dict = defaultdict(int)
    for uid, piece in facts.schools[tid].items():
        if uid in inactive:
            continue
        for month in getattr(piece, what) & wanted:
            out[(tid, month) if by_month else tid] += 1
    return out


def signed_on_time(facts: CityFacts, months: list[str], *, by_month: bool = False) -> dict:
    out: dict = {}
    for tid in facts.schools:
        out.update(_counted(facts, tid, "signed", months, by_month))
    return out


def township_checked(facts: CityFacts, months: list[str], *, by_month: bool = False) -> dict:
    out: dict = {}
    for tid in facts.schools:
        out.update(_counted(facts, tid, "checked", months, by_month))
    return out


def unannounced(facts: CityFacts, months: list[str]) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """(leaders with an active assignment, leader-months visited by them, visits recorded) per tenant."""
    wanted = set(months)
    leaders, visited, visits = {}, {}, {}
    for tid, pieces in facts.schools.items():
        whole = facts.wholes[tid]
        if whole.leaders:
            leaders[tid] = whole.leaders
        pairs = [pair for piece in pieces.values() for pair in piece.visits if pair[1] in wanted]
        if pairs:
            visits[tid] = len(pairs)
            n = len({pair for pair in pairs if pair[0] in whole.assigned})
            if n:
                visited[tid] = n
    return leaders, visited, visits


def learning(facts: CityFacts, start: date, end: date, *, by_month: bool = False) -> dict[str, dict]:
    """School-months (bureau-months) with 三学 at each level, held from ``start`` to ``end``."""
    out: dict[str, dict] = {"staff": defaultdict(int), "principals": defaultdict(int), "bureau": defaultdict(int)}
    for tid, pieces in facts.schools.items():
        inactive = facts.wholes[tid].inactive
        bureau_months: set[str] = set()
        for uid, piece in pieces.items():
            bureau_months |= {_month(d) for d in piece.bureau if start <= d <= end}
            if uid in inactive:
                continue
            for level in ("staff", "principals"):
                for month in {_month(d) for d in getattr(piece, level) if start <= d <= end}:
                    out[level][(tid, month) if by_month else tid] += 1
        for month in bureau_months:
            out["bureau"][(tid, month) if by_month else tid] += 1
    return {level: dict(counts) for level, counts in out.items()}


def hazards(facts: CityFacts) -> dict[int, HazardTotals]:
    """Hazards found in the period (not voided), per tenant."""
    totals: dict[int, HazardTotals] = {}
    for tid, pieces in facts.schools.items():
        for piece in pieces.values():
            if not piece.hazards:
                continue
            t = totals.setdefault(tid, HazardTotals())
            for line in piece.hazards:
                t.total += line.n
                if line.level == "major":
                    t.major += line.n
                else:
                    t.general += line.n
                if line.source == "self":
                    t.self_found += line.n
                elif line.source in SUPERVISION_SOURCES:
                    t.supervision += line.n
                if line.status == "closed":
                    t.closed += line.n
                    t.closed_on_time += line.on_time
                t.overdue += line.overdue
                t.listed_open_major += line.listed
            t.days.extend(piece.days)
    return totals
