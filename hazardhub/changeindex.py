"""Which school's figures a committed write touched: the narrow version keys of #15 item 2.

Every committed change to a versioned table moves its tenant's audit-chain head, and the kept
figures of :mod:`hazardhub.datacache` were keyed by that head: one principal's sign-off made every
figure of the district, and the city's comparison of all six districts, be computed again — in
every web process. Most figures are sums over schools, and most writes touch one school. So each
chain link also names the org units whose records the transaction changed (``audit_chain_links.units``):
``"12,40"``, or ``"*"`` when it changed something that is not one school's (a unit, an account, a
directive, a campaign…), or NULL (links written before migration 0021 and by the bulk path) which
counts as ``"*"``. A figure kept per school is then recomputed only for the schools named since.

Why on the link, and not a table of its own: the link is already written in the seal's own
statement, so naming the units costs no statement; and it is read back with one indexed range
query (``tenant_id, seq > n``) by each process that keeps figures. The names are not part of the
link's hash: they are a hint for caches, and a wrong hint could only make a figure stale, never
change what ``audit verify`` proves. Marking more than needed is always safe; marking less is the
one bug to avoid, which is why an undeclared versioned class marks the whole tenant.

How a model says which units its rows belong to: ``__figure_units__ = FigureUnits(...)``:

- ``own``: its columns holding a unit id (the value before and after the change both count);
- ``via``: ``(table, fk column, unit column)``: the unit of the row it belongs to
  (a sign-off → its inspection's school);
- ``children``: ``(table, column pointing here, unit column)``: units of the rows that depend on
  it (a principals' session → the schools of its attendees, whose figures read the session's date);
- ``no_unit=True``: its rows feed no figure kept per unit or per tenant part (the city's witnessed
  heads and chain verifications, read only by figures keyed by the city's head): a transaction
  that changes only such rows names no unit (``""``) and leaves the tenant's other figures kept.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from hazardhub.db import Base, listen_once

#: the whole tenant (a change no single unit owns), as stored on the link
WHOLE_TENANT = "*"

_INFO_KEY = "hh_figure_units"


@dataclass(frozen=True)
class FigureUnits:
    """Where a versioned model's rows belong (see the module docstring)."""

    own: tuple[str, ...] = ()
    via: tuple[tuple[str, str, str], ...] = ()
    children: tuple[tuple[str, str, str], ...] = ()
    no_unit: bool = False

    def units_of(self, obj, session: Session) -> set[int] | None:
        """The unit ids ``obj``'s change touches, or None when one of them cannot be found (the
        caller then marks the whole tenant)."""
        state = sa.inspect(obj)
        units: set[int] = set()
        for name in self.own:
            history = state.attrs[name].history
            units.update(v for v in (*history.added, *history.unchanged, *history.deleted) if v is not None)
        for table_name, fk, unit_column in self.via:
            parent_id = getattr(obj, fk)
            if parent_id is None:
                continue
            unit = _held_unit(session, table_name, parent_id, unit_column)
            if unit is None:
                table = Base.metadata.tables[table_name]
                unit = session.connection().execute(
                    sa.select(table.c[unit_column]).where(table.c.id == parent_id)).scalar()
            if unit is None:
                return None
            units.add(unit)
        if self.children and obj.id is not None:
            for table_name, fk, unit_column in self.children:
                table = Base.metadata.tables[table_name]
                units.update(session.connection().execute(
                    sa.select(table.c[unit_column]).where(table.c[fk] == obj.id).distinct()).scalars())
        return units


@functools.cache
def _class_of(table_name: str):
    for mapper in Base.registry.mappers:
        if mapper.local_table is not None and getattr(mapper.local_table, "name", None) == table_name:
            return mapper.class_
    return None


def _held_unit(session: Session, table_name: str, row_id: int, unit_column: str) -> int | None:
    """The unit of a parent row the session already holds, unchanged since it was loaded (a
    sign-off's inspection is in the session that signs it): no query needed."""
    cls = _class_of(table_name)
    if cls is None:
        return None
    held = session.identity_map.get(identity_key(cls, (row_id,)))
    if held is None:
        return None
    state = sa.inspect(held)
    if unit_column not in state.dict or state.attrs[unit_column].history.has_changes():
        return None
    return state.dict[unit_column]


def _collect(session: Session, _flush_context) -> None:
    """after_flush: note the units of every versioned object this flush wrote."""
    marked = session.info.get(_INFO_KEY)
    if marked == WHOLE_TENANT:
        return
    marked = marked if marked is not None else set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        cls = type(obj)
        if not hasattr(cls, "__versioned__"):
            continue  # not versioned: moves no chain head, feeds no kept figure
        declared: FigureUnits | None = getattr(cls, "__figure_units__", None)
        if declared is None:
            session.info[_INFO_KEY] = WHOLE_TENANT
            return
        units = declared.units_of(obj, session)
        if units is None:
            session.info[_INFO_KEY] = WHOLE_TENANT
            return
        marked |= units
    session.info[_INFO_KEY] = marked


def pending_units(session: Session) -> str:
    """What the committing transaction's link says: ``"3,17"``, ``""`` (only rows that feed no
    kept figure) or ``"*"`` (read by the seal)."""
    marked = session.info.get(_INFO_KEY)
    if marked is None or marked == WHOLE_TENANT:
        # nothing noted although versions are being sealed (a write outside a flush?): be safe
        return WHOLE_TENANT
    return ",".join(str(u) for u in sorted(marked))


def parse_units(text: str | None) -> set[int] | None:
    """A link's ``units`` as ids, or None for the whole tenant (``"*"`` or NULL)."""
    if text is None or text == WHOLE_TENANT:
        return None
    return {int(u) for u in text.split(",") if u}


def _forget(session: Session, *_args) -> None:
    session.info.pop(_INFO_KEY, None)


def install_change_tracking() -> None:
    """Install the flush hook that notes the touched units, and forget them when the transaction
    ends. Called from ``hazardhub.install_listeners`` in its documented order; idempotent."""
    listen_once(Session, "after_flush", _collect)
    listen_once(Session, "after_commit", _forget)
    listen_once(Session, "after_rollback", _forget)

