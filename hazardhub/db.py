"""Declarative base, naming convention and the mixins every model builds on.

Why a naming convention: Alembic needs stable constraint names to alter them on PostgreSQL,
and the composite tenant foreign keys are named so a failed insert says which link it broke.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from hazardhub import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    #: when the row was created (naive UTC)
    created_at: Mapped[datetime] = mapped_column(default=clock.utcnow, nullable=False)


class TenantScoped:
    """Marker and column for every row that belongs to one tenant (one education bureau).

    ``hazardhub.tenancy`` filters every ORM SELECT of a subclass to the bound tenant(s) and
    stamps/checks ``tenant_id`` on flush. Models link to each other with composite foreign
    keys ``(tenant_id, x_id)`` so that a row can never point at another tenant's row.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr convention
        #: owning tenant; never changes after insert
        return mapped_column(sa.ForeignKey("tenants.id"), index=True, nullable=False)


def tenant_fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    """Composite FK ``(tenant_id, column) -> target(tenant_id, id)``.

    The target table carries ``UniqueConstraint("tenant_id", "id")`` so this is valid on
    PostgreSQL; the pair makes a cross-tenant link impossible at the database level.
    """
    return sa.ForeignKeyConstraint(
        ["tenant_id", column], [f"{target}.tenant_id", f"{target}.id"]
    )


def listen_once(target, identifier: str, fn) -> None:
    """Register an event listener unless it already is (``create_app`` may run several times in
    one process: tests build many apps, and a listener registered twice would run twice)."""
    if not sa.event.contains(target, identifier, fn):
        sa.event.listen(target, identifier, fn)


def configure_engine(engine: sa.Engine) -> None:
    """SQLite only: enforce foreign keys and let SQLAlchemy own transactions.

    pysqlite's own transaction handling breaks SAVEPOINTs (the tests' per-test savepoint) and
    SQLite ignores foreign keys unless told; the composite tenant FKs must hold there too.
    ``BEGIN IMMEDIATE`` takes the write lock up front, so concurrent writers queue (busy
    timeout) instead of deadlocking on a read→write upgrade; this is what serialises appends to
    an audit chain on SQLite (PostgreSQL locks the chain-head row instead).
    """
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):  # pragma: no cover - trivial
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - trivial
        conn.exec_driver_sql("BEGIN IMMEDIATE")


