"""audit_chain_links.units: the org units each sealed transaction changed (issue #15 item 2)

A hint for the per-school figures kept by the web processes (hazardhub/changeindex.py): not part
of the link's hash. Existing links keep NULL, which means "the whole tenant".

Revision ID: 0021_link_units
Revises: 0020_public_reports
Create Date: 2026-12-06 08:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_link_units'
down_revision = '0020_public_reports'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_chain_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('units', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_chain_links', schema=None) as batch_op:
        batch_op.drop_column('units')
