"""confirmation prompts: a /stop or /delete button acts only on the prompt it belongs to

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02 07:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import jobs.storage.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('confirmation',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('chat_id')
    )


def downgrade() -> None:
    op.drop_table('confirmation')
