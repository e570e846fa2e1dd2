"""staff inbox: items open, taken, resolved; the staff messages that show them; an event per change

Revision ID: 0012
Revises: 0013
Create Date: 2026-12-02 13:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import jobs.storage.types

revision = '0012'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbox_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), server_default='', nullable=False),
    sa.Column('opened_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('taken_by', sa.BigInteger(), nullable=True),
    sa.Column('taken_by_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('taken_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.BigInteger(), nullable=True),
    sa.Column('resolved_by_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('resolved_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('raised_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('raised_again', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_item_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_inbox_item_status_opened', ['status', 'opened_at'], unique=False)

    op.create_table('inbox_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['inbox_item.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbox_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_event_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_event_kind'), ['kind'], unique=False)

    op.create_table('inbox_view',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('caption', sa.Boolean(), nullable=False),
    sa.Column('lead', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('extra_markup', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['inbox_item.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('chat_id', 'message_id')
    )
    with op.batch_alter_table('inbox_view', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_view_item_id'), ['item_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbox_view', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_view_item_id'))

    op.drop_table('inbox_view')
    with op.batch_alter_table('inbox_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_event_kind'))
        batch_op.drop_index(batch_op.f('ix_inbox_event_item_id'))
        batch_op.drop_index(batch_op.f('ix_inbox_event_at'))

    op.drop_table('inbox_event')
    with op.batch_alter_table('inbox_item', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_item_status_opened')
        batch_op.drop_index(batch_op.f('ix_inbox_item_patient_id'))

    op.drop_table('inbox_item')
