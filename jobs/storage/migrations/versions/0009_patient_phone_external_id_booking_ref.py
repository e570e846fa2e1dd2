"""patient phone, external id and booking reference: what staff call, what the clinic's systems name

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:30:00
"""

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('patient') as batch:
        batch.add_column(sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.add_column(sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch.add_column(sa.Column('booking_ref', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.create_unique_constraint('uq_patient_external_id', ['external_id'])
        batch.create_unique_constraint('uq_patient_booking_ref', ['booking_ref'])
    # Patients enrolled before this revision get a booking reference too (erased ones do not need one).
    connection = op.get_bind()
    patient = sa.table('patient', sa.column('id', sa.Integer), sa.column('name', sa.String),
                       sa.column('booking_ref', sa.String))
    ids = connection.execute(sa.select(patient.c.id).where(patient.c.name != '')).scalars().all()
    for patient_id in ids:
        connection.execute(patient.update().where(patient.c.id == patient_id)
                           .values(booking_ref=secrets.token_urlsafe(9)))


def downgrade() -> None:
    with op.batch_alter_table('patient') as batch:
        batch.drop_constraint('uq_patient_booking_ref', type_='unique')
        batch.drop_constraint('uq_patient_external_id', type_='unique')
        batch.drop_column('booking_ref')
        batch.drop_column('external_id')
        batch.drop_column('phone')
