"""The monthly compliance matrix (三学三查 落实情况), derived from the records — nothing stored.

For a month and the user's scope: per school, the principal's self-inspection (signed on time,
late, not yet signed, missing), the township's check, the all-staff learning and the principal's
learning; per township, the share of its schools it checked and its principals session; per
bureau leader, the assigned units visited; the bureau's own staff learning. Every cell is green,
amber or red; amber means "not yet, but the month is not over" or "done late".

A cell carries a code (``self_due``, ``check_done``, …), never a sentence: the reminders decide
what is due by the code, and the one mapping :data:`CELL_LABELS` gives every page, the Excel export
and the reminders the same words for it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa

from hazardhub import clock, datacache
from hazardhub.accounts.models import Membership, User
from hazardhub.extensions import db
from hazardhub.inspections.models import Inspection, LeaderAssignment, SignOff
from hazardhub.learning.models import LearningAttendee, LearningSession
from hazardhub.orgs.models import OrgUnit

GREEN, AMBER, RED, NONE = "green", "amber", "red", "none"

#: the words of every cell code, the one place a matrix cell's Chinese lives (``{n}``: the cell's
#: count of checks, sessions or visits). A ``*_due`` code is amber while the month runs and turns
#: into its ``*_missing`` (red) once the month is over.
CELL_LABELS: dict[str, str] = {
    # the principal-led monthly self-inspection
    "self_signed": "按时签字",
    "self_signed_late": "逾期签字",
    "self_awaiting_signature": "待校长签字",
    "self_unsigned": "未签字",
    "self_due": "本月待自查",
    "self_missing": "未自查",
    # the township's check of a school
    "check_done": "已检查 {n} 次",
    "check_due": "本月待检查",
    "check_missing": "未检查",
    # a learning session the unit organises (all staff, its principals, the bureau's staff)
    "sessions_held": "{n} 次",
    "organise_due": "本月待组织",
    "organise_missing": "未组织",
    # the school's principal at the township's principals session
    "attended": "已参加",
    "attend_due": "本月待参加",
    "attend_missing": "未参加",
    # a bureau leader's unannounced visits to the assigned units
    "visits_done": "暗访 {n} 次",
    "visit_due": "本月待暗访",
    "visit_missing": "未暗访",
    "unassigned": "未分包",
    # nothing to do here (a school without a township, a township without schools)
    "not_applicable": "—",
}


class UnitRef(NamedTuple):
    """The few fields of a unit the matrix shows (plain values: matrices are cached across requests)."""

    id: int
    name: str
    kind: str
    parent_id: int | None

    @property
    def is_school(self) -> bool:
        return self.kind in ("school", "affiliated_school")


class LeaderRef(NamedTuple):
    id: int
    display_name: str


class _InspectionRow(NamedTuple):
    id: int
    unit_id: int
    kind: str
    status: str
    recorded_by_id: int
    amends_id: int | None


@dataclass
class Cell:
    #: the colour: green, amber, red, or none (does not apply, not counted)
    state: str
    #: what the cell says, a key of :data:`CELL_LABELS`
    code: str
    #: ids of the record behind the cell, when there is one (the page links them)
    url_args: dict | None = None
    #: how many checks, sessions or visits, for the codes whose words count them
    count: int | None = None

    @property
    def text(self) -> str:
        """The cell in words (the pages and the export show this)."""
        return CELL_LABELS[self.code].format(n=self.count)


@dataclass
class SchoolRow:
    unit: UnitRef
    township: UnitRef | None
    self_check: Cell
    township_check: Cell
    staff_learning: Cell
    principal_learning: Cell


@dataclass
class TownshipRow:
    unit: UnitRef
    schools: int
    checked: int
    principals_session: Cell

    @property
    def share(self) -> float:
        return self.checked / self.schools if self.schools else 0.0


@dataclass
class LeaderRow:
    leader: LeaderRef
    assigned: list[str]
    visits: int
    cell: Cell


@dataclass
class Matrix:
    month: str
    in_progress: bool
    schools: list[SchoolRow] = field(default_factory=list)
    townships: list[TownshipRow] = field(default_factory=list)
    leaders: list[LeaderRow] = field(default_factory=list)
    bureau_learning: list[tuple[UnitRef, Cell]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Green/amber/red cells of the whole matrix (cells that do not apply are not counted)."""
        cells = [c for row in self.schools
                 for c in (row.self_check, row.township_check, row.staff_learning, row.principal_learning)]
        cells += [row.principals_session for row in self.townships]
        cells += [row.cell for row in self.leaders]
        cells += [c for _, c in self.bureau_learning]
        return {state: sum(1 for c in cells if c.state == state) for state in (GREEN, AMBER, RED)}


