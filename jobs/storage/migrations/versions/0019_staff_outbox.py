"""The staff outbox: every message to staff queued, sent at the staff chat's own pace

Revision ID: 0019
Revises: 0022
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0019'
down_revision = '0022'
branch_labels = None
depends_on = None

OPEN = "status IN ('pending', 'claimed')"


def upgrade() -> None:
    op.create_table(
        'staff_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=True),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('dedup_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('due_at', UTCDateTime(), nullable=False),
        sa.Column('claimed_until', UTCDateTime(), nullable=True),
        sa.Column('holder', sa.BigInteger(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('done_at', UTCDateTime(), nullable=True),
        sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedup_key'),
    )
    op.create_index(op.f('ix_staff_notice_patient_id'), 'staff_notice', ['patient_id'], unique=False)
    op.create_index(op.f('ix_staff_notice_done_at'), 'staff_notice', ['done_at'], unique=False)
    op.create_index('ix_staff_notice_open', 'staff_notice', ['priority', 'id'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_index('ix_staff_notice_open', table_name='staff_notice')
    op.drop_index(op.f('ix_staff_notice_done_at'), table_name='staff_notice')
    op.drop_index(op.f('ix_staff_notice_patient_id'), table_name='staff_notice')
    op.drop_table('staff_notice')
