"""heartbeat

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:50:08.175365
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import jobs.storage.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('heartbeat',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('heartbeat')
