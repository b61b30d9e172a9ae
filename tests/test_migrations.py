"""The schema comes only from migrations, and the models never drift from them."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_models_and_migrations_agree(app, db):
    """Autogenerate against the migrated test database must find nothing to do."""
    conn = db.session.connection()
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree ({conn.dialect.name}): {diff}"


def test_every_tenant_scoped_table_has_indexed_not_null_tenant_id(app, db):
    from hazardhub.db import Base, TenantScoped

    inspector = sa.inspect(db.session.connection())
    scoped = [m.local_table.name for m in Base.registry.mappers if issubclass(m.class_, TenantScoped)]
    assert {"org_units", "users", "memberships", "report_runs"} <= set(scoped)
    for table in scoped:
        columns = {c["name"]: c for c in inspector.get_columns(table)}
        assert columns["tenant_id"]["nullable"] is False, table
        indexed = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
        assert ("tenant_id",) in indexed, table


def test_schema_was_built_by_alembic(app, db):
    version = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version
