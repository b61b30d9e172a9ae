"""Audit: Continuum set-up, the actor of each transaction, the per-tenant hash chain, history.

Why here and nowhere else: every change to a versioned row is recorded by Continuum in the same
database transaction as the change (never by a later job, which Redash learned loses events when
the worker is down). On commit, :func:`_seal_transaction` appends the transaction to its tenant's
hash chain: it locks the tenant's :class:`AuditChainHead` row (so concurrent writers queue instead
of forking the chain), hashes the canonical form of the transaction row, its meta and every version
row it wrote (from the flushed objects, in the form the database returns each value, or read back
where that form is uncertain: :func:`_flushed_change_set`), and stores the link.
:func:`verify_chain` recomputes all of it from the database and also checks each live row against
its latest version, so an edit by direct SQL to a live row, a version row, a transaction row or a
link is found and named.

Strategy: every versioned model uses ``strategy='subquery'`` (stack-notes: ~3x cheaper than
``validity`` in batches, and no ``end_transaction_id`` that later transactions rewrite, which would
break the hash of an already sealed transaction).

This module must be imported before any versioned model is defined (``make_versioned`` hooks the
mapper); every ``<area>/models.py`` imports it first, ``hazardhub.models`` then calls
``configure_mappers()``.
"""
from __future__ import annotations

import functools
import getpass
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import chain
from typing import Any, Callable, Iterable

import sqlalchemy as sa
import sqlalchemy_continuum.plugins.property_mod_tracker as _continuum_mod_tracker
import sqlalchemy_continuum.transaction as _continuum_tx
import sqlalchemy_continuum.unit_of_work as _continuum_uow
import sqlalchemy_continuum.utils as _continuum_utils
from flask import g, has_app_context, has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy_continuum import make_versioned, version_class, versioning_manager
from sqlalchemy_continuum.operation import Operation, Operations
from sqlalchemy_continuum.plugins import FlaskPlugin, PropertyModTrackerPlugin, TransactionMetaPlugin
from sqlalchemy_continuum.utils import is_modified, is_versioned

from hazardhub.changeindex import pending_units
from hazardhub.clock import utcnow
from hazardhub.db import Base, listen_once
from hazardhub.extensions import db
from hazardhub.tenancy import CrossTenantWrite, current_scope

#: options every versioned model uses; see the module docstring for the strategy
VERSIONED = {"strategy": "subquery"}

GENESIS = "0" * 64


def actor_id() -> int | None:
    """The user a change is made by: the web user, else the job's requester or CLI ``--as``."""
    if has_request_context():
        if current_user and getattr(current_user, "is_authenticated", False):
            return current_user.id
    if has_app_context():
        return g.get("actor_id")
    return None


def _remote_addr() -> str | None:
    if has_request_context():
        return request.remote_addr
    return None


def _keep_insert_when_updated(original):
    """A row inserted and then updated in the same transaction is a creation, not a change.

    Continuum would turn the INSERT into an UPDATE when a second flush touches the new row (a
    unit gets its materialised path only after its id exists), and history would say 修改
    instead of 创建. The operation stays an INSERT; the version row takes the final values.
    """

    def add_update(self, target):
        current = self.objects.get(self.format_key(target))
        if current is not None and current.type == Operation.INSERT:
            if sa.inspect(target).committed_state:
                self.add(Operation(target, Operation.INSERT))
            return
        original(self, target)

    return add_update


Operations.add_update = _keep_insert_when_updated(Operations.add_update)


def _is_session_modified(session) -> bool:
    """Continuum's check "did this flush touch a versioned object?", over the changed objects only.

    Continuum walks every object in the session (``versioned_objects(session)``) on each flush,
    which is quadratic for a long unit of work: seeding the demo spent 200 of its 600 s there.
    An object that is neither new, deleted nor in ``session.dirty`` has no pending change, so
    looking only at those three sets gives the same answer.
    """
    new, deleted = session.new, session.deleted
    return any(is_versioned(obj) and (obj in new or obj in deleted or is_modified(obj))
               for obj in chain(new, deleted, session.dirty))


_continuum_uow.is_session_modified = _is_session_modified


def _create_transaction(self, session):
    """Create the Continuum transaction with one INSERT, without an ORM flush and without autoflush.

    Replaces ``UnitOfWork.create_transaction``, which adds the row to Continuum's side session and
    flushes it (a whole unit-of-work pass for one row: 13 % of a versioned write's Python time
    under cProfile, issue #15). The row is written with one Core INSERT on the session's connection; the
    object then joins the session as persistent, as Continuum's version did (it expunged the row
    from its side session and added it to the session). It has no meta rows yet, and says so, so
    the first touch of ``meta`` does not lazy-load the empty collection.

    Autoflush is held off because building the row asks the plugins for its arguments, and the
    Flask plugin asks for the actor (:func:`actor_id` → ``current_user``). In a fresh app context —
    a job run in-process inside a request, a witness record after a job — ``current_user`` is
    loaded by a query, and that query autoflushed the pending rows first. The flush saw no
    transaction yet and created one (N) for those rows; then the interrupted call created a second
    one (N+1) and made it current. The versions stayed in N, the meta and the chain link went to
    N+1, and ``audit verify`` reported N as written behind the application's back (issue #12: every
    city witness record after an in-process PDF job). With autoflush held off, the pending rows
    are flushed afterwards, into the one transaction that is sealed.
    """
    with session.no_autoflush:
        args = self.transaction_args(session)
        tx_cls = self.manager.transaction_cls
        tx = tx_cls()
        for key, value in args.items():
            setattr(tx, key, value)
        if tx.issued_at is None:  # the column's default, applied here as the row is not flushed
            tx.issued_at = utcnow()
        if not self.version_session:
            self.version_session = sa.orm.session.Session(bind=session.connection())
        mapper = sa.inspect(tx_cls)
        values = {c.name: getattr(tx, mapper.get_property_by_column(c).key)
                  for c in tx_cls.__table__.columns if not c.primary_key}
        result = session.connection().execute(_transaction_insert(), values)
        tx.id = result.inserted_primary_key[0]
        make_transient_to_detached(tx)
        set_committed_value(tx, "meta_relation", ())
        session.add(tx)
        self.current_transaction = tx
        return tx


