"""form_submissions: one-time form tokens, so one click makes one document

Revision ID: 0014_form_tokens
Revises: 0013_user_sessions
Create Date: 2026-11-30 10:00:00

Why (issue #12, item 8): two identical simultaneous posts of "下达整改指令" created two numbered
directives. Every one-shot form now carries a random token; its POST inserts a row here, keyed by
the SHA-256 of (user, path, token), in the same transaction as the effect
(``hazardhub/formtokens.py``). A second submission finds the row and is sent to ``outcome``; a
concurrent one loses on the primary key. Not versioned: plumbing, not ledger.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014_form_tokens'
down_revision = '0013_user_sessions'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'form_submissions',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('endpoint', sa.String(length=80), nullable=False),
        sa.Column('outcome', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'user_id'], ['users.tenant_id', 'users.id'],
                                name=op.f('fk_form_submissions_tenant_id_user_id_users')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_form_submissions_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_form_submissions')),
    )
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_submissions_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('form_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_submissions_tenant_id'))
    op.drop_table('form_submissions')
