"""open_deadline: a partial index on open hazards by deadline

Revision ID: 0012_open_deadline
Revises: 0011_performance
Create Date: 2026-11-29 14:05:00

Why (README "Performance", ``flask --app wsgi bench --scale district``): the ledger's 待整改 view
sorted by deadline walked ``ix_hazards_tenant_deadline`` past every closed hazard of the district
(3,943 rows read, 50 kept: 3.4 ms); open hazards are a few percent of a district's rows, and this
index holds only them (0.4 ms). 挂牌督办 and the overdue reminders filter the same way.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012_open_deadline'
down_revision = '0011_performance'
branch_labels = None
depends_on = None

OPEN_WHERE = "status IN ('registered', 'rectifying', 'awaiting_acceptance')"


def upgrade():
    op.create_index("ix_hazards_open_deadline", "hazards", ["tenant_id", "deadline", "id"],
                    postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE))


def downgrade():
    op.drop_index("ix_hazards_open_deadline", table_name="hazards")