_continuum_uow.UnitOfWork.create_transaction = _create_transaction


@functools.cache
def _transaction_insert() -> sa.Insert:
    """The transaction row's INSERT, built once."""
    return versioning_manager.transaction_cls.__table__.insert()


_VERSIONED_PROPERTIES: dict[type, tuple] = {}


def _versioned_column_properties(obj_or_class):
    """Continuum's ``versioned_column_properties``, kept per class once its mapper is configured.

    Continuum walks the mapper's columns and its exclusion options again on every call, and a
    versioned write calls it four times per changed object (copying the attributes, the ``*_mod``
    flags, the "is it modified?" checks): 180 generator steps a hazard edit, 7 % of its Python time
    (cProfile, issue #15). The answer depends on the class alone.
    """
    cls = obj_or_class if isinstance(obj_or_class, type) else type(obj_or_class)
    cached = _VERSIONED_PROPERTIES.get(cls)
    if cached is None:
        cached = tuple(_continuum_utils_versioned_column_properties(cls))
        if sa.inspect(cls).configured:
            _VERSIONED_PROPERTIES[cls] = cached
    return cached


_continuum_utils_versioned_column_properties = _continuum_utils.versioned_column_properties
for _module in (_continuum_utils, _continuum_uow, _continuum_mod_tracker):
    _module.versioned_column_properties = _versioned_column_properties

# Continuum stamps ``issued_at`` from the machine's clock; take it from the one clock, so a test that
# freezes the clock finds its changes in the ledger "as of" that day (hazardhub/clock.py)
_continuum_tx.TransactionBase.issued_at = sa.Column(sa.DateTime, default=utcnow)

make_versioned(
    user_cls="User",
    plugins=[
        FlaskPlugin(current_user_id_factory=actor_id, remote_addr_factory=_remote_addr),
        PropertyModTrackerPlugin(),
        TransactionMetaPlugin(),
    ],
)


class AuditChainHead(Base):
    """The newest link of one tenant's chain; its row lock serialises appends."""

    __tablename__ = "audit_chain_heads"

    #: the tenant whose chain this is
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), primary_key=True)
    #: number of links so far (the last link's ``seq``)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, nullable=False)
    #: hash of the last link, or the genesis hash
    head_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS, nullable=False)
    #: when the head last moved (naive UTC)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class AuditChainLink(Base):
    """One sealed transaction in its tenant's chain."""

    __tablename__ = "audit_chain_links"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "seq"),)

    #: the Continuum transaction sealed here (one tenant per transaction)
    transaction_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), index=True, nullable=False)
    #: position in the tenant's chain, 1-based, no gaps
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    #: hash of the previous link (genesis for seq 1)
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    #: sha256(prev_hash + sha256(canonical change set))
    link_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    #: the org units whose records this transaction changed, ``"3,17"``, or ``"*"`` / NULL for the
    #: whole tenant (:mod:`hazardhub.changeindex`): a hint for the kept figures, not hashed
    units: Mapped[str | None] = mapped_column(sa.Text)


class UnsealedVersions(RuntimeError):
    """A commit would store version rows that are not part of the transaction being sealed."""


def tx_meta(**values: Any) -> None:
    """Attach key/values (reason, source, job id) to the transaction being built.

    Works before or after the first flush; creates the Continuum transaction if needed.
    """
    session = db.session()  # the real Session: Continuum keys its maps by it, not the proxy
    uow = versioning_manager.unit_of_work(session)
    tx = uow.current_transaction
    if tx is None:
        # (a transaction created just now knows it has no meta rows: :func:`_create_transaction`)
        tx = uow.create_transaction(session)
        # record where the change came from now, with the reason in the same INSERT, rather
        # than in a second flush when the seal finds it missing
        values = {"source": _source(), **values}
        if values["source"] == "cli" and "operator" not in values:
            values["operator"] = _operator()
    tx.meta.update({k: str(v) for k, v in values.items() if v is not None})


def annotate(**values: Any) -> None:
    """Like :func:`tx_meta`, but only when the session already has versioned changes."""
    session = db.session()
    session.flush()
    uow = _uow_for(session)
    if uow is not None and uow.current_transaction is not None:
        uow.current_transaction.meta.update({k: str(v) for k, v in values.items() if v is not None})


def change_source() -> str:
    """Where the change being made comes from (web, cli or job): for bulk writers' meta."""
    return _source()


def _source() -> str:
    """web, cli or job; a job run in-process during a request still says job."""
    if has_app_context() and g.get("audit_source"):
        return g.audit_source
    if has_request_context():
        return "web"
    return "cli"


# ---------------------------------------------------------------------------------------------
# canonical form and hashing


