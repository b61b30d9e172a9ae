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


class _SelfCheck(NamedTuple):
    """A self-inspection of the month: its sign-off's lateness, None when not signed."""

    id: int
    amends_id: int | None
    signed_late: bool | None


class MonthPiece(NamedTuple):
    """One unit's own records of one month: what the matrix reads of it (plain values, kept per
    unit by :func:`hazardhub.datacache.unit_pieces` and compared when recomputed)."""

    #: its self-inspections, by id
    self_checks: tuple[_SelfCheck, ...] = ()
    #: ids of the township checks recorded at it (not drafts), by id
    township_checks: tuple[int, ...] = ()
    #: who recorded each unannounced visit to it (not drafts)
    visits: tuple[int, ...] = ()
    #: ``(level, id)`` of the learning sessions it held, by id
    sessions: tuple[tuple[str, int], ...] = ()
    #: the units whose principals' sessions its principal attended
    attended_at: frozenset = frozenset()


class TenantUnits(NamedTuple):
    """What the matrix reads of a tenant as a whole: its active units (with their paths, for the
    scope), its leaders and whom they are assigned to."""

    units: tuple[tuple[str, UnitRef], ...]
    leaders: tuple[LeaderRef, ...]
    assigned: dict


def build(roots: list[OrgUnit], month: str, today: date) -> Matrix:
    """The matrix for ``month`` under the given root units (all queries scoped by tenant).

    Kept per school (:mod:`hazardhub.datacache`): a district's matrix reads every school's month,
    and the same matrix is asked for by every clerk and leader of the district; a sign-off
    recomputes its own school's piece of the month, not the district's 300.
    """
    return build_with_key(roots, month, today)[1]


def build_with_key(roots: list[OrgUnit], month: str, today: date) -> tuple[tuple, Matrix]:
    """:func:`build`, with a key naming this state of the matrix (for what is rendered from it)."""
    start, end = month_bounds(month)
    if not roots:
        return ("empty", month, today), Matrix(month=month, in_progress=start <= today <= end)
    tenants = sorted({r.tenant_id for r in roots})
    datacache.data_version(tenants)  # every tenant's head in one query
    parts = {tid: datacache.tenant_part(("compliance_units",), tid, lambda tid=tid: _tenant_units(tid))
             for tid in tenants}
    pieces = {tid: datacache.unit_pieces(("compliance_month", month), tid,
                                         lambda units, tid=tid: month_pieces(tid, month, units))
              for tid in tenants}
    scope = tuple(sorted((r.tenant_id, r.path) for r in roots))
    key = ("compliance_matrix", month, today, scope,
           tuple((tid, parts[tid][0], pieces[tid][0]) for tid in tenants))
    return key, datacache.built_from_pieces(key, lambda: assemble(
        scope, month, today, {tid: p for tid, (_g, p) in parts.items()},
        {tid: p for tid, (_g, p) in pieces.items()}))


def _tenant_units(tenant_id: int) -> TenantUnits:
    units = tuple((path, UnitRef(uid, name, kind, parent_id)) for path, uid, name, kind, parent_id in db.session.execute(
        sa.select(OrgUnit.path, OrgUnit.id, OrgUnit.name, OrgUnit.kind, OrgUnit.parent_id)
        .where(OrgUnit.tenant_id == tenant_id, OrgUnit.is_active.is_(True)).order_by(OrgUnit.path)))
    leaders = tuple(LeaderRef(*row) for row in db.session.execute(
        sa.select(User.id, User.display_name).join(Membership, Membership.user_id == User.id)
        .where(Membership.role == "bureau_leader", Membership.is_active.is_(True), User.tenant_id == tenant_id)
        .group_by(User.id, User.display_name).order_by(User.display_name, User.id)))
    assigned: dict[int, list[str]] = defaultdict(list)
    for leader_id, name in db.session.execute(
            sa.select(LeaderAssignment.leader_id, OrgUnit.name).join(OrgUnit, OrgUnit.id == LeaderAssignment.unit_id)
            .where(LeaderAssignment.is_active.is_(True), LeaderAssignment.tenant_id == tenant_id)
            .order_by(LeaderAssignment.id)):
        assigned[leader_id].append(name)
    return TenantUnits(units, leaders, dict(assigned))


