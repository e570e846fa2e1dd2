"""Consent to keep photos for comparing before and after; when an outcome step asked for its photo

Revision ID: 0027
Revises: 0021
Create Date: 2026-12-06 23:20:00
"""

import sqlalchemy as sa
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0027'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'photo_consent',
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('reminder_id', sa.Integer(), nullable=True),
        sa.Column('asked_at', UTCDateTime(), nullable=False),
        sa.Column('given', sa.Boolean(), nullable=True),
        sa.Column('answered_at', UTCDateTime(), nullable=True),
        sa.Column('changes', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('patient_id'),
    )
    with op.batch_alter_table('outcome_answer') as batch:
        batch.add_column(sa.Column('photo_asked_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outcome_answer') as batch:
        batch.drop_column('photo_asked_at')
    op.drop_table('photo_consent')
