"""The name a patient is called by; the inbox item a reviewed photo belongs to; the conversation kept

Revision ID: 0017
Revises: 0019
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0017'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('patient', sa.Column('called', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
    op.add_column('photo', sa.Column('item_id', sa.Integer(), nullable=True))
    op.create_table(
        'conversation_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('staff_id', sa.BigInteger(), nullable=True),
        sa.Column('update_id', sa.BigInteger(), nullable=True),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('update_id'),
    )
    op.create_index(op.f('ix_conversation_message_patient_id'), 'conversation_message', ['patient_id'], unique=False)
    op.create_table(
        'staff_name',
        sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('seen_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('user_id'),
    )
    op.add_column('enroll_form', sa.Column('called', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True))
    op.add_column('enroll_form', sa.Column('message_id', sa.BigInteger(), nullable=True))
    # Patients enrolled before are greeted by the first word of their name, as new ones are by default.
    patient = sa.table('patient', sa.column('id', sa.Integer()), sa.column('name', sa.String()),
                       sa.column('called', sa.String()))
    connection = op.get_bind()
    rows = connection.execute(sa.select(patient.c.id, patient.c.name).where(patient.c.name != '')).all()
    for patient_id, name in rows:
        words = name.split()
        if words:
            connection.execute(patient.update().where(patient.c.id == patient_id).values(called=words[0][:60]))


def downgrade() -> None:
    op.drop_index(op.f('ix_conversation_message_patient_id'), table_name='conversation_message')
    op.drop_table('conversation_message')
    op.drop_table('staff_name')
    with op.batch_alter_table('enroll_form') as batch:
        batch.drop_column('message_id')
        batch.drop_column('called')
    with op.batch_alter_table('photo') as batch:
        batch.drop_column('item_id')
    with op.batch_alter_table('patient') as batch:
        batch.drop_column('called')
