"""durable intake: inbound updates stored before they are confirmed; who holds each claim

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-02 07:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0007'
down_revision = '0011'
branch_labels = None
depends_on = None

_OPEN = "status IN ('new', 'claimed')"


def upgrade() -> None:
    op.create_table(
        'inbound_update',
        sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('chat_key', sa.BigInteger(), nullable=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('received_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('claimed_until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('holder', sa.BigInteger(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('effects', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('done_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('update_id'),
    )
    with op.batch_alter_table('inbound_update', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_update_chat_open', ['chat_key', 'update_id'], unique=False,
                              postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
        batch_op.create_index('ix_inbound_update_open', ['update_id'], unique=False,
                              postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
        batch_op.create_index(batch_op.f('ix_inbound_update_done_at'), ['done_at'], unique=False)
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('holder', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_column('holder')
    op.drop_table('inbound_update')