def canonical_value(value: Any) -> Any:
    """A column value in the form that is hashed (the same for the live path, bulk writers and verify)."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:  # most values: kept as they are
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


_canonical_value = canonical_value


def _row_dict(row: sa.Row, skip: Iterable[str] = ()) -> dict[str, Any]:
    skipped = set(skip)
    return {k: _canonical_value(v) for k, v in row._mapping.items() if k not in skipped}


def _version_tables() -> list[sa.Table]:
    return sorted(
        (version_class(cls).__table__ for cls in versioning_manager.version_class_map),
        key=lambda t: t.name,
    )


def _transaction_table() -> sa.Table:
    return versioning_manager.transaction_cls.__table__


def _meta_table() -> sa.Table:
    return versioning_manager.transaction_meta_cls.__table__


def canonical_change_set(tx_row: dict, meta: dict, versions: list[tuple[str, dict]]) -> str:
    """The exact text that is hashed for one transaction (sorted keys, sorted rows)."""
    body = {
        "transaction": tx_row,
        "meta": dict(sorted(meta.items())),
        "versions": sorted(
            ({"table": t, "row": r} for t, r in versions),
            key=lambda v: (v["table"], json.dumps(v["row"], sort_keys=True, ensure_ascii=False)),
        ),
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def link_hash(prev_hash: str, canonical: str) -> str:
    inner = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{prev_hash}:{inner}".encode("ascii")).hexdigest()


def _load_transaction(conn: sa.Connection, tx_id: int, tables: Iterable[sa.Table]):
    txt = _transaction_table()
    row = conn.execute(sa.select(txt).where(txt.c.id == tx_id)).first()
    mt = _meta_table()
    meta = {
        r.key: r.value
        for r in conn.execute(sa.select(mt.c.key, mt.c.value).where(mt.c.transaction_id == tx_id))
    }
    versions: list[tuple[str, dict]] = []
    for table in tables:
        for vrow in conn.execute(sa.select(table).where(table.c.transaction_id == tx_id)):
            versions.append((table.name, _row_dict(vrow, skip=("end_transaction_id",))))
    return (_row_dict(row) if row is not None else None), meta, versions


# ---------------------------------------------------------------------------------------------
# sealing each transaction


def _uow_for(session: Session):
    conn = versioning_manager.session_connection_map.get(session)
    if conn is None:
        conn = session.connection()
    return versioning_manager.units_of_work.get(conn)


def _seal_transaction(session: Session) -> None:
    """Append the committing Continuum transaction to its tenant's hash chain."""
    if session.in_nested_transaction():
        return
    session.flush()
    uow = _uow_for(session)
    tx = uow.current_transaction if uow is not None else None
    if tx is None or getattr(uow, "hazardhub_sealed", None) == tx.id:
        return  # nothing versioned, or already sealed by an earlier commit of this unit of work
    tenant_id = current_scope().write_tenant_id
    if tenant_id is None:
        raise CrossTenantWrite("a versioned change needs a tenant bound for writing")
    if "source" not in (tx.meta or {}):
        source = _source()
        tx.meta["source"] = source
        if source == "cli":
            tx.meta.setdefault("operator", _operator())
    session.flush()

    stray = sorted({v.transaction_id for v in uow.version_objs.values()} - {tx.id})
    if stray:
        # Versions written under another Continuum transaction of this same database transaction
        # would be committed outside the chain (verify: "不在审计链中"). Refuse the commit rather
        # than store history the chain does not vouch for.
        raise UnsealedVersions(
            f"versions of transaction(s) {stray} would be committed unsealed beside transaction {tx.id}")
    conn = session.connection()
    change_set = _flushed_change_set(tx, uow, conn.dialect.name)
    if change_set is None:  # a value whose stored form is not certain: hash what the database holds
        tables = sorted({vcls.__table__ for (vcls, _pk) in uow.version_objs}, key=lambda t: t.name)
        change_set = _load_transaction(conn, tx.id, tables)
    tx_row, meta, versions = change_set
    for table_name, row in versions:
        if row.get("tenant_id") != tenant_id:
            raise CrossTenantWrite(
                f"transaction {tx.id} writes {table_name} rows of tenant {row.get('tenant_id')} "
                f"while tenant {tenant_id} is bound: one transaction, one tenant"
            )
    _append_link(session, conn, tenant_id, tx.id, canonical_change_set(tx_row, meta, versions))
    uow.hazardhub_sealed = tx.id


def _append_link(session: Session, conn: sa.Connection, tenant_id: int, tx_id: int, canonical: str) -> None:
    """Lock the tenant's head, then store the link and move the head: Core statements, no ORM flush.

    The head is read ``FOR UPDATE`` (concurrent writers queue here instead of forking the chain).
    On PostgreSQL the head's update and the link's insert are one statement (a data-modifying
    ``WITH``); SQLite has no such statement, and takes the two (its writers are serialised by the
    database lock anyway). An ``AuditChainHead`` object the session already holds is given the new
    values, as the ORM update this replaces did.
    """
    statements = _chain_statements()
    head = conn.execute(statements.lock, {"tenant": tenant_id}).first()
    seq, prev = (head.seq, head.head_hash) if head is not None else (0, GENESIS)
    new_hash, now = link_hash(prev, canonical), utcnow()
    params = {"tenant": tenant_id, "tx": tx_id, "new_seq": seq + 1, "prev": prev, "new_hash": new_hash, "now": now,
              "units": pending_units(session)}
    if head is None:
        conn.execute(statements.start, params)
        conn.execute(statements.link, params)
    elif conn.dialect.name == "postgresql":
        conn.execute(statements.move_and_link, params)
    else:
        conn.execute(statements.move, params)
        conn.execute(statements.link, params)
    moved = {"seq": seq + 1, "head_hash": new_hash, "updated_at": now}
    held = session.identity_map.get(sa.orm.util.identity_key(AuditChainHead, (tenant_id,)))
    if held is not None:
        for key, value in moved.items():
            set_committed_value(held, key, value)


@dataclass(frozen=True)
class _ChainStatements:
    lock: sa.Select
    start: sa.Insert
    move: sa.Update
    link: sa.Insert
    move_and_link: sa.Insert


