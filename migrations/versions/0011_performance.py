"""performance: indexes the city-scale benchmark asked for

Revision ID: 0011_performance
Revises: 0010_city_witness
Create Date: 2026-11-29 11:10:00

Why each index (measured with ``flask --app wsgi bench --scale district``, README "Performance"):

* ``ix_hazards_tenant_path_counts`` (tenant_id, school_path, status, level, deadline): the ledger's
  counters group a whole district's hazards by status, level and overdue; with the scope filter
  (``school_path LIKE '/3/%'``) and the three columns in one index PostgreSQL answers them with an
  index-only scan instead of reading every (wide) hazard row. ``varchar_pattern_ops`` on the path
  makes the prefix ``LIKE`` usable whatever the database's collation (a plain btree serves it only
  under the C collation).

The model declares the same index (``Hazard.__table_args__``), so autogenerate stays quiet.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0011_performance'
down_revision = '0010_city_witness'
branch_labels = None
depends_on = None


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index(
        "ix_hazards_tenant_path_counts", "hazards", ["tenant_id", "school_path", "status", "level", "deadline"],
        postgresql_ops={"school_path": "varchar_pattern_ops"} if postgres else None,
    )


def downgrade():
    op.drop_index("ix_hazards_tenant_path_counts", table_name="hazards")
