"""Figures computed from many rows, kept per process and keyed by the data's version.

Why this is safe without any invalidation: every committed change to a versioned table appends a
link to its tenant's audit chain in the same database transaction (:mod:`hazardhub.audit` seals
in ``before_commit``), and the only domain tables that are not versioned (notifications, report
runs, number counters, login attempts) feed none of the figures cached here. So the pair
``(seq, head_hash)`` of a tenant's chain head names exactly one state of that tenant's data; an
aggregate computed from tenants *T* when their heads were *H* stays right for as long as the heads
are *H*. The key carries the heads of every tenant the computation reads plus everything else it
depends on (scope roots, month, today's date), so a new write path, a restore from an older backup
or a second web host can never serve a stale figure: the key simply changes. The hash is part of
the key (not just ``seq``) because a restored or rolled-back chain can reach the same ``seq``
with different content.

What is *not* cached: anything computed while this session has written and not committed
(its reads would see rows the heads do not yet cover), and anything tenant-independent.

Storage is a small LRU per process (``HAZARDHUB_DATA_CACHE_ENTRIES``, default 256; 0 turns the
cache off). What is stored is a pickled-and-restored copy of the computed value, so ORM objects in
it belong to no session: a later commit or rollback in the request that computed it cannot expire
them, and their loaded attributes read the same in every later request. (Lazy relationships are
not loaded on a copy: cached computations hand templates only what they loaded.)

How to use it::

    counts = datacache.cached(("ledger_counts", root_ids, unit_id, today), tenant_ids,
                              lambda: compute_counts(...))

Keyed by the whole tenant's head, every write in a district threw away every figure of it (and the
city's comparison, every figure of the city), in every web process: on a working day, when the
district writes every second, nothing stayed kept. So the figures that are sums over schools are
kept per school (:func:`unit_pieces`, :func:`tenant_part`, :func:`built_from_pieces`, below): each
chain link names the units its transaction changed (:mod:`hazardhub.changeindex`), each process
follows its tenants' links, and a write recomputes the pieces of the schools it named. The same
rules hold: nothing kept from uncommitted writes, a restored chain starts everything again.
"""
from __future__ import annotations

import io
import itertools
import pickle
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Hashable, Iterable, TypeVar

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy.orm import Session
from sqlalchemy.orm.state import InstanceState

from hazardhub.audit import AuditChainHead, AuditChainLink, GENESIS
from hazardhub.changeindex import parse_units
from hazardhub.db import listen_once
from hazardhub.extensions import db

T = TypeVar("T")

_lock = threading.Lock()
_entries: "OrderedDict[Hashable, Any]" = OrderedDict()
_stats = {"hits": 0, "misses": 0, "bypassed": 0, "recomputed_units": 0}


def data_version(tenant_ids: Iterable[int]) -> tuple[tuple[int, int, str], ...]:
    """``((tenant_id, seq, head_hash), …)`` of the tenants' audit-chain heads: one query for the
    heads this request has not read yet (a page that uses several kept figures reads them once)."""
    ids = tuple(sorted(set(tenant_ids)))
    seen = g.setdefault("hh_data_versions", {}) if has_request_context() else {}
    missing = tuple(tid for tid in ids if tid not in seen)
    if missing:
        seen.update({tid: (seq, head_hash) for tid, seq, head_hash in _read_heads(missing)})
    return tuple((tid, *seen[tid]) for tid in ids)


def _read_heads(ids: tuple[int, ...]) -> tuple[tuple[int, int, str], ...]:
    heads = {row.tenant_id: (row.seq, row.head_hash) for row in db.session.execute(
        sa.select(AuditChainHead.tenant_id, AuditChainHead.seq, AuditChainHead.head_hash)
        .where(AuditChainHead.tenant_id.in_(ids)))}
    return tuple((tid, *heads.get(tid, (0, GENESIS))) for tid in ids)


def _capacity() -> int:
    if not has_app_context():
        return 0
    return int(current_app.config.get("HAZARDHUB_DATA_CACHE_ENTRIES", 256))


def _session_has_writes() -> bool:
    session = db.session()
    return bool(session.new or session.dirty or session.deleted or session.info.get("hh_flushed"))


def cached(key: tuple, tenant_ids: Iterable[int], compute: Callable[[], T]) -> T:
    """Return ``compute()`` for ``key`` at the current version of ``tenant_ids``' data.

    :param key: everything the computation depends on besides the tenants' data (hashable).
    :param tenant_ids: every tenant whose rows ``compute`` reads.
    """
    if _bypassed():
        return compute()
    return _kept((key, data_version(tenant_ids)), compute)


