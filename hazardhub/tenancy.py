"""All tenant-scoping code: the bound tenant and the ORM hooks that enforce it.

Scoping is a floor, not a habit (Redash's opt-in ``get_by_id_and_org`` was forgotten once and
leaked data). Every ORM SELECT of a :class:`~hazardhub.db.TenantScoped` model, and of every
Continuum version class, gets a ``with_loader_criteria`` for the bound tenant(s); with nothing
bound an ORM SELECT refuses to run. Every flush stamps and checks ``tenant_id``. Bulk
UPDATE/DELETE on versioned tables are refused because Continuum cannot see them.

Known holes, kept closed elsewhere: Core/``text()`` statements are not filtered (only the audit
verifier uses them, with explicit tenant filters); ``session.get()`` on a warm identity map issues
no SQL, so :func:`hazardhub.policy.load_or_404` checks ``tenant_id`` on the object as well.

The only unscoped paths pass ``execution_options(all_tenants=True)``; grep for it: the user loader,
login, and the platform CLI.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterable, Iterator

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlalchemy.orm import Session, with_loader_criteria

from hazardhub.db import Base
from hazardhub.db import TenantScoped, listen_once
from hazardhub.extensions import db
from hazardhub.roles import CITY_ROLES


class TenantNotBound(RuntimeError):
    """An ORM query or write ran with no tenant bound."""


class CrossTenantWrite(RuntimeError):
    """A write would touch a row of a tenant other than the one bound for writing."""


class BulkWriteForbidden(RuntimeError):
    """Bulk UPDATE/DELETE on a versioned table (Continuum would not record it)."""


@dataclass(frozen=True)
class TenantScope:
    """What the current request, command or job may touch.

    :param write_tenant_id: the one tenant that writes go to (``None``: read-only scope)
    :param read_tenant_ids: tenants whose rows SELECTs may return (a city user: the city and
        its districts; everybody else: their own tenant)
    """

    write_tenant_id: int | None
    read_tenant_ids: tuple[int, ...]

    @classmethod
    def single(cls, tenant_id: int) -> "TenantScope":
        return cls(write_tenant_id=tenant_id, read_tenant_ids=(tenant_id,))

    @classmethod
    def reading(cls, write_tenant_id: int | None, read_ids: Iterable[int]) -> "TenantScope":
        ids = set(read_ids)
        if write_tenant_id is not None:
            ids.add(write_tenant_id)
        return cls(write_tenant_id=write_tenant_id, read_tenant_ids=tuple(sorted(ids)))


_current_scope: ContextVar[TenantScope | None] = ContextVar("hazardhub_tenant_scope", default=None)


def current_scope() -> TenantScope:
    """Return the bound scope or raise :class:`TenantNotBound`."""
    scope = _current_scope.get()
    if scope is None:
        raise TenantNotBound("no tenant is bound; refusing to run a tenant-scoped query")
    return scope


def peek_scope() -> TenantScope | None:
    """Return the bound scope, or ``None`` (for code that only reports, e.g. templates)."""
    return _current_scope.get()


def bind_scope(scope: TenantScope | None):
    """Bind ``scope`` and return the token for :func:`unbind`."""
    return _current_scope.set(scope)


def unbind(token) -> None:
    _current_scope.reset(token)


@contextmanager
def tenant_bound(tenant_id: int | TenantScope) -> Iterator[TenantScope]:
    """Bind one tenant for the duration of a block (CLI commands, jobs, tests)."""
    scope = tenant_id if isinstance(tenant_id, TenantScope) else TenantScope.single(tenant_id)
    token = _current_scope.set(scope)
    try:
        yield scope
    finally:
        _current_scope.reset(token)


# ---------------------------------------------------------------------------------------------
# the city → district hierarchy (public: policy, login, jobs and the org views ask the same way)

#: the tenants table as Core columns: the hierarchy is read here without importing the models
#: (``hazardhub.orgs.models`` sits above this floor); tenants are platform rows, never scoped
_TENANTS = sa.table("tenants", sa.column("id"), sa.column("parent_id"))
_generation = 0


@functools.lru_cache(maxsize=64)
def _district_ids_cached(city_id: int, generation: int) -> frozenset[int]:
    rows = db.session.execute(sa.select(_TENANTS.c.id).where(_TENANTS.c.parent_id == city_id)).scalars()
    return frozenset(rows)


def district_ids(city_id: int) -> frozenset[int]:
    """The ids of the district tenants under a city tenant (empty for a district)."""
    return _district_ids_cached(city_id, _generation)


def invalidate_tenant_cache() -> None:
    """Forget the cached hierarchy; call after tenants are added (``tenants apply``, tests)."""
    global _generation
    _generation += 1


#: 分包 assignments as Core columns, for the same reason (``hazardhub.inspections.models`` is above)
_LEADER_ASSIGNMENTS = sa.table("leader_assignments", sa.column("id"), sa.column("tenant_id"),
                               sa.column("leader_id"), sa.column("unit_id"), sa.column("is_active"))


def is_assigned_leader(leader_id: int, unit) -> bool:
    """Is the bureau leader assigned (分包) ``unit`` or a unit above it?

    A fact of the hierarchy that policy needs (who may pay an unannounced visit) and operations
    record; it lives here so policy asks downwards. A Core statement is not scoped by the ORM
    hooks, so the tenant is filtered explicitly; pending rows are flushed first, as an ORM SELECT
    would.

    :param leader_id: the user id of the leader
    :param unit: an ``OrgUnit`` (its ``tenant_id`` and materialised ``path`` are read)
    """
    if db.session.autoflush:
        db.session.flush()
    ancestor_ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    a = _LEADER_ASSIGNMENTS.c
    return db.session.execute(
        sa.select(a.id).where(a.tenant_id == unit.tenant_id, a.leader_id == leader_id,
                              a.unit_id.in_(ancestor_ids), a.is_active.is_(True))
    ).first() is not None


def is_city_user(user) -> bool:
    """Does the user hold an active city role (and so read the city's districts)?"""
    return any(m.role in CITY_ROLES for m in getattr(user, "active_memberships", None) or [])


def scope_for(user) -> TenantScope:
    """A user's scope: a city user reads the city and its districts and writes the city; every
    other user reads and writes their own tenant."""
    if is_city_user(user):
        return TenantScope.reading(user.tenant_id, district_ids(user.tenant_id))
    return TenantScope.single(user.tenant_id)


def _version_base():
    from sqlalchemy_continuum.model_builder import VersionClassBase

    return VersionClassBase


def _is_scoped_class(cls) -> bool:
    return issubclass(cls, TenantScoped) or issubclass(cls, _version_base())


_scoped_tables: frozenset | None = None


def _touches_scoped_table(statement) -> bool:
    """Does the statement read a scoped table anywhere (e.g. only inside a subquery)?

    ``all_mappers`` lists only top-level entities; ``SELECT count(*) FROM (SELECT ... units)``
    has none, yet its subquery must be filtered (the criteria added to the outer statement do
    reach ORM subqueries) and must be refused when no tenant is bound.
    """
    global _scoped_tables
    if _scoped_tables is None:
        _scoped_tables = frozenset(
            m.local_table for m in Base.registry.mappers if _is_scoped_class(m.class_)
        )
    for element in visitors.iterate(statement):
        if isinstance(element, sa.Table) and element in _scoped_tables:  # annotated copies hash equal
            return True
    return False


def _is_versioned_entity(entity) -> bool:
    return entity is not None and hasattr(entity, "__versioned__")


def _scope_orm_statement(state) -> None:
    """Add the tenant criteria to every ORM SELECT; refuse unscoped ones and bulk writes."""
    if state.is_update or state.is_delete:
        mapper = state.bind_mapper
        if mapper is not None and _is_versioned_entity(mapper.class_):
            raise BulkWriteForbidden(
                f"bulk {'UPDATE' if state.is_update else 'DELETE'} on versioned "
                f"{mapper.class_.__name__}; change ORM objects instead"
            )
        if mapper is not None and issubclass(mapper.class_, TenantScoped):
            current_scope()  # bulk writes to scoped tables still need a bound tenant
        return
    if not state.is_select or state.execution_options.get("all_tenants"):
        return
    if not any(_is_scoped_class(m.class_) for m in state.all_mappers) and not _touches_scoped_table(
        state.statement
    ):
        return  # platform tables (tenants, transactions, login attempts) carry no tenant rows
    scope = current_scope()
    ids = scope.read_tenant_ids
    if len(ids) == 1:
        tid = ids[0]
        criteria = lambda cls: cls.tenant_id == tid  # noqa: E731
    else:
        criteria = lambda cls: cls.tenant_id.in_(ids)  # noqa: E731
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, criteria, include_aliases=True),
        with_loader_criteria(_version_base(), criteria, include_aliases=True),
    )