@functools.cache
def _chain_statements() -> _ChainStatements:
    """The seal's statements, built once (bound parameters, not values): building a Core
    statement per commit was a tenth of the seal's Python time."""
    ht, lt = AuditChainHead.__table__, AuditChainLink.__table__
    p = sa.bindparam
    move = (ht.update().where(ht.c.tenant_id == p("tenant"))
            .values(seq=p("new_seq"), head_hash=p("new_hash"), updated_at=p("now")))
    link = lt.insert().values(transaction_id=p("tx"), tenant_id=p("tenant"), seq=p("new_seq"),
                              prev_hash=p("prev"), link_hash=p("new_hash"), created_at=p("now"),
                              units=p("units"))
    return _ChainStatements(
        lock=sa.select(ht.c.seq, ht.c.head_hash).where(ht.c.tenant_id == p("tenant")).with_for_update(),
        start=ht.insert().values(tenant_id=p("tenant"), seq=p("new_seq"), head_hash=p("new_hash"),
                                 updated_at=p("now")),
        move=move,
        link=link,
        move_and_link=link.add_cte(move.cte("moved")),
    )


#: marks a value whose stored form :func:`_stored_form` cannot predict
_UNSURE = object()


def _stored_form(column_type) -> Callable[[Any], Any]:
    """How a value of ``column_type`` (as the dialect in use maps it) comes back from the
    database, or ``_UNSURE``.

    Only the types whose round trip is exact on SQLite and PostgreSQL are predicted: text, whole
    numbers, booleans, dates, naive timestamps, and ``Numeric`` values that need no rounding to the
    column's scale and fit a double (SQLite stores numerics as floats). Anything else (JSON, time
    zones, enums, padded ``CHAR``) is unsure, and the seal then reads the rows back.
    """
    t = column_type
    if isinstance(t, (sa.Enum, sa.CHAR, sa.NCHAR)):
        return lambda v: _UNSURE
    if isinstance(t, sa.Boolean):
        return lambda v: v if type(v) is bool else _UNSURE
    if isinstance(t, sa.Integer):
        return lambda v: v if type(v) is int else _UNSURE
    if isinstance(t, sa.String):
        return lambda v: v if type(v) is str else _UNSURE
    if isinstance(t, sa.DateTime):
        if t.timezone:
            return lambda v: _UNSURE
        return lambda v: v if type(v) is datetime and v.tzinfo is None else _UNSURE
    if isinstance(t, sa.Date):
        return lambda v: v if type(v) is date else _UNSURE
    if isinstance(t, sa.Numeric) and not isinstance(t, sa.Float) and t.asdecimal and t.scale is not None:
        scale = t.scale

        def decimal(v):
            kind = type(v)
            if kind is float:
                d = Decimal(repr(v))
            elif kind is int or kind is Decimal:
                d = Decimal(v)
            else:
                return _UNSURE
            if not d.is_finite() or (d.is_zero() and d.is_signed()):  # PostgreSQL has no -0
                return _UNSURE
            sign_digits_exp = d.as_tuple()
            if sign_digits_exp.exponent < -scale or len(sign_digits_exp.digits) > 15:
                return _UNSURE
            return d

        return decimal
    return lambda v: _UNSURE


_ROW_PLANS: dict[tuple[sa.Table, str], list[tuple[str, str, Callable]] | None] = {}


def _row_plan(mapper, dialect: str) -> list[tuple[str, str, Callable]] | None:
    """(column, attribute, stored form) for every hashed column of ``mapper``'s table, once per
    dialect (Continuum's transaction id is a ``BigInteger`` with an ``Integer`` variant on SQLite)."""
    table = mapper.local_table
    if (table, dialect) not in _ROW_PLANS:
        plan = []
        for column in table.columns:
            if column.name == "end_transaction_id":
                continue
            try:
                key = mapper.get_property_by_column(column).key
            except sa.orm.exc.UnmappedColumnError:
                plan = None
                break
            column_type = column.type
            column_type = getattr(column_type, "_variant_mapping", {}).get(dialect, column_type)
            plan.append((column.name, key, _stored_form(column_type)))
        _ROW_PLANS[table, dialect] = plan
    return _ROW_PLANS[table, dialect]


def _flushed_row(obj, dialect: str) -> dict | None:
    """The canonical row of a flushed object as the database now holds it, or None if unsure."""
    state = sa.inspect(obj)
    if not state.persistent or state.modified:
        return None
    plan = _row_plan(state.mapper, dialect)
    if plan is None:
        return None
    values = state.dict
    row = {}
    for name, key, stored in plan:
        if key not in values:  # expired or never loaded (a server default): only the database knows
            return None
        value = values[key]
        if value is not None:
            value = stored(value)
            if value is _UNSURE:
                return None
        row[name] = canonical_value(value)
    return row


def _flushed_change_set(tx, uow, dialect: str) -> tuple[dict, dict, list[tuple[str, dict]]] | None:
    """The transaction row, its meta and its version rows, hashed from the flushed objects.

    Why not read them back: the three SELECTs were a quarter of a versioned write's statements,
    and every value was just written by this session. The objects are flushed (nothing pending),
    and each value is taken in the form the database returns it (:func:`_stored_form`), so the
    canonical text equals what :func:`verify_chain` recomputes from the tables; where that form is
    not certain this returns None and the seal reads the rows back as before. Version rows are
    the unit of work's version objects: the rows of this transaction the old read-back found (it
    read, in those objects' tables, the rows carrying this transaction's id).
    """
    tx_row = _flushed_row(tx, dialect)
    if tx_row is None:
        return None
    relation = sa.inspect(tx).dict.get("meta_relation")
    if relation is None:
        return None
    meta = {}
    for item in relation.values():
        item_state = sa.inspect(item)
        if not item_state.persistent or item_state.modified:
            return None
        key, value = item_state.dict.get("key"), item_state.dict.get("value")
        if type(key) is not str or (value is not None and type(value) is not str):
            return None
        meta[key] = value
    versions = []
    for vobj in uow.version_objs.values():
        row = _flushed_row(vobj, dialect)
        if row is None:
            return None
        versions.append((vobj.__table__.name, row))
    return tx_row, meta, versions


