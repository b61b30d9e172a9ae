"""import_value_choices: what a tenant's clerks chose for the values of an imported ledger

Revision ID: 0018_import_mappings
Revises: 0014_form_tokens
Create Date: 2026-12-06 00:30:00

Why (issue #14): a county's ledgers write 消防安全, 已整改, 较大 … for the same few values; the
mapping step suggests from a shipped synonym table, the clerk confirms or corrects, and the choice
is remembered per tenant so the next file (and the ``flask import ledger`` command) maps it the
same way. Not versioned: a preference, not ledger data.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018_import_mappings'
down_revision = '0014_form_tokens'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_value_choices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=20), nullable=False),
        sa.Column('value', sa.String(length=100), nullable=False),
        sa.Column('choice', sa.String(length=40), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_import_value_choices_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_value_choices')),
        sa.UniqueConstraint('tenant_id', 'field', 'value', name=op.f('uq_import_value_choices_tenant_id_field_value')),
    )
    with op.batch_alter_table('import_value_choices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_value_choices_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('import_value_choices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_value_choices_tenant_id'))
    op.drop_table('import_value_choices')