def month_pieces(tenant_id: int, month: str, units: list[int] | None) -> dict[int, MonthPiece]:
    """``{unit id: MonthPiece}`` of the tenant's units with records in ``month`` (or of ``units``)."""
    start, end = month_bounds(month)
    only = (lambda column: column.in_(units)) if units is not None else (lambda column: sa.true())
    self_checks: dict[int, list[_SelfCheck]] = defaultdict(list)
    township: dict[int, list[int]] = defaultdict(list)
    visits: dict[int, list[int]] = defaultdict(list)
    for iid, unit_id, kind, status, recorded_by_id, amends_id, late in db.session.execute(
            sa.select(Inspection.id, Inspection.unit_id, Inspection.kind, Inspection.status,
                      Inspection.recorded_by_id, Inspection.amends_id, SignOff.is_late)
            .outerjoin(SignOff, SignOff.inspection_id == Inspection.id)
            .where(Inspection.tenant_id == tenant_id, Inspection.month == month, only(Inspection.unit_id))
            .order_by(Inspection.id)):
        if kind == "self":
            self_checks[unit_id].append(_SelfCheck(iid, amends_id, None if late is None else bool(late)))
        elif kind == "township" and status != "draft":
            township[unit_id].append(iid)
        elif kind == "unannounced" and status != "draft":
            visits[unit_id].append(recorded_by_id)
    sessions: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for sid, unit_id, level in db.session.execute(
            sa.select(LearningSession.id, LearningSession.unit_id, LearningSession.level)
            .where(LearningSession.tenant_id == tenant_id, LearningSession.held_on >= start,
                   LearningSession.held_on <= end, only(LearningSession.unit_id)).order_by(LearningSession.id)):
        sessions[unit_id].append((level, sid))
    attended: dict[int, set[int]] = defaultdict(set)
    for unit_id, session_unit in db.session.execute(
            sa.select(LearningAttendee.unit_id, LearningSession.unit_id)
            .join(LearningSession, LearningSession.id == LearningAttendee.session_id)
            .where(LearningAttendee.tenant_id == tenant_id, LearningSession.level == "principals",
                   LearningSession.held_on >= start, LearningSession.held_on <= end,
                   LearningAttendee.role == "principal", LearningAttendee.is_active.is_(True),
                   only(LearningAttendee.unit_id))):
        attended[unit_id].add(session_unit)
    touched = set(self_checks) | set(township) | set(visits) | set(sessions) | set(attended)
    return {uid: MonthPiece(tuple(self_checks.get(uid, ())), tuple(township.get(uid, ())), tuple(visits.get(uid, ())),
                            tuple(sessions.get(uid, ())), frozenset(attended.get(uid, ())))
            for uid in touched}


