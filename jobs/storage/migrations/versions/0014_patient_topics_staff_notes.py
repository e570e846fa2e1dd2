"""a forum topic per patient in the staff chat, and the staff notes written in it

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-02 13:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import jobs.storage.types

revision = '0014'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patient') as batch:
        batch.add_column(sa.Column('topic_chat_id', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('topic_thread_id', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('topic_closed', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('topic_pending', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch.add_column(sa.Column('topic_claimed_until', jobs.storage.types.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.create_index('ux_patient_topic', ['topic_chat_id', 'topic_thread_id'], unique=True)
        batch.create_index('ix_patient_topic_pending', ['topic_pending'],
                           postgresql_where=sa.text('topic_pending IS NOT NULL'),
                           sqlite_where=sa.text('topic_pending IS NOT NULL'))
    op.create_table('staff_note',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('staff_chat_id', sa.BigInteger(), nullable=False),
    sa.Column('staff_message_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_staff_note_patient_id'), 'staff_note', ['patient_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_staff_note_patient_id'), table_name='staff_note')
    op.drop_table('staff_note')
    with op.batch_alter_table('patient') as batch:
        batch.drop_index('ix_patient_topic_pending')
        batch.drop_index('ux_patient_topic')
        batch.drop_column('topic_claimed_until')
        batch.drop_column('topic_pending')
        batch.drop_column('topic_closed')
        batch.drop_column('topic_thread_id')
        batch.drop_column('topic_chat_id')