def _stamp_and_check_tenant(session, flush_context, instances) -> None:
    """Stamp ``tenant_id`` on new rows and refuse writes outside the bound write tenant."""
    scoped_new = [o for o in session.new if isinstance(o, TenantScoped)]
    scoped_changed = [o for o in (*session.dirty, *session.deleted) if isinstance(o, TenantScoped)]
    if not scoped_new and not scoped_changed:
        return
    scope = current_scope()
    write_tid = scope.write_tenant_id
    if write_tid is None:
        raise CrossTenantWrite("the bound scope is read-only")
    for obj in scoped_new:
        if obj.tenant_id is None:
            obj.tenant_id = write_tid
        elif obj.tenant_id != write_tid:
            raise CrossTenantWrite(
                f"new {type(obj).__name__} for tenant {obj.tenant_id}, bound {write_tid}"
            )
    from sqlalchemy import inspect

    for obj in scoped_changed:
        history = inspect(obj).attrs.tenant_id.history
        original = history.deleted[0] if history.deleted else obj.tenant_id
        if history.has_changes() or original != write_tid:
            raise CrossTenantWrite(
                f"{type(obj).__name__} #{getattr(obj, 'id', '?')} of tenant {original} "
                f"cannot be changed while tenant {write_tid} is bound"
            )


def install_scoping() -> None:
    """Install the scoping floor on every Session: criteria on each ORM SELECT, tenant checks on flush.

    Called from ``hazardhub.create_app`` in its documented order; idempotent."""
    listen_once(Session, "do_orm_execute", _scope_orm_statement)
    listen_once(Session, "before_flush", _stamp_and_check_tenant)
