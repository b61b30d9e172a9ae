"""The ledger's counters (by status, open ones by level, overdue), kept per school.

Why per school: the counters are one ``GROUP BY`` over every hazard of the district (22 ms of SQL
on 30,000 hazards, before the page's other work), and every hazard edit anywhere in the district
used to throw them away. Kept as one piece per school (:func:`hazardhub.datacache.unit_pieces`), an
edit recomputes its own school's counts: one small grouped query over that school's hazards.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa

from hazardhub import datacache
from hazardhub.extensions import db
from hazardhub.hazards.models import OPEN_STATUSES, Hazard


class CountRow(NamedTuple):
    """Hazards of one school path with one status, level and lateness (a piece's line).

    ``versions`` and ``last_id`` make the piece change whenever any of these hazards does (every
    ORM update raises a hazard's ``version_id``; a new hazard has the highest id): so the piece
    set's generation names the state of the district's rows, and the ledger's body can be kept
    under it without reading the page's rows first.
    """

    path: str
    status: str
    level: str
    late: bool
    n: int
    versions: int
    last_id: int


class LedgerCounts(NamedTuple):
    by_status: dict
    by_level: dict
    overdue: int


def school_pieces(tenant_id: int, today: date, units: list[int] | None) -> dict[int, tuple[CountRow, ...]]:
    """``{school id: its count rows}`` for the tenant's schools (or only ``units``)."""
    late = sa.case((Hazard.deadline < today, 1), else_=0)
    stmt = (sa.select(Hazard.school_id, Hazard.school_path, Hazard.status, Hazard.level, late, sa.func.count(),
                      sa.func.sum(Hazard.version_id), sa.func.max(Hazard.id))
            .where(Hazard.tenant_id == tenant_id)
            .group_by(Hazard.school_id, Hazard.school_path, Hazard.status, Hazard.level, late))
    if units is not None:
        stmt = stmt.where(Hazard.school_id.in_(units))
    pieces: dict[int, list[CountRow]] = defaultdict(list)
    for school_id, path, status, level, is_late, n, versions, last_id in db.session.execute(stmt):
        pieces[school_id].append(CountRow(path, status, level, bool(is_late), int(n), int(versions), int(last_id)))
    return {school: tuple(sorted(rows)) for school, rows in pieces.items()}


def ledger_counts(prefixes: list[tuple[int, str]], unit_path: str | None, today: date) -> tuple[tuple, LedgerCounts]:
    """Counts over the hazards whose school path starts with one of ``prefixes`` (tenant, path)
    and, when given, with ``unit_path`` (the ledger's unit filter), voided ones included in
    ``by_status`` — what ``ledger_query(roots, LedgerFilters(unit_id=…, include_voided=True))``
    would count — with the key that names this state of them."""
    tenants = sorted({tid for tid, _path in prefixes})
    datacache.data_version(tenants)  # every tenant's head in one query
    sets = {tid: datacache.unit_pieces(("ledger_counts", today), tid,
                                       lambda units, tid=tid: school_pieces(tid, today, units))
            for tid in tenants}
    key = ("ledger_counts_sum", tuple(sorted(prefixes)), unit_path, today,
           tuple((tid, generation) for tid, (generation, _p) in sorted(sets.items())))
    return key, datacache.built_from_pieces(key, lambda: _sum(sets, prefixes, unit_path))


def _sum(sets: dict, prefixes: list[tuple[int, str]], unit_path: str | None) -> LedgerCounts:
    by_status: dict = {}
    by_level: dict = {}
    overdue = 0
    for tid, (_generation, pieces) in sets.items():
        roots = [path for t, path in prefixes if t == tid]
        for rows in pieces.values():
            for row in rows:
                if not any(row.path.startswith(root) for root in roots):
                    continue
                if unit_path is not None and not row.path.startswith(unit_path):
                    continue
                by_status[row.status] = by_status.get(row.status, 0) + row.n
                if row.status in OPEN_STATUSES:
                    by_level[row.level] = by_level.get(row.level, 0) + row.n
                    overdue += row.n if row.late else 0
    return LedgerCounts(by_status, by_level, overdue)