def assemble(scope: tuple[tuple[int, str], ...], month: str, today: date, parts: dict[int, TenantUnits],
             pieces: dict[int, dict[int, MonthPiece]]) -> Matrix:
    """The matrix of the units under ``scope`` ((tenant, path) roots) from their tenants' units and
    their month pieces."""
    start, end = month_bounds(month)
    matrix = Matrix(month=month, in_progress=start <= today <= end)
    # one tenant (every page but a city's): the database's order by path, as the tenant part holds
    # it; several: by path, code point order
    in_scope = [(path, unit) for tid, part in parts.items() for path, unit in part.units
                if any(t == tid and path.startswith(root) for t, root in scope)]
    if len(parts) > 1:
        in_scope.sort(key=lambda pu: pu[0])
    units = [unit for _path, unit in in_scope]
    by_id = {u.id: u for u in units}
    empty = MonthPiece()
    piece_of: dict[int, MonthPiece] = {}
    for tid, part in parts.items():
        for _path, unit in part.units:
            if unit.id in by_id:
                piece_of[unit.id] = pieces[tid].get(unit.id, empty)
    schools = [u for u in units if u.is_school]
    townships = [u for u in units if u.kind == "township_center"]
    bureaus = [u for u in units if u.kind == "bureau"]
    visits_by_leader: dict[int, int] = defaultdict(int)
    for school in schools:
        for leader_id in piece_of[school.id].visits:
            visits_by_leader[leader_id] += 1

    def held(unit_id: int, level: str) -> list[int]:
        return [sid for lvl, sid in piece_of[unit_id].sessions if lvl == level]

    principal_session_units = {u.id for u in units if held(u.id, "principals")}
    for school in schools:
        piece = piece_of[school.id]
        township = by_id.get(school.parent_id) if by_id.get(school.parent_id) and \
            by_id[school.parent_id].kind == "township_center" else None
        staff = held(school.id, "all_staff")
        matrix.schools.append(SchoolRow(
            unit=school, township=township,
            self_check=_self_cell(list(piece.self_checks), matrix.in_progress),
            township_check=(Cell(GREEN, "check_done", {"inspection_id": piece.township_checks[0]},
                                 count=len(piece.township_checks))
                            if piece.township_checks else
                            (_missing(matrix.in_progress, "check") if township else Cell(NONE, "not_applicable"))),
            staff_learning=(Cell(GREEN, "sessions_held", {"session_id": staff[0]}, count=len(staff))
                            if staff else _missing(matrix.in_progress, "organise")),
            principal_learning=(Cell(GREEN, "attended") if piece.attended_at & principal_session_units
                                else _missing(matrix.in_progress, "attend")),
        ))
    for township in townships:
        below = [s for s in schools if s.parent_id == township.id]
        checked = sum(1 for s in below if piece_of[s.id].township_checks)
        sessions = held(township.id, "principals")
        matrix.townships.append(TownshipRow(
            unit=township, schools=len(below), checked=checked,
            principals_session=(Cell(GREEN, "sessions_held", count=len(sessions)) if sessions
                                else Cell(NONE, "not_applicable") if not below  # no schools: nothing to organise
                                else _missing(matrix.in_progress, "organise"))))
    for bureau in bureaus:
        sessions = held(bureau.id, "bureau_staff")
        matrix.bureau_learning.append((bureau, Cell(GREEN, "sessions_held", count=len(sessions)) if sessions
                                       else _missing(matrix.in_progress, "organise")))
    leaders = [leader for part in parts.values() for leader in part.leaders]
    if len(parts) > 1:
        leaders.sort(key=lambda leader: (leader.display_name, leader.id))
    assigned: dict[int, list[str]] = {}
    for part in parts.values():
        assigned.update(part.assigned)
    for leader in leaders:
        visits = visits_by_leader.get(leader.id, 0)
        if not assigned.get(leader.id):
            cell = Cell(NONE, "unassigned")
        elif visits:
            cell = Cell(GREEN, "visits_done", count=visits)
        else:
            cell = _missing(matrix.in_progress, "visit")
        matrix.leaders.append(LeaderRow(leader=leader, assigned=list(assigned.get(leader.id, [])), visits=visits,
                                        cell=cell))
    return matrix


def _self_cell(inspections: list[_SelfCheck], in_progress: bool) -> Cell:
    """On time (green), signed late (amber), not yet signed (amber, red once the month is over), missing."""
    if not inspections:
        return _missing(in_progress, "self")
    signed = [i for i in inspections if i.signed_late is not None and i.amends_id is None] or \
        [i for i in inspections if i.signed_late is not None]
    if signed:
        first = signed[0]
        if first.signed_late:
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
