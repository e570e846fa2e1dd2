"""The language each inbox alert and each message naming a patient was written in, so their edits keep it

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-07 00:20:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0028'
down_revision = '0026'
branch_labels = None
depends_on = None

TABLES = ('inbox_view', 'staff_mention')


def upgrade() -> None:
    # NULL: written before this, in STAFF_LANGUAGE.
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('locale')