def month_bounds(month: str) -> tuple[date, date]:
    year, mon = (int(p) for p in month.split("-"))
    return date(year, mon, 1), clock.month_end(month)


def _missing(in_progress: bool, what: str) -> Cell:
    """Not done: ``<what>_due`` (amber) while the month runs, ``<what>_missing`` (red) after it."""
    return Cell(AMBER, f"{what}_due") if in_progress else Cell(RED, f"{what}_missing")


def build(roots: list[OrgUnit], month: str, today: date) -> Matrix:
    """The matrix for ``month`` under the given root units (all queries scoped by tenant).

    Cached by the data version of the roots' tenants (:mod:`hazardhub.datacache`): a district's
    matrix reads every school's month, and the same matrix is asked for by every clerk and leader
    of the district until somebody records something.
    """
    if not roots:
        start, end = month_bounds(month)
        return Matrix(month=month, in_progress=start <= today <= end)
    return datacache.cached_under(roots, ("compliance_matrix", month, today), lambda: _build(roots, month, today))


def _build(roots: list[OrgUnit], month: str, today: date) -> Matrix:
    start, end = month_bounds(month)
    matrix = Matrix(month=month, in_progress=start <= today <= end)
    in_scope = sa.or_(*[(OrgUnit.tenant_id == r.tenant_id) & OrgUnit.path.startswith(r.path, autoescape=True)
                        for r in roots])
    units = [UnitRef(*row) for row in db.session.execute(
        sa.select(OrgUnit.id, OrgUnit.name, OrgUnit.kind, OrgUnit.parent_id)
        .where(in_scope, OrgUnit.is_active.is_(True)).order_by(OrgUnit.path))]
    by_id = {u.id: u for u in units}
    schools = [u for u in units if u.is_school]
    townships = [u for u in units if u.kind == "township_center"]
    bureaus = [u for u in units if u.kind == "bureau"]
    school_ids = [u.id for u in schools]

    inspections = [_InspectionRow(*row) for row in db.session.execute(
        sa.select(Inspection.id, Inspection.unit_id, Inspection.kind, Inspection.status,
                  Inspection.recorded_by_id, Inspection.amends_id)
        .where(Inspection.month == month, Inspection.unit_id.in_(school_ids))
        .order_by(Inspection.id))] if school_ids else []
    signoffs = dict(db.session.execute(
        sa.select(SignOff.inspection_id, SignOff.is_late)
        .where(SignOff.inspection_id.in_([i.id for i in inspections]))).all()) if inspections else {}
    self_by_school: dict[int, list[_InspectionRow]] = defaultdict(list)
    township_by_school: dict[int, list[_InspectionRow]] = defaultdict(list)
    visits_by_leader: dict[int, int] = defaultdict(int)
    for inspection in inspections:
        if inspection.kind == "self":
            self_by_school[inspection.unit_id].append(inspection)
        elif inspection.kind == "township" and inspection.status != "draft":
            township_by_school[inspection.unit_id].append(inspection)
        elif inspection.kind == "unannounced" and inspection.status != "draft":
            visits_by_leader[inspection.recorded_by_id] += 1

    sessions = db.session.execute(
        sa.select(LearningSession.id, LearningSession.unit_id, LearningSession.level)
        .where(LearningSession.held_on >= start, LearningSession.held_on <= end,
               LearningSession.unit_id.in_(list(by_id))).order_by(LearningSession.id)).all() if by_id else []
    staff_sessions: dict[int, list] = defaultdict(list)
    principals_sessions: dict[int, list] = defaultdict(list)
    bureau_sessions: dict[int, list] = defaultdict(list)
    for s in sessions:
        {"all_staff": staff_sessions, "principals": principals_sessions,
         "bureau_staff": bureau_sessions}[s.level][s.unit_id].append(s)
    principal_sessions = {s.id for group in principals_sessions.values() for s in group}
    principals_present = set(db.session.execute(
        sa.select(LearningAttendee.unit_id).where(LearningAttendee.session_id.in_(principal_sessions),
                                                  LearningAttendee.role == "principal",
                                                  LearningAttendee.is_active.is_(True))).scalars()) \
        if principal_sessions else set()

    for school in schools:
        township = by_id.get(school.parent_id) if by_id.get(school.parent_id) and \
            by_id[school.parent_id].kind == "township_center" else None
        matrix.schools.append(SchoolRow(
            unit=school, township=township,
            self_check=_self_cell(self_by_school.get(school.id, []), signoffs, matrix.in_progress),
            township_check=(Cell(GREEN, "check_done", {"inspection_id": township_by_school[school.id][0].id},
                                 count=len(township_by_school[school.id]))
                            if township_by_school.get(school.id) else
                            (_missing(matrix.in_progress, "check") if township else Cell(NONE, "not_applicable"))),
            staff_learning=(Cell(GREEN, "sessions_held", {"session_id": staff_sessions[school.id][0].id},
                                 count=len(staff_sessions[school.id]))
                            if staff_sessions.get(school.id) else _missing(matrix.in_progress, "organise")),
            principal_learning=(Cell(GREEN, "attended") if school.id in principals_present
                                else _missing(matrix.in_progress, "attend")),
        ))
    for township in townships:
        below = [s for s in schools if s.parent_id == township.id]
        checked = sum(1 for s in below if township_by_school.get(s.id))
        matrix.townships.append(TownshipRow(
            unit=township, schools=len(below), checked=checked,
            principals_session=(Cell(GREEN, "sessions_held", count=len(principals_sessions[township.id]))
                                if principals_sessions.get(township.id)
                                else Cell(NONE, "not_applicable") if not below  # no schools: nothing to organise
                                else _missing(matrix.in_progress, "organise"))))
    for bureau in bureaus:
        matrix.bureau_learning.append((bureau, Cell(GREEN, "sessions_held", count=len(bureau_sessions[bureau.id]))
                                       if bureau_sessions.get(bureau.id)
                                       else _missing(matrix.in_progress, "organise")))
    tenant_ids = {r.tenant_id for r in roots}
    leaders = [LeaderRef(*row) for row in db.session.execute(
        sa.select(User.id, User.display_name).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == "bureau_leader", Membership.is_active.is_(True), User.tenant_id.in_(tenant_ids))
        .group_by(User.id, User.display_name).order_by(User.display_name, User.id))]
    assignments = db.session.execute(
        sa.select(LeaderAssignment.leader_id, OrgUnit.name).join(OrgUnit, OrgUnit.id == LeaderAssignment.unit_id)
        .where(LeaderAssignment.is_active.is_(True))).all()
    assigned: dict[int, list[str]] = defaultdict(list)
    for leader_id, name in assignments:
        assigned[leader_id].append(name)
    for leader in leaders:
        visits = visits_by_leader.get(leader.id, 0)
        if not assigned.get(leader.id):
            cell = Cell(NONE, "unassigned")
        elif visits:
            cell = Cell(GREEN, "visits_done", count=visits)
        else:
            cell = _missing(matrix.in_progress, "visit")
        matrix.leaders.append(LeaderRow(leader=leader, assigned=assigned.get(leader.id, []), visits=visits, cell=cell))
    return matrix