def install_sealing() -> None:
    """Install the chain seal: a committing transaction with versioned changes is appended to its
    tenant's hash chain (Continuum's own listeners come from ``make_versioned`` at import).

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "before_commit", _seal_transaction)


def _operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def chain_head(tenant_id: int) -> tuple[int, str]:
    """Return ``(seq, hash)`` of the tenant's chain head as committed so far."""
    row = db.session.execute(
        sa.select(AuditChainHead.seq, AuditChainHead.head_hash).where(
            AuditChainHead.tenant_id == tenant_id
        )
    ).first()
    return (row.seq, row.head_hash) if row else (0, GENESIS)


# ---------------------------------------------------------------------------------------------
# bulk writers: the same seal for rows written with Core (data sets, back-dated history)


@dataclass(eq=False)
class BulkTransaction:
    """One logical change a bulk writer records: a Continuum transaction and its version rows.

    ``versions`` holds ``(version table, row)``; a row has every column of its version table except
    ``transaction_id`` (filled in when sealed), with the Python types the database returns
    (``Decimal`` for numerics, ``date``/``datetime``), because the hash is taken over those.
    """

    issued_at: datetime
    user_id: int | None
    meta: dict[str, str]
    order: int
    versions: list[tuple[sa.Table, dict]] = field(default_factory=list)
    #: called with ``"seq:hash"``, the chain head just before this transaction, before it is
    #: hashed: a sign-off stores it in its live and version rows
    on_head: Callable[[str], None] | None = None
    id: int | None = None

    def add(self, version_table: sa.Table, row: dict) -> dict:
        """Record ``row`` as a version written by this transaction; returns the row."""
        self.versions.append((version_table, row))
        return row


class BulkChainWriter:
    """Writes many back-dated transactions of one tenant and appends them to its audit chain.

    Why: history that claims past dates (three years of a city's checks, a demo's past) cannot go
    through one ORM commit per change in reasonable time, and the normal seal stamps "now". This
    writer is the one public way to write it: the caller builds :class:`BulkTransaction` objects
    (one per logical change, with its moment, actor, reason and version rows) and writes the live
    rows itself with :func:`bulk_insert`; :meth:`seal` orders the transactions in time, gives them
    ids and hashes each onto the tenant's chain with :func:`canonical_change_set` and
    :func:`link_hash` -- the functions :func:`verify_chain` recomputes -- and :meth:`write` stores
    the transaction rows, their meta (source, operator, reason), the version rows, the links and
    the head. Everything happens on ``conn`` inside the caller's database transaction, which holds
    the tenant's head row locked from :meth:`seal` to the commit (as the normal seal does), so
    concurrent writers queue instead of forking the chain. The caller commits.

    The live rows must equal their latest versions (``audit verify`` compares them), and the
    transactions append after the chain's current head, so their ``issued_at`` may lie before
    transactions already in the chain: the chain orders by ``seq``, "as of" reads by
    ``issued_at``.
    """

    def __init__(self, conn: sa.Connection, tenant_id: int, *, source: str = "cli", operator: str | None = None):
        self.conn, self.tenant_id = conn, tenant_id
        self.base_meta = {"source": source, "operator": operator or _operator()}
        self.transactions: list[BulkTransaction] = []
        self._sealed = False
        self._links: list[tuple] = []
        self._head: tuple[int, str] | None = None
        self._had_head = False

    def transaction(self, issued_at: datetime, user_id: int | None, reason: str | None = None,
                    **meta: Any) -> BulkTransaction:
        """A new transaction at ``issued_at`` (naive UTC) by ``user_id``, with its reason and meta."""
        if self._sealed:
            raise RuntimeError("the writer is sealed: no more transactions")
        values = {**self.base_meta, "reason": reason, **meta}
        tx = BulkTransaction(issued_at=issued_at, user_id=user_id, order=len(self.transactions),
                             meta={k: str(v) for k, v in values.items() if v is not None})
        self.transactions.append(tx)
        return tx

    def seal(self, *, last_meta: dict[str, Any] | None = None) -> list[BulkTransaction]:
        """Lock the tenant's head, order the transactions by time, give ids, compute every link.

        :param last_meta: meta added to the newest transaction (e.g. a data set's completion mark)
        :returns: the transactions in chain order
        """
        conn, txt = self.conn, _transaction_table()
        ht = AuditChainHead.__table__
        head = conn.execute(sa.select(ht).where(ht.c.tenant_id == self.tenant_id).with_for_update()).first()
        seq, prev = (head.seq, head.head_hash) if head else (0, GENESIS)
        self._had_head = head is not None
        next_id = conn.execute(sa.select(sa.func.coalesce(sa.func.max(txt.c.id), 0))).scalar_one()
        self.transactions.sort(key=lambda tx: (tx.issued_at, tx.order))
        if last_meta and self.transactions:
            self.transactions[-1].meta.update({k: str(v) for k, v in last_meta.items() if v is not None})
        links = []
        columns = [c.name for c in txt.columns]
        hashed: dict[sa.Table, list[str]] = {}  # each version table's hashed columns, named once
        for tx in self.transactions:
            next_id += 1
            tx.id = next_id
            if tx.on_head is not None:
                tx.on_head(f"{seq}:{prev}")
            versions = []
            for table, row in tx.versions:
                row["transaction_id"] = tx.id
                names = hashed.get(table)
                if names is None:
                    names = hashed[table] = [c.name for c in table.columns if c.name != "end_transaction_id"]
                versions.append((table.name, {name: canonical_value(row.get(name)) for name in names}))
            tx_row = {c: canonical_value(v) for c, v in zip(columns, self._tx_values(tx, columns))}
            new_hash = link_hash(prev, canonical_change_set(tx_row, tx.meta, versions))
            seq += 1
            links.append((tx.id, self.tenant_id, seq, prev, new_hash, tx.issued_at))
            prev = new_hash
        self._links, self._head, self._sealed = links, (seq, prev), True
        return self.transactions

    @staticmethod
    def _tx_values(tx: BulkTransaction, columns: list[str]) -> list:
        values = {"id": tx.id, "remote_addr": None, "user_id": tx.user_id, "issued_at": tx.issued_at}
        return [values[c] for c in columns]

    def write(self) -> int:
        """Store the sealed transactions, meta, version rows, links and head; returns the version rows."""
        if not self._sealed:
            self.seal()
        conn, txt, mt = self.conn, _transaction_table(), _meta_table()
        columns = [c.name for c in txt.columns]
        bulk_insert(conn, txt, columns, (self._tx_values(tx, columns) for tx in self.transactions))
        bulk_insert(conn, mt, ["transaction_id", "key", "value"],
                    ((tx.id, k, v) for tx in self.transactions for k, v in tx.meta.items()))
        by_table: dict[sa.Table, list[dict]] = {}
        for tx in self.transactions:
            for table, row in tx.versions:
                by_table.setdefault(table, []).append(row)
        written = 0
        for table, rows in by_table.items():
            names = [c.name for c in table.columns if c.name != "end_transaction_id"]
            bulk_insert(conn, table, names, ([row.get(c) for c in names] for row in rows))
            written += len(rows)
        bulk_insert(conn, AuditChainLink.__table__,
                    ["transaction_id", "tenant_id", "seq", "prev_hash", "link_hash", "created_at"], self._links)
        ht = AuditChainHead.__table__
        if self._links:
            seq, head_hash = self._head
            values = {"seq": seq, "head_hash": head_hash, "updated_at": utcnow()}
            if self._had_head:
                conn.execute(ht.update().where(ht.c.tenant_id == self.tenant_id).values(**values))
            else:
                conn.execute(ht.insert().values(tenant_id=self.tenant_id, **values))
        if self.transactions:
            advance_sequences(conn, ["transaction"])
        return written