def _bypassed() -> bool:
    """Nothing is kept with the cache off, or from a session holding uncommitted writes."""
    if _capacity() <= 0 or _session_has_writes():
        _stats["bypassed"] += 1
        return True
    return False


def _kept(full_key, compute: Callable[[], T]) -> T:
    """The value kept under ``full_key``, or ``compute()`` kept as a detached copy."""
    with _lock:
        if full_key in _entries:
            _entries.move_to_end(full_key)
            _stats["hits"] += 1
            return _entries[full_key]
    value = compute()
    _store(full_key, _detached_copy(value))
    _stats["misses"] += 1
    return value


def cached_under(roots, key: tuple, compute: Callable[[], T]) -> T:
    """:func:`cached` for a figure of the subtrees below ``roots`` (org units: a user's scope):
    the roots join the key, and their tenants' heads are the version."""
    scope = tuple(sorted((r.tenant_id, r.path) for r in roots))
    return cached((*key, scope), {r.tenant_id for r in roots}, compute)


class _DetachingPickler(pickle.Pickler):
    """Pickles ORM instances without the query options they were loaded with (the tenant
    criteria are lambdas, and a copy outside any session has no use for them)."""

    def reducer_override(self, obj):
        if isinstance(obj, InstanceState):
            state = obj.__getstate__()
            state.pop("load_options", None)
            state.pop("load_path", None)
            return InstanceState.__new__, (InstanceState,), state
        return NotImplemented


def _detached_copy(value: T) -> T:
    """A copy of ``value`` whose ORM objects belong to no session (see the module docstring)."""
    buffer = io.BytesIO()
    _DetachingPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return pickle.loads(buffer.getvalue())


# ---------------------------------------------------------------------------------------------
# Figures kept per school (#15 item 2): a write recomputes the schools it touched, not the district
#
# A figure that is a sum over schools is kept as one *piece* per unit. Each chain link names the
# units its transaction changed (:mod:`hazardhub.changeindex`); a process follows each tenant's
# links since it first looked (a *watch*), and a piece computed when the process had followed the
# chain to link ``n`` stays right until a later link names its unit or the whole tenant. So after a
# principal's sign-off the district's matrix recomputes one school's piece (one small query), and
# the city's comparison one school of one district. Pieces are plain values (tuples, numbers,
# frozensets), compared on recomputation: a piece set's *generation* moves only when a piece really
# changed, and what is built from the pieces (a page's table) is kept under those generations.


@dataclass(frozen=True)
class _Watch:
    """What this process knows of one tenant's chain since it started following it."""

    #: this watch's identity in the process: pieces from an older watch of the tenant (before a
    #: restore, or after falling too far behind) are dropped
    epoch: int
    #: the seq this process started following at
    base: int
    #: the last link followed, and its hash (the next read checks the chain still holds it)
    seq: int
    head_hash: str
    #: the newest link that changed the tenant as a whole
    wide: int
    #: unit id → the newest link that changed it (only units changed since ``base``)
    units: dict = field(default_factory=dict)


@dataclass
class _PieceSet:
    epoch: int
    #: the seq followed when every piece was computed, and per recomputed unit its own
    full: int
    labels: dict
    pieces: dict
    generation: int
    checked: int


#: a process that fell further behind than this many links starts a new watch (reading them all
#: back would cost more than computing the figures again)
MAX_LINKS_BEHIND = 5000

_watches: dict[int, _Watch] = {}
_generations = itertools.count(1)


def _links_since(starts: dict[int, int]) -> dict[int, list]:
    """The links of each tenant from its seq on (one query for all of them)."""
    links = AuditChainLink.__table__
    rows = db.session.execute(
        sa.select(links.c.tenant_id, links.c.seq, links.c.link_hash, links.c.units)
        .where(sa.or_(*[(links.c.tenant_id == tid) & (links.c.seq >= seq) for tid, seq in starts.items()]))
        .order_by(links.c.tenant_id, links.c.seq)).all()
    out: dict[int, list] = {tid: [] for tid in starts}
    for row in rows:
        out[row.tenant_id].append(row)
    return out


