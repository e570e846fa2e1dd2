"""Outcome answers: how the skin turned out after the series, one row per outcome step answered

Revision ID: 0023
Revises: 0016
Create Date: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0023'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'outcome_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reminder_id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('enrollment_id', sa.Integer(), nullable=False),
        sa.Column('protocol_name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('step_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('scale', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('answer', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('worse', sa.Boolean(), nullable=False),
        sa.Column('answered_at', UTCDateTime(), nullable=False),
        sa.Column('changed_at', UTCDateTime(), nullable=True),
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['reminder_id'], ['reminder.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['enrollment_id'], ['enrollment.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('reminder_id'),
    )
    op.create_index(op.f('ix_outcome_answer_patient_id'), 'outcome_answer', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_outcome_answer_patient_id'), table_name='outcome_answer')
    op.drop_table('outcome_answer')
