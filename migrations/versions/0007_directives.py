"""directives: rectification directives (整改指令), their hazards, photos and numbering counters;
escalations of overdue hazards; ``report_runs.params`` (job parameters such as the directive id)

Revision ID: 0007_directives
Revises: 0006_notifications
Create Date: 2026-11-29 10:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_directives'
down_revision = '0006_notifications'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('directive_hazards_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('directive_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('hazard_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('sort', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('hazard_number', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('description', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('location', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('level', sa.String(length=10), autoincrement=False, nullable=True),
    sa.Column('clauses', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('directive_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('hazard_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('sort_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('hazard_number_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('description_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('location_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('level_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('clauses_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_directive_hazards_version'))
    )
    with op.batch_alter_table('directive_hazards_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_hazards_version_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_hazards_version_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_hazards_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_directive_hazards_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_hazards_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_hazards_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('directive_photos_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('directive_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('round', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('content_type', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('original_name', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('stored_name', sa.String(length=80), autoincrement=False, nullable=True),
    sa.Column('thumb_name', sa.String(length=80), autoincrement=False, nullable=True),
    sa.Column('size', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('sha256', sa.String(length=64), autoincrement=False, nullable=True),
    sa.Column('width', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('height', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('uploaded_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('directive_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('round_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('content_type_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('original_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('stored_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('thumb_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('size_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('sha256_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('width_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('height_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('uploaded_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_directive_photos_version'))
    )
    with op.batch_alter_table('directive_photos_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_photos_version_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_photos_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_directive_photos_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_photos_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_photos_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('directives_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('number', sa.String(length=60), autoincrement=False, nullable=True),
    sa.Column('prefix', sa.String(length=30), autoincrement=False, nullable=True),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('doc_title', sa.String(length=20), autoincrement=False, nullable=True),
    sa.Column('issuer_unit_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('issuer_name', sa.String(length=100), autoincrement=False, nullable=True),
    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('school_name', sa.String(length=100), autoincrement=False, nullable=True),
    sa.Column('school_path', sa.String(length=255), autoincrement=False, nullable=True),
    sa.Column('requirements', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('issued_on', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('deadline', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('deadline_working_days', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('issued_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('signer_name', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('status', sa.String(length=14), autoincrement=False, nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('acknowledged_by_name', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('response_note', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('responded_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('responded_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('response_round', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('verified_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('verified_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('verification_note', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('return_count', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('accepted_on', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('extension_status', sa.String(length=10), autoincrement=False, nullable=True),
    sa.Column('extension_until', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('extension_reason', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('extension_decision_note', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('extension_requested_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('extension_decided_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('is_overdue', sa.Boolean(), autoincrement=False, nullable=True),
    sa.Column('overdue_marked_on', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('updated_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('version_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('number_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('prefix_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('year_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('seq_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('doc_title_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('issuer_unit_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('issuer_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_path_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('requirements_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('issued_on_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('deadline_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('deadline_working_days_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('issued_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('signer_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('status_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('acknowledged_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('acknowledged_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('acknowledged_by_name_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('response_note_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('responded_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('responded_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('response_round_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('verified_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('verified_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('verification_note_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('return_count_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('accepted_on_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('extension_status_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('extension_until_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('extension_reason_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('extension_decision_note_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('extension_requested_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('extension_decided_by_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('is_overdue_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('overdue_marked_on_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('updated_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('version_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_directives_version'))
    )
    with op.batch_alter_table('directives_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directives_version_issuer_unit_id'), ['issuer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_directives_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_version_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_version_school_path'), ['school_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('escalations_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hazard_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('directive_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('kind', sa.String(length=10), autoincrement=False, nullable=True),
    sa.Column('from_level', sa.String(length=10), autoincrement=False, nullable=True),
    sa.Column('to_level', sa.String(length=10), autoincrement=False, nullable=True),
    sa.Column('deadline', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('escalated_on', sa.Date(), autoincrement=False, nullable=True),
    sa.Column('school_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('school_path', sa.String(length=255), autoincrement=False, nullable=True),
    sa.Column('hazard_number', sa.String(length=40), autoincrement=False, nullable=True),
    sa.Column('hazard_level', sa.String(length=10), autoincrement=False, nullable=True),
    sa.Column('note', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('tenant_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.Column('hazard_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('directive_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('kind_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('from_level_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('to_level_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('deadline_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('escalated_on_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('school_path_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('hazard_number_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('hazard_level_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('note_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('tenant_id_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at_mod', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id', name=op.f('pk_escalations_version'))
    )
    with op.batch_alter_table('escalations_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_version_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_version_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_escalations_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_version_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_version_school_path'), ['school_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_version_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('directive_counters',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('prefix', sa.String(length=30), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'unit_id'], ['org_units.tenant_id', 'org_units.id'], name=op.f('fk_directive_counters_tenant_id_unit_id_org_units')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_directive_counters_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'unit_id', 'year', name=op.f('pk_directive_counters'))
    )
    op.create_table('directives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=60), nullable=False),
    sa.Column('prefix', sa.String(length=30), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('doc_title', sa.String(length=20), nullable=False),
    sa.Column('issuer_unit_id', sa.Integer(), nullable=False),
    sa.Column('issuer_name', sa.String(length=100), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_name', sa.String(length=100), nullable=False),
    sa.Column('school_path', sa.String(length=255), nullable=False),
    sa.Column('requirements', sa.Text(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('deadline_working_days', sa.Integer(), nullable=True),
    sa.Column('issued_by_id', sa.Integer(), nullable=False),
    sa.Column('signer_name', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_by_name', sa.String(length=40), nullable=True),
    sa.Column('response_note', sa.Text(), nullable=True),
    sa.Column('responded_at', sa.DateTime(), nullable=True),
    sa.Column('responded_by_id', sa.Integer(), nullable=True),
    sa.Column('response_round', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verification_note', sa.Text(), nullable=True),
    sa.Column('return_count', sa.Integer(), nullable=False),
    sa.Column('accepted_on', sa.Date(), nullable=True),
    sa.Column('extension_status', sa.String(length=10), nullable=True),
    sa.Column('extension_until', sa.Date(), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('extension_decision_note', sa.Text(), nullable=True),
    sa.Column('extension_requested_by_id', sa.Integer(), nullable=True),
    sa.Column('extension_decided_by_id', sa.Integer(), nullable=True),
    sa.Column('is_overdue', sa.Boolean(), nullable=False),
    sa.Column('overdue_marked_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('issued','acknowledged','responded','returned','accepted')", name=op.f('ck_directives_status')),
    sa.CheckConstraint('deadline >= issued_on', name=op.f('ck_directives_deadline')),
    sa.ForeignKeyConstraint(['tenant_id', 'acknowledged_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directives_tenant_id_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'extension_decided_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directives_tenant_id_extension_decided_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'extension_requested_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directives_tenant_id_extension_requested_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'issued_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directives_tenant_id_issued_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'issuer_unit_id'], ['org_units.tenant_id', 'org_units.id'], name=op.f('fk_directives_tenant_id_issuer_unit_id_org_units')),
    sa.ForeignKeyConstraint(['tenant_id', 'responded_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directives_tenant_id_responded_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id', 'school_id'], ['org_units.tenant_id', 'org_units.id'], name=op.f('fk_directives_tenant_id_school_id_org_units')),
    sa.ForeignKeyConstraint(['tenant_id', 'verified_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directives_tenant_id_verified_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_directives_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directives')),
    sa.UniqueConstraint('tenant_id', 'id', name=op.f('uq_directives_tenant_id_id')),
    sa.UniqueConstraint('tenant_id', 'issuer_unit_id', 'year', 'seq', name=op.f('uq_directives_tenant_id_issuer_unit_id_year_seq')),
    sa.UniqueConstraint('tenant_id', 'number', name=op.f('uq_directives_tenant_id_number'))
    )
    with op.batch_alter_table('directives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directives_issuer_unit_id'), ['issuer_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_school_path'), ['school_path'], unique=False)
        batch_op.create_index('ix_directives_tenant_deadline', ['tenant_id', 'deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_directives_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_directives_tenant_status', ['tenant_id', 'status'], unique=False)

    op.create_table('directive_hazards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('directive_id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('sort', sa.Integer(), nullable=False),
    sa.Column('hazard_number', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('clauses', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'directive_id'], ['directives.tenant_id', 'directives.id'], name=op.f('fk_directive_hazards_tenant_id_directive_id_directives')),
    sa.ForeignKeyConstraint(['tenant_id', 'hazard_id'], ['hazards.tenant_id', 'hazards.id'], name=op.f('fk_directive_hazards_tenant_id_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_directive_hazards_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directive_hazards')),
    sa.UniqueConstraint('directive_id', 'hazard_id', name=op.f('uq_directive_hazards_directive_id_hazard_id'))
    )
    with op.batch_alter_table('directive_hazards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_hazards_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_hazards_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_hazards_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('directive_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('directive_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('original_name', sa.String(length=200), nullable=False),
    sa.Column('stored_name', sa.String(length=80), nullable=False),
    sa.Column('thumb_name', sa.String(length=80), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'directive_id'], ['directives.tenant_id', 'directives.id'], name=op.f('fk_directive_photos_tenant_id_directive_id_directives')),
    sa.ForeignKeyConstraint(['tenant_id', 'uploaded_by_id'], ['users.tenant_id', 'users.id'], name=op.f('fk_directive_photos_tenant_id_uploaded_by_id_users')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_directive_photos_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_directive_photos')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_directive_photos_stored_name'))
    )
    with op.batch_alter_table('directive_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_photos_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_photos_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('directive_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('from_level', sa.String(length=10), nullable=False),
    sa.Column('to_level', sa.String(length=10), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('escalated_on', sa.Date(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('school_path', sa.String(length=255), nullable=False),
    sa.Column('hazard_number', sa.String(length=40), nullable=False),
    sa.Column('hazard_level', sa.String(length=10), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('overdue','escalated')", name=op.f('ck_escalations_kind')),
    sa.ForeignKeyConstraint(['tenant_id', 'directive_id'], ['directives.tenant_id', 'directives.id'], name=op.f('fk_escalations_tenant_id_directive_id_directives')),
    sa.ForeignKeyConstraint(['tenant_id', 'hazard_id'], ['hazards.tenant_id', 'hazards.id'], name=op.f('fk_escalations_tenant_id_hazard_id_hazards')),
    sa.ForeignKeyConstraint(['tenant_id', 'school_id'], ['org_units.tenant_id', 'org_units.id'], name=op.f('fk_escalations_tenant_id_school_id_org_units')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_escalations_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations')),
    sa.UniqueConstraint('tenant_id', 'hazard_id', 'kind', 'to_level', 'deadline', name=op.f('uq_escalations_tenant_id_hazard_id_kind_to_level_deadline'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_directive_id'), ['directive_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_hazard_id'), ['hazard_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_school_path'), ['school_path'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_escalations_tenant_to_level', ['tenant_id', 'to_level'], unique=False)

    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))



def downgrade():
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_column('params')

    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('ix_escalations_tenant_to_level')
        batch_op.drop_index(batch_op.f('ix_escalations_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_school_path'))
        batch_op.drop_index(batch_op.f('ix_escalations_school_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_directive_id'))

    op.drop_table('escalations')
    with op.batch_alter_table('directive_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directive_photos_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_directive_photos_directive_id'))

    op.drop_table('directive_photos')
    with op.batch_alter_table('directive_hazards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directive_hazards_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_directive_hazards_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_directive_hazards_directive_id'))

    op.drop_table('directive_hazards')
    with op.batch_alter_table('directives', schema=None) as batch_op:
        batch_op.drop_index('ix_directives_tenant_status')
        batch_op.drop_index(batch_op.f('ix_directives_tenant_id'))
        batch_op.drop_index('ix_directives_tenant_deadline')
        batch_op.drop_index(batch_op.f('ix_directives_school_path'))
        batch_op.drop_index(batch_op.f('ix_directives_school_id'))
        batch_op.drop_index(batch_op.f('ix_directives_issuer_unit_id'))

    op.drop_table('directives')
    op.drop_table('directive_counters')
    with op.batch_alter_table('escalations_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalations_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_version_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_version_school_path'))
        batch_op.drop_index(batch_op.f('ix_escalations_version_school_id'))
        batch_op.drop_index('ix_escalations_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_escalations_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_escalations_version_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_version_directive_id'))

    op.drop_table('escalations_version')
    with op.batch_alter_table('directives_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directives_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_directives_version_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_directives_version_school_path'))
        batch_op.drop_index(batch_op.f('ix_directives_version_school_id'))
        batch_op.drop_index('ix_directives_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_directives_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_directives_version_issuer_unit_id'))

    op.drop_table('directives_version')
    with op.batch_alter_table('directive_photos_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directive_photos_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_directive_photos_version_tenant_id'))
        batch_op.drop_index('ix_directive_photos_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_directive_photos_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_directive_photos_version_directive_id'))

    op.drop_table('directive_photos_version')
    with op.batch_alter_table('directive_hazards_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_directive_hazards_version_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_directive_hazards_version_tenant_id'))
        batch_op.drop_index('ix_directive_hazards_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_directive_hazards_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_directive_hazards_version_hazard_id'))
        batch_op.drop_index(batch_op.f('ix_directive_hazards_version_directive_id'))

    op.drop_table('directive_hazards_version')