def _follow(heads: dict[int, tuple[int, str]]) -> dict[int, _Watch]:
    """This process's watches of the tenants, brought up to (at least) the given heads: one
    query reads the new links of every tenant whose head moved."""
    with _lock:
        watches = {tid: _watches.get(tid) for tid in heads}
    out: dict[int, _Watch] = {}
    starts: dict[int, int] = {}
    for tid, (head_seq, head_hash) in heads.items():
        watch = watches[tid]
        if watch is not None and (watch.seq, watch.head_hash) == (head_seq, head_hash):
            out[tid] = watch
        elif watch is None or head_seq < watch.seq or head_seq - watch.seq > MAX_LINKS_BEHIND:
            out[tid] = _new_watch(head_seq, head_hash)
        else:
            starts[tid] = max(watch.seq, 1)
    for tid, rows in (_links_since(starts) if starts else {}).items():
        watch, (head_seq, head_hash) = watches[tid], heads[tid]
        if watch.seq > 0:
            holds = bool(rows) and rows[0].seq == watch.seq and rows[0].link_hash == watch.head_hash
            rows = rows[1:]
        else:
            holds = watch.head_hash == GENESIS
        if not holds or not rows:  # the chain was rewritten (a restore): start again at its head
            out[tid] = _new_watch(head_seq, head_hash)
            continue
        units, wide = dict(watch.units), watch.wide
        for row in rows:
            named = parse_units(row.units)
            if named is None:
                wide = row.seq
            else:
                for unit in named:
                    units[unit] = row.seq
        out[tid] = _Watch(epoch=watch.epoch, base=watch.base, seq=rows[-1].seq, head_hash=rows[-1].link_hash,
                          wide=wide, units=units)
    with _lock:
        _watches.update(out)
    return out


def _new_watch(seq: int, head_hash: str) -> _Watch:
    return _Watch(epoch=next(_generations), base=seq, seq=seq, head_hash=head_hash, wide=seq)


def wide_mark(tenant_id: int) -> tuple[int, int]:
    """Names the last change to the tenant as a whole (a unit renamed, an account, a directive…):
    for keys of what shows such things beside per-school rows."""
    current = watch(tenant_id)
    return current.epoch, current.wide


def unit_mark(tenant_id: int, unit_id: int) -> tuple[int, int, int]:
    """Names the last change to one unit's records and to its tenant as a whole: for keys of a
    figure that reads one school's records (a hazard's history)."""
    current = watch(tenant_id)
    return current.epoch, current.units.get(unit_id, current.base), current.wide


def watch(tenant_id: int) -> _Watch:
    """The tenant's watch, followed to the head this request read (once per request)."""
    return watches([tenant_id])[tenant_id]


def watches(tenant_ids: Iterable[int]) -> dict[int, _Watch]:
    """The tenants' watches, followed to the heads this request read (once per request: one
    query for the heads not read yet, one for the links of those that moved)."""
    followed = g.setdefault("hh_watches", {}) if has_request_context() else {}
    missing = sorted(set(tenant_ids) - set(followed))
    if missing:
        heads = {tid: (seq, head_hash) for tid, seq, head_hash in data_version(missing)}
        followed.update(_follow(heads))
    return {tid: followed[tid] for tid in tenant_ids}


def unit_pieces(key: tuple, tenant_id: int,
                compute: Callable[[list[int] | None], dict[int, Any]], *,
                whole_only: bool = False) -> tuple[int, dict[int, Any]]:
    """``(generation, {unit id: piece})`` of one tenant, kept per unit.

    :param key: everything the pieces depend on besides the tenant's data (month, today, …).
    :param compute: ``compute(None)`` returns the piece of every unit of the tenant that has one;
        ``compute([ids])`` the pieces of those units only (a unit missing from the result has none).
        A piece may read only rows that :mod:`hazardhub.changeindex` attributes to its unit.
    :param whole_only: the value is not per unit (:func:`tenant_part`): only a change to the
        tenant as a whole recomputes it.
    """
    return unit_pieces_of(key, [tenant_id], lambda wanted: {tenant_id: compute(wanted[tenant_id])},
                          whole_only=whole_only)[tenant_id]


