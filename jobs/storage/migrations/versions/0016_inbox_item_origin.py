"""inbox items say what raised them: a red flag in the patient's own words

Revision ID: 0016
Revises: 0018
Create Date: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0016'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbox_item') as batch:
        batch.add_column(sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox_item') as batch:
        batch.drop_column('origin')
