"""A staff member's Telegram language, noted when they act, for the alerts sent to them privately

Revision ID: 0025
Revises: 0027
Create Date: 2026-12-06 23:20:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0025'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_name') as batch:
        batch.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_name') as batch:
        batch.drop_column('language')
