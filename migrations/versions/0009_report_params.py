"""report_params: no schema change.

Phase reports keep their parameters (phase, scope unit, as-of date and cutoff) in
``report_runs.params``, the JSON column added in 0007; nothing else is needed. The revision stays
so the chain 0008 → 0009 → 0010 is unchanged.

Revision ID: 0009_report_params
Revises: 0008_accountability
Create Date: 2026-11-29 10:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_report_params'
down_revision = '0008_accountability'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
