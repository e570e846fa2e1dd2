"""Keep no more than needed: handled updates lose their payload; staff messages naming a patient are recorded

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_mention',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('caption', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_staff_mention_patient_id'), 'staff_mention', ['patient_id'], unique=False)
    # Updates handled before this version kept their payload (words, names, phones) until pruned.
    op.execute("UPDATE inbound_update SET payload = '', chat_key = NULL WHERE status IN ('done', 'failed')")


def downgrade() -> None:
    # The payloads dropped are gone for good; handled rows without one are all the older code needs.
    op.drop_index(op.f('ix_staff_mention_patient_id'), table_name='staff_mention')
    op.drop_table('staff_mention')
