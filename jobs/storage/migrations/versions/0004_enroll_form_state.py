"""enroll form state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 02:54:49.192507
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import jobs.storage.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enroll_form',
    sa.Column('staff_user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('protocol', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('session_number', sa.Integer(), nullable=True),
    sa.Column('updated_at', jobs.storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('staff_user_id')
    )


def downgrade() -> None:
    op.drop_table('enroll_form')