class VersionedTable:
    """A versioned model's live and version tables, with the column lists a bulk row needs."""

    def __init__(self, model):
        self.live = model.__table__
        self.version = version_class(model).__table__
        self.name = self.version.name
        self.columns = [c.name for c in self.live.columns]
        parent = set(self.columns)
        self.data_columns = [c.name for c in self.version.columns if c.name in parent]
        self.mod_columns = [c.name[:-4] for c in self.version.columns
                            if c.name.endswith("_mod") and c.name[:-4] in parent]
        self.version_columns = [c.name for c in self.version.columns]

    def version_row(self, live: dict, op: int, changed: set[str] | None = None) -> dict:
        """The version row of ``live`` for operation ``op`` (0 insert, 1 update of ``changed``)."""
        row = {c: live[c] for c in self.data_columns}
        row["transaction_id"] = None
        row["operation_type"] = op
        for c in self.mod_columns:
            row[f"{c}_mod"] = (live[c] is not None) if op == 0 else (c in changed)
        return row

    def live_values(self, live: dict) -> list:
        """``live`` in :attr:`columns` order (for :func:`bulk_insert`)."""
        return [live[c] for c in self.columns]


def advance_sequences(conn: sa.Connection, table_names: Iterable[str]) -> None:
    """After rows were inserted with explicit ids: move PostgreSQL's id sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in table_names:
        conn.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"))


def bulk_insert(conn: sa.Connection, table: sa.Table, columns: list[str], rows: Iterable) -> None:
    """Insert ``rows`` (sequences in ``columns`` order): COPY on PostgreSQL (psycopg 3), batched
    ``executemany`` elsewhere. For bulk writers only: nothing here versions or seals."""
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        cols = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return
    # elsewhere (SQLite): the columns' own bind processors, then one prepared statement for all the
    # rows, without compiling a statement and building a parameter dict per row
    processors = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
    cols = ", ".join(f'"{c}"' for c in columns)
    statement = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join("?" for _c in columns)})'
    batch = []
    for row in rows:
        batch.append(tuple(v if p is None else p(v) for p, v in zip(processors, row)))
        if len(batch) >= 5000:
            conn.exec_driver_sql(statement, batch)
            batch = []
    if batch:
        conn.exec_driver_sql(statement, batch)


# ---------------------------------------------------------------------------------------------
# verification


@dataclass
class ChainReport:
    """Outcome of :func:`verify_chain` for one tenant."""

    tenant_id: int
    links: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_transaction: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, tx_id: int | None, message: str) -> None:
        if self.first_bad_transaction is None and tx_id is not None:
            self.first_bad_transaction = tx_id
        self.problems.append(message)


#: links whose transaction rows and meta :func:`verify_chain` reads per query
_VERIFY_CHUNK = 2000


def verify_chain(conn: sa.Connection, tenant_id: int) -> ChainReport:
    """Recompute the tenant's chain from the database and compare live rows with versions.

    Uses Core statements with explicit tenant filters (this is an audit of the raw tables, so the
    ORM scoping hooks are deliberately not involved).
    """
    report = ChainReport(tenant_id=tenant_id)
    lt = AuditChainLink.__table__
    links = conn.execute(sa.select(lt).where(lt.c.tenant_id == tenant_id).order_by(lt.c.seq)).all()
    tables = _version_tables()
    # version rows of this tenant, grouped by transaction
    by_tx: dict[int, list[tuple[str, dict]]] = {}
    for table in tables:
        for vrow in conn.execute(sa.select(table).where(table.c.tenant_id == tenant_id)):
            by_tx.setdefault(vrow.transaction_id, []).append(
                (table.name, _row_dict(vrow, skip=("end_transaction_id",)))
            )
    linked = {link.transaction_id for link in links}
    for tx_id in sorted(set(by_tx) - linked):
        report.fail(tx_id, f"事务 {tx_id} 有版本记录但不在审计链中（绕过应用写入）")
    txt, mt = _transaction_table(), _meta_table()
    prev = GENESIS
    seq_of: dict[int, int] = {}
    tx_rows: dict[int, sa.Row] = {}
    metas: dict[int, dict] = {}
    for expected_seq, link in enumerate(links, start=1):
        if link.transaction_id not in tx_rows:
            # transaction rows and meta in chunks, not two queries a link (a district's chain has
            # a hundred thousand links at city scale)
            chunk = [lk.transaction_id for lk in links[expected_seq - 1:expected_seq - 1 + _VERIFY_CHUNK]]
            tx_rows = {r.id: r for r in conn.execute(sa.select(txt).where(txt.c.id.in_(chunk)))}
            metas = {}
            for r in conn.execute(sa.select(mt.c.transaction_id, mt.c.key, mt.c.value)
                                  .where(mt.c.transaction_id.in_(chunk))):
                metas.setdefault(r.transaction_id, {})[r.key] = r.value
            tx_rows.setdefault(link.transaction_id, None)
        report.links += 1
        seq_of[link.transaction_id] = link.seq
        if link.seq != expected_seq:
            report.fail(link.transaction_id, f"链序号断裂：应为 {expected_seq}，实为 {link.seq}")
        if link.prev_hash != prev:
            report.fail(link.transaction_id, f"事务 {link.transaction_id} 的前序哈希与上一环不符")
        tx_row = tx_rows.get(link.transaction_id)
        if tx_row is None:
            report.fail(link.transaction_id, f"事务 {link.transaction_id} 的事务记录已被删除")
            prev = link.link_hash
            continue
        meta = metas.get(link.transaction_id, {})
        canonical = canonical_change_set(
            _row_dict(tx_row), meta, by_tx.get(link.transaction_id, [])
        )
        if link_hash(link.prev_hash, canonical) != link.link_hash:
            report.fail(
                link.transaction_id,
                f"事务 {link.transaction_id}（第 {link.seq} 环）的内容与其哈希不符：版本或事务记录被改动",
            )
        prev = link.link_hash
    head = conn.execute(
        sa.select(AuditChainHead.__table__).where(AuditChainHead.__table__.c.tenant_id == tenant_id)
    ).first()
    if links and (head is None or head.head_hash != prev or head.seq != len(links)):
        report.fail(links[-1].transaction_id, "链头与最后一环不符（链被截断或改写）")
    _verify_live_rows(conn, tenant_id, seq_of, report)
    return report


def _verify_live_rows(conn, tenant_id: int, seq_of: dict[int, int], report: ChainReport) -> None:
    """Each live row must equal its latest version (latest by chain order)."""
    for parent_cls in sorted(versioning_manager.version_class_map, key=lambda c: c.__name__):
        vtable = version_class(parent_cls).__table__
        ptable = parent_cls.__table__
        pk_cols = [c.name for c in ptable.primary_key.columns]
        compared = [
            c.name
            for c in ptable.columns
            if c.name in vtable.c and not versioning_manager.is_excluded_column(parent_cls, c)
        ]
        latest: dict[tuple, sa.Row] = {}
        for vrow in conn.execute(sa.select(vtable).where(vtable.c.tenant_id == tenant_id)):
            key = tuple(getattr(vrow, k) for k in pk_cols)
            rank = seq_of.get(vrow.transaction_id, -1)
            current = latest.get(key)
            if current is None or rank > seq_of.get(current.transaction_id, -1):
                latest[key] = vrow
        seen = set()
        for prow in conn.execute(sa.select(ptable).where(ptable.c.tenant_id == tenant_id)):
            key = tuple(getattr(prow, k) for k in pk_cols)
            seen.add(key)
            vrow = latest.get(key)
            label = f"{ptable.name} #{','.join(map(str, key))}"
            if vrow is None:
                report.fail(None, f"{label} 没有任何版本记录（绕过应用写入）")
                continue
            diffs = [
                c
                for c in compared
                if _canonical_value(getattr(prow, c)) != _canonical_value(getattr(vrow, c))
            ]
            if vrow.operation_type == 2:
                diffs = ["(已删除)"]
            if diffs:
                report.fail(
                    vrow.transaction_id,
                    f"{label} 的当前值与其最后版本（事务 {vrow.transaction_id}）不符：{', '.join(diffs)}",
                )
        for key, vrow in latest.items():
            if key not in seen and vrow.operation_type != 2:
                report.fail(
                    vrow.transaction_id,
                    f"{ptable.name} #{','.join(map(str, key))} 已被删除但没有删除版本",
                )


# ---------------------------------------------------------------------------------------------
# history for pages


@dataclass(frozen=True)
class HistorySpec:
    """What a model declares about its rows for history pages (read by hazardhub/auditlog/timeline.py).

    Why a declaration and not per-page code: a history page is accountability evidence, so every
    page must speak the same words — field labels, Chinese for every code, names for ids. Each
    model says once what its columns mean; the one formatter turns any version row into words.
    Columns that hold an id of another row are found from the table's foreign keys (``refs`` adds
    the few id columns without one); the referenced model's ``name`` gives the words.
    """

    #: column → Chinese label
    labels: dict[str, str] = field(default_factory=dict)
    #: column → {code: Chinese}
    choices: dict[str, dict] = field(default_factory=dict)
    #: columns never shown (paths, snapshots, hashes, internal counters)
    hidden: tuple[str, ...] = ()
    #: id column → the mapped class name it refers to, for id columns without a foreign key
    refs: dict[str, str] = field(default_factory=dict)
    #: how one row is named where another record refers to it, or in its parent's history
    name: Any = None
    #: (child model name, its column holding this row's id): rows whose history joins this one's
    children: tuple[tuple[str, str], ...] = ()
    #: how a row of this model is called in its parent's history ("检查项", "判定依据条目")
    child_label: str = ""
    #: in a parent's history, a new row of this model is one line with its name (not field by field)
    brief: bool = False


@dataclass
class HistoryEntry:
    """One transaction's effect on one object, ready for a history table."""

    transaction_id: int
    issued_at: datetime
    actor: str | None
    remote_addr: str | None
    source: str | None
    reason: str | None
    operation: str
    changes: list[tuple[str, Any, Any]]


