"""channels: channel settings, user preferences and deliveries (issue #16)

Revision ID: 0019_channels
Revises: 0018_import_mappings
Create Date: 2026-12-06 00:40:00

Why: notices reach people outside HazardHub (企业微信/钉钉 group robots, email, SMS) through
delivery rows, one per (notice, channel, recipient), each sent by a job with its outcome kept.
Not versioned: settings and delivery state, not records of the safety work.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019_channels'
down_revision = '0018_import_mappings'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'channel_configs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('enabled', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('secret', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'unit_id'], ['org_units.tenant_id', 'org_units.id'],
                                name=op.f('fk_channel_configs_tenant_id_unit_id_org_units')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_channel_configs_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_configs')),
        sa.UniqueConstraint('unit_id', 'kind', name=op.f('uq_channel_configs_unit_id_kind')),
    )
    with op.batch_alter_table('channel_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_configs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table(
        'channel_bureau_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('digest_hour', sa.Integer(), server_default='9', nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_channel_bureau_settings_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_bureau_settings')),
        sa.UniqueConstraint('tenant_id', name=op.f('uq_channel_bureau_settings_tenant_id')),
    )
    with op.batch_alter_table('channel_bureau_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_bureau_settings_tenant_id'), ['tenant_id'], unique=False)

    op.create_table(
        'channel_preferences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=120), nullable=True),
        sa.Column('email_on', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('sms_on', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('digest_on', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'user_id'], ['users.tenant_id', 'users.id'],
                                name=op.f('fk_channel_preferences_tenant_id_user_id_users')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_channel_preferences_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_preferences')),
        sa.UniqueConstraint('user_id', name=op.f('uq_channel_preferences_user_id')),
    )
    with op.batch_alter_table('channel_preferences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_preferences_tenant_id'), ['tenant_id'], unique=False)

    op.create_table(
        'channel_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notice_key', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('config_id', sa.Integer(), nullable=True),
        sa.Column('recipient', sa.String(length=40), nullable=False),
        sa.Column('recipient_label', sa.String(length=120), nullable=False),
        sa.Column('address', sa.String(length=120), nullable=True),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('url', sa.String(length=400), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_channel_deliveries_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_deliveries')),
        sa.UniqueConstraint('tenant_id', 'notice_key', 'channel', 'recipient',
                            name=op.f('uq_channel_deliveries_tenant_id_notice_key_channel_recipient')),
    )
    with op.batch_alter_table('channel_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_channel_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_channel_deliveries_tenant_id'), ['tenant_id'], unique=False)


def downgrade():
    for table in ('channel_deliveries', 'channel_preferences', 'channel_bureau_settings', 'channel_configs'):
        op.drop_table(table)
