"""public_reports: 随手拍 — poster QR codes, public reports, their photos (all versioned), and the
reporters' encrypted phone numbers (not versioned, so that erasure leaves nothing behind)

Revision ID: 0020_public_reports
Revises: 0019_channels
Create Date: 2026-12-06 00:23:27

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_public_reports'
down_revision = '0019_channels'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('public_report_codes_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('place', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('token', sa.String(length=64), autoincrement=False, nullable=True),
    sa.Column('is_active', sa.Boolean(), autoincrement=False, nullable=True),
    sa.Column('retired_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('created_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('school_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('place_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('token_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('is_active_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('retired_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_public_report_codes_version'))
    )
    with op.batch_alter_table('public_report_codes_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_report_codes_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_public_report_codes_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_codes_version_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_codes_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_codes_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('public_report_photos_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('report_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('content_type', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('stored_name', sa.String(length=80), autoincrement=False, nullable=True),
    sa.Column('thumb_name', sa.String(length=80), autoincrement=False, nullable=True),
    sa.Column('size', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('sha256', sa.String(length=64), autoincrement=False, nullable=True),
    sa.Column('width', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('height', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('report_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('content_type_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('stored_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('thumb_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('size_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('sha256_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('width_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('height_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_public_report_photos_version'))
    )
    with op.batch_alter_table('public_report_photos_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_report_photos_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_public_report_photos_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_photos_version_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_photos_version_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_photos_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_photos_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('public_reports_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('receipt', sa.String(length=16), autoincrement=False, nullable=True),
    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('school_path', sa.String(length=255), autoincrement=False, nullable=True),
    sa.Column('code_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('kind', sa.String(length=20), autoincrement=False, nullable=True),
    sa.Column('place', sa.String(length=60), autoincrement=False, nullable=True),
    sa.Column('description', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('fingerprint', sa.String(length=64), autoincrement=False, nullable=True),
    sa.Column('status', sa.String(length=12), autoincrement=False, nullable=True),
    sa.Column('hazard_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('close_reason', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('show_after_photos', sa.Boolean(), autoincrement=False, nullable=True),
    sa.Column('triaged_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('triaged_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('escalated_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('receipt_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_path_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('code_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('kind_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('place_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('description_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('fingerprint_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('status_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('hazard_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('close_reason_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('show_after_photos_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('triaged_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('triaged_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('escalated_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_public_reports_version'))
    )
    with op.batch_alter_table('public_reports_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_reports_version_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_public_reports_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_school_path'), ['school_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('public_report_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=40), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'created_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_public_report_codes_tenant_id_created_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'school_id'], ['org_units.tenant_id', 'org_units.id'], name=op.f('fk_public_report_codes_tenant_id_school_id_org_units')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_public_report_codes_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_report_codes')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_public_report_codes_tenant_id_id')),
    sa.UniqueConstraint('token', name=op.f('uq_public_report_codes_token'))
    )
    with op.batch_alter_table('public_report_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_report_codes_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_codes_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('public_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt', sa.String(length=16), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_path', sa.String(length=255), nullable=False),
    sa.Column('code_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('place', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=True),
    sa.Column('close_reason', sa.String(length=200), nullable=True),
    sa.Column('show_after_photos', sa.Boolean(), nullable=False),
    sa.Column('triaged_at', sa.DateTime(), nullable=True),
    sa.Column('triaged_by_id', sa.Integer(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('new','registered','rejected')", name=op.f('ck_public_reports_status')),
    sa.ForeignKeyConstraint(['tenant_id', 'code_id'], ['public_report_codes.tenant_id', 'public_report_codes.id'], name=op.f('fk_public_reports_tenant_id_code_id_public_report_codes')),
    sa.ForeignKeyConstraint(['tenant_id', 'hazard_id'], ['hazards.tenant_id', 'hazards.id'], name=op.f('fk_public_reports_tenant_id_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['tenant_id', 'school_id'], ['org_units.tenant_id', 'org_units.id'], name=op.f('fk_public_reports_tenant_id_school_id_org_units')),
    sa.ForeignKeyConstraint(['tenant_id', 'triaged_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_public_reports_tenant_id_triaged_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_public_reports_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_reports')),
    sa.UniqueConstraint('receipt', name=op.f('uq_public_reports_receipt')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_public_reports_tenant_id_id'))
    )
    with op.batch_alter_table('public_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_reports_code_id'), ['code_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_fingerprint'), ['fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_school_path'), ['school_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_reports_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_public_reports_tenant_status', ['tenant_id', 'status'], unique=False)

    op.create_table('public_report_contacts',
    sa.Column('report_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('phone_cipher', sa.Text(), nullable=False),
    sa.Column('phone_hint', sa.String(length=20), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'report_id'], ['public_reports.tenant_id', 'public_reports.id'], name=op.f('fk_public_report_contacts_tenant_id_report_id_public_reports')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_public_report_contacts_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_public_report_contacts'))
    )
    with op.batch_alter_table('public_report_contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_report_contacts_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('public_report_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('thumb_name', sa.String(length=80), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'report_id'], ['public_reports.tenant_id', 'public_reports.id'], name=op.f('fk_public_report_photos_tenant_id_report_id_public_reports')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_public_report_photos_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_public_report_photos')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_public_report_photos_stored_name'))
    )
    with op.batch_alter_table('public_report_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_report_photos_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_photos_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_report_photos_tenant_id'), ['tenant_id'], unique=False)



def downgrade():
    with op.batch_alter_table('public_report_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_report_photos_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_public_report_photos_sha256'))
        batch_op.drop_index(batch_op.f('ix_public_report_photos_report_id'))

    op.drop_table('public_report_photos')
    with op.batch_alter_table('public_report_contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_report_contacts_tenant_id'))

    op.drop_table('public_report_contacts')
    with op.batch_alter_table('public_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_public_reports_tenant_status')
        batch_op.drop_index(batch_op.f('ix_public_reports_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_public_reports_school_path'))
        batch_op.drop_index(batch_op.f('ix_public_reports_school_id'))
        batch_op.drop_index(batch_op.f('ix_public_reports_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_public_reports_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_public_reports_code_id'))

    op.drop_table('public_reports')
    with op.batch_alter_table('public_report_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_report_codes_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_public_report_codes_school_id'))

    op.drop_table('public_report_codes')
    with op.batch_alter_table('public_reports_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_reports_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_public_reports_version_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_public_reports_version_school_path'))
        batch_op.drop_index(batch_op.f('ix_public_reports_version_school_id'))
        batch_op.drop_index('ix_public_reports_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_public_reports_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_public_reports_version_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_public_reports_version_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_public_reports_version_code_id'))

    op.drop_table('public_reports_version')
    with op.batch_alter_table('public_report_photos_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_report_photos_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_public_report_photos_version_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_public_report_photos_version_sha256'))
        batch_op.drop_index(batch_op.f('ix_public_report_photos_version_report_id'))
        batch_op.drop_index('ix_public_report_photos_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_public_report_photos_version_operation_type'))

    op.drop_table('public_report_photos_version')
    with op.batch_alter_table('public_report_codes_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_report_codes_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_public_report_codes_version_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_public_report_codes_version_school_id'))
        batch_op.drop_index('ix_public_report_codes_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_public_report_codes_version_operation_type'))

    op.drop_table('public_report_codes_version')
