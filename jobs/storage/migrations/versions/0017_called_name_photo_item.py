"""The name a patient is called by; the inbox item a reviewed photo belongs to

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0017'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for patients enrolled before: they are greeted by the first word of their name, as the default is.
    op.add_column('patient', sa.Column('called', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
    op.add_column('photo', sa.Column('item_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('photo') as batch:
        batch.drop_column('item_id')
    with op.batch_alter_table('patient') as batch:
        batch.drop_column('called')
