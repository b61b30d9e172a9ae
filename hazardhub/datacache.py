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
"""
from __future__ import annotations

import io
import pickle
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterable, TypeVar

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy.orm import Session
from sqlalchemy.orm.state import InstanceState

from hazardhub.audit import AuditChainHead, GENESIS
from hazardhub.db import listen_once
from hazardhub.extensions import db

T = TypeVar("T")

_lock = threading.Lock()
_entries: "OrderedDict[Hashable, Any]" = OrderedDict()
_stats = {"hits": 0, "misses": 0, "bypassed": 0}


def data_version(tenant_ids: Iterable[int]) -> tuple[tuple[int, int, str], ...]:
    """``((tenant_id, seq, head_hash), …)`` of the tenants' audit-chain heads, one query (once
    per request and set of tenants: a page that uses several cached figures reads the heads once)."""
    ids = tuple(sorted(set(tenant_ids)))
    seen = g.setdefault("hh_data_versions", {}) if has_request_context() else {}
    if ids not in seen:
        seen[ids] = _read_heads(ids)
    return seen[ids]


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
    capacity = _capacity()
    if capacity <= 0 or _session_has_writes():
        _stats["bypassed"] += 1
        return compute()
    full_key = (key, data_version(tenant_ids))
    with _lock:
        if full_key in _entries:
            _entries.move_to_end(full_key)
            _stats["hits"] += 1
            return _entries[full_key]
    value = compute()
    stored = _detached_copy(value)
    with _lock:
        _stats["misses"] += 1
        _entries[full_key] = stored
        _entries.move_to_end(full_key)
        while len(_entries) > capacity:
            _entries.popitem(last=False)
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


def clear() -> None:
    """Forget every entry (tests that compare a cached page with a recomputed one)."""
    with _lock:
        _entries.clear()
        _stats.update(hits=0, misses=0, bypassed=0)


def stats() -> dict[str, int]:
    """Hits, misses and bypasses since start (or :func:`clear`)."""
    return dict(_stats, entries=len(_entries))


def _remember_flush(session, _flush_context) -> None:
    session.info["hh_flushed"] = True


def _forget_flush_on_commit(session) -> None:
    session.info.pop("hh_flushed", None)
    if has_request_context():  # the heads moved: read them again before the next cached figure
        g.pop("hh_data_versions", None)


def _forget_flush_on_rollback(session) -> None:
    session.info.pop("hh_flushed", None)


def install_flush_tracking() -> None:
    """Install the hooks that tell the cache a transaction has flushed (its figures would be stale).

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "after_flush", _remember_flush)
    listen_once(Session, "after_commit", _forget_flush_on_commit)
    listen_once(Session, "after_rollback", _forget_flush_on_rollback)