def _self_cell(inspections: list[_InspectionRow], signoffs: dict[int, bool], in_progress: bool) -> Cell:
    """On time (green), signed late (amber), not yet signed (amber, red once the month is over), missing."""
    if not inspections:
        return _missing(in_progress, "self")
    signed = [i for i in inspections if i.id in signoffs and i.amends_id is None] or \
        [i for i in inspections if i.id in signoffs]
    if signed:
        first = signed[0]
        if signoffs[first.id]:  # signed late
            return Cell(AMBER, "self_signed_late", {"inspection_id": first.id})
        return Cell(GREEN, "self_signed", {"inspection_id": first.id})
    latest = inspections[-1]
    if in_progress:
        return Cell(AMBER, "self_awaiting_signature", {"inspection_id": latest.id})
    return Cell(RED, "self_unsigned", {"inspection_id": latest.id})


def school_months(school: OrgUnit, months: list[str], today: date) -> list[tuple[str, SchoolRow]]:
    """A school's own months at a glance (for its unit page)."""
    result = []
    for month in months:
        matrix = build([school], month, today)
        if matrix.schools:
            result.append((month, matrix.schools[0]))
    return result


def recent_months(today: date, count: int = 6) -> list[str]:
    months = []
    year, mon = today.year, today.month
    for _ in range(count):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = (year, mon - 1) if mon > 1 else (year - 1, 12)
    return months
