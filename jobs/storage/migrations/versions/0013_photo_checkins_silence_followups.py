"""photo check-ins and silence noticed: follow-up offsets and parents on reminders; the photo table

Revision ID: 0013
Revises: 0014
Create Date: 2026-12-02 13:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0013'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nudge_after_spec', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('alert_after_spec', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
    op.create_table(
        'photo',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reminder_id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('file_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column('update_id', sa.BigInteger(), nullable=True),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('review', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column('reviewed_by', sa.BigInteger(), nullable=True),
        sa.Column('reviewed_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['reminder_id'], ['reminder.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('update_id'),
    )
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_reminder_id'), ['reminder_id'], unique=False)


def downgrade() -> None:
    op.drop_table('photo')
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_column('parent_id')
        batch_op.drop_column('alert_after_spec')
        batch_op.drop_column('nudge_after_spec')
