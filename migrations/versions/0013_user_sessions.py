"""user_sessions: server-side session records; login attempts counted per (account, address)

Revision ID: 0013_user_sessions
Revises: 0012_open_deadline
Create Date: 2026-11-30 09:00:00

Why (issue #12, items 4 and 5): the session used to live only in the signed cookie, so a cookie
copied before logout still worked afterwards. Each login now creates a ``user_sessions`` row (only
the SHA-256 of the random 256-bit id the cookie carries is stored); logout, a password change,
deactivation and an admin reset revoke rows, and the user loader accepts a cookie only while its
row is live. Every web host reads the same table, so they agree on what was revoked.

The second index serves the lockout, which now counts consecutive failures per account *and*
client address, so that strangers elsewhere cannot lock the owner out.
"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013_user_sessions'
down_revision = '0012_open_deadline'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_reason', sa.String(length=20), nullable=True),
        sa.Column('remote_addr', sa.String(length=50), nullable=True),
        sa.Column('user_agent', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash')),
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_username_addr_at',
                              ['username', 'remote_addr', 'attempted_at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_username_addr_at')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