def unit_pieces_of(key: tuple, tenant_ids: Iterable[int],
                   compute: Callable[[dict[int, list[int] | None]], dict[int, dict[int, Any]]], *,
                   whole_only: bool = False) -> dict[int, tuple[int, dict[int, Any]]]:
    """:func:`unit_pieces` of several tenants at once: ``compute`` is called once, with what each
    tenant needs (``None``: every unit; a list: those units; a tenant not named needs nothing),
    so a page over six districts recomputes what a write touched in one round of queries."""
    tenant_ids = list(dict.fromkeys(tenant_ids))
    if _bypassed():
        fresh = compute({tid: None for tid in tenant_ids})
        return {tid: (0, fresh.get(tid, {})) for tid in tenant_ids}
    current = watches(tenant_ids)
    kept: dict[int, _PieceSet | None] = {}
    with _lock:
        for tid in tenant_ids:
            kept[tid] = _entries.get(("pieces", key, tid))
            if kept[tid] is not None:
                _entries.move_to_end(("pieces", key, tid))
    wanted: dict[int, list[int] | None] = {}
    for tid in tenant_ids:
        w, k = current[tid], kept[tid]
        if k is None or k.epoch != w.epoch or w.wide > k.full:
            wanted[tid] = None
        elif k.checked != w.seq and not whole_only:
            stale = sorted(u for u, s in w.units.items() if s > k.labels.get(u, k.full))
            if stale:
                wanted[tid] = stale
    fresh = compute(wanted) if wanted else {}
    out: dict[int, tuple[int, dict[int, Any]]] = {}
    for tid in tenant_ids:
        w, k = current[tid], kept[tid]
        if tid in wanted and wanted[tid] is None:
            k = _PieceSet(epoch=w.epoch, full=w.seq, labels={}, pieces=fresh.get(tid, {}),
                          generation=next(_generations), checked=w.seq)
            _stats["misses"] += 1
        elif tid in wanted:
            pieces, labels, changed = dict(k.pieces), dict(k.labels), False
            got = fresh.get(tid, {})
            for unit in wanted[tid]:
                labels[unit] = w.seq
                new = got.get(unit)
                if pieces.get(unit) != new:
                    changed = True
                    if new is None:
                        pieces.pop(unit, None)
                    else:
                        pieces[unit] = new
            k = replace(k, labels=labels, pieces=pieces, checked=w.seq,
                        generation=next(_generations) if changed else k.generation)
            _stats["recomputed_units"] += len(wanted[tid])
            _stats["hits"] += 1
        else:
            if k.checked != w.seq:
                k = replace(k, checked=w.seq)
            _stats["hits"] += 1
        _store(("pieces", key, tid), k)
        out[tid] = (k.generation, k.pieces)
    return out


def tenant_part(key: tuple, tenant_id: int, compute: Callable[[], T]) -> tuple[int, T]:
    """``(generation, value)`` of a figure of the tenant as a whole (its units, its leaders, its
    directives): recomputed only when a link changed the whole tenant, not on a school's write."""
    generation, pieces = unit_pieces(("tenant_part", *key), tenant_id,
                                     lambda units: {0: _detached_copy(compute())}, whole_only=True)
    return generation, pieces[0]


def built_from_pieces(key: tuple, compute: Callable[[], T]) -> T:
    """``compute()`` kept under ``key`` alone: for values built from piece sets, whose key holds
    their generations (a generation names one state of its pieces, in this process, for good)."""
    if _bypassed():
        return compute()
    return _kept(key, compute)


def _store(key, value) -> None:
    with _lock:
        _entries[key] = value
        _entries.move_to_end(key)
        capacity = _capacity()
        while len(_entries) > capacity:
            _entries.popitem(last=False)


def clear() -> None:
    """Forget every entry (tests that compare a cached page with a recomputed one)."""
    with _lock:
        _entries.clear()
        _watches.clear()
        _stats.update(hits=0, misses=0, bypassed=0, recomputed_units=0)


def stats() -> dict[str, int]:
    """Hits, misses and bypasses since start (or :func:`clear`)."""
    return dict(_stats, entries=len(_entries))


def _remember_flush(session, _flush_context) -> None:
    session.info["hh_flushed"] = True


def _forget_flush_on_commit(session) -> None:
    session.info.pop("hh_flushed", None)
    if has_request_context():  # the heads moved: read them again before the next cached figure
        g.pop("hh_data_versions", None)
        g.pop("hh_watches", None)


def _forget_flush_on_rollback(session) -> None:
    session.info.pop("hh_flushed", None)


def install_flush_tracking() -> None:
    """Install the hooks that tell the cache a transaction has flushed (its figures would be stale).

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "after_flush", _remember_flush)
    listen_once(Session, "after_commit", _forget_flush_on_commit)
    listen_once(Session, "after_rollback", _forget_flush_on_rollback)
