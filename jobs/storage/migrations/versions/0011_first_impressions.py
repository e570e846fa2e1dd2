"""first impressions: staff names, and the /enroll form's series length, language and time zone

Revision ID: 0011
Revises: 0005
Create Date: 2026-12-02 07:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    with op.batch_alter_table('enroll_form', schema=None) as batch_op:
        batch_op.add_column(sa.Column('series_length', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('enroll_form', schema=None) as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('locale')
        batch_op.drop_column('series_length')
    with op.batch_alter_table('staff_member', schema=None) as batch_op:
        batch_op.drop_column('name')
