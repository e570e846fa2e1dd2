"""The audit trail: who saw or changed what, hash-chained; and its anchor after pruning

Revision ID: 0022
Revises: 0015
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

from jobs.storage.types import UTCDateTime

revision = '0022'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_event',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('face', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('actor_id', sa.BigInteger(), nullable=True),
        sa.Column('actor_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('patient_id', sa.Integer(), nullable=True),
        sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('count', sa.Integer(), nullable=True),
        sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_audit_event_at'), 'audit_event', ['at'], unique=False)
    op.create_index(op.f('ix_audit_event_actor_id'), 'audit_event', ['actor_id'], unique=False)
    op.create_index(op.f('ix_audit_event_patient_id'), 'audit_event', ['patient_id'], unique=False)
    op.create_table(
        'audit_anchor',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('through_id', sa.Integer(), nullable=False),
        sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('pruned_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('audit_anchor')
    op.drop_index(op.f('ix_audit_event_patient_id'), table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_actor_id'), table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_at'), table_name='audit_event')
    op.drop_table('audit_event')