OPERATIONS = {0: "创建", 1: "修改", 2: "删除"}
IMPORTED = "导入系统"


def history(obj, labels: dict[str, str] | None = None, hidden: Iterable[str] = ()) -> list[HistoryEntry]:
    """Who changed ``obj``, when, from where, and each field old → new (newest first).

    :param labels: Chinese labels by column name; unlabeled columns show their name
    :param hidden: columns never shown (e.g. the materialised path)
    """
    pk = sa.inspect(type(obj)).primary_key[0].name
    return histories(type(obj), [getattr(obj, pk)], labels, hidden).get(getattr(obj, pk), [])


def histories(cls, ids: Iterable[int], labels: dict[str, str] | None = None,
              hidden: Iterable[str] = ()) -> dict[int, list[HistoryEntry]]:
    """:func:`history` of many rows of ``cls`` at once: four queries, not four per row (an
    inspection's history reads its thirty checklist lines' versions)."""
    vcls = version_class(cls)
    pk = sa.inspect(cls).primary_key[0].name
    ids = list(ids)
    if not ids:
        return {}
    tx_cls = versioning_manager.transaction_cls
    # in the order the changes claim (issued_at), then of writing: an imported ledger row's
    # back-dated steps are written after the import's own transaction (hazards/import_history.py)
    versions = (
        db.session.execute(
            sa.select(vcls).join(tx_cls, tx_cls.id == vcls.transaction_id).where(getattr(vcls, pk).in_(ids))
            .order_by(getattr(vcls, pk), tx_cls.issued_at, vcls.transaction_id)
        )
        .scalars()
        .all()
    )
    tx_ids = sorted({v.transaction_id for v in versions})
    txs = {
        t.id: t
        for t in db.session.execute(sa.select(tx_cls).where(tx_cls.id.in_(tx_ids))).scalars()
    } if tx_ids else {}
    metas: dict[int, dict] = {}
    if tx_ids:  # one query, not a lazy load of ``tx.meta`` per entry
        mt = _meta_table()
        for r in db.session.execute(sa.select(mt.c.transaction_id, mt.c.key, mt.c.value)
                                    .where(mt.c.transaction_id.in_(tx_ids))):
            metas.setdefault(r.transaction_id, {})[r.key] = r.value
    # the account class as Continuum's transaction maps it: audit sits below the models that
    # import it (accounts.models among them), so it names no model module
    User = tx_cls.user.property.mapper.class_
    user_ids = {t.user_id for t in txs.values() if t.user_id}
    names = dict(
        db.session.execute(
            sa.select(User.id, User.display_name)
            .where(User.id.in_(user_ids))
            .execution_options(all_tenants=True)  # the actor may be a city user; names only
        ).all()
    ) if user_ids else {}
    hidden_set = {"tenant_id", pk, "created_at", *hidden}
    columns = [
        c.name
        for c in vcls.__table__.columns
        if c.name not in hidden_set
        and c.name not in ("transaction_id", "end_transaction_id", "operation_type")
        and not c.name.endswith("_mod")
    ]
    labels = labels or {}
    result: dict[int, list[HistoryEntry]] = {}
    previous = None
    for v in versions:
        row_id = getattr(v, pk)
        if previous is not None and getattr(previous, pk) != row_id:
            previous = None
        tx = txs.get(v.transaction_id)
        meta = metas.get(v.transaction_id, {})
        changes = []
        for col in columns:
            new = getattr(v, col)
            old = getattr(previous, col) if previous is not None else None
            if previous is None and new is None:
                continue
            if previous is None or old != new:
                changes.append((labels.get(col, col), old, new))
        # None when no account acted: hazardhub/auditlog/timeline.py says which part of the system did
        actor = names.get(tx.user_id) if tx is not None and tx.user_id else None
        result.setdefault(row_id, []).append(
            HistoryEntry(
                transaction_id=v.transaction_id,
                issued_at=tx.issued_at if tx is not None else None,
                actor=actor,
                remote_addr=tx.remote_addr if tx is not None else None,
                source=meta.get("source"),
                reason=meta.get("reason"),
                # a row written as new after versions that claim earlier moments: the import that
                # brought a ledger row's back-dated past into the system (hazards/import_history.py)
                operation=IMPORTED if v.operation_type == 0 and previous is not None
                else OPERATIONS.get(v.operation_type, str(v.operation_type)),
                changes=changes,
            )
        )
        previous = v
    for entries in result.values():
        entries.reverse()
    return result
