"""Patients' names folded for search, stored and indexed; covering indexes for /stats and the console's charts

Revision ID: 0026
Revises: 0027
Create Date: 2026-12-06 23:20:00

The console's search folded every patient's name in Python on each request (1.3 s at 10,000
patients). The folded name is now a column the model keeps up to date; existing rows are folded
here, in batches, with the same function (copied, so that this migration keeps doing what it did
when the code moves on).

/stats' figures over a period (and the console's charts, over eight weeks or a year) are counted from
indexes alone: messages by status and kind over their due times, steps sent by kind with their
answers and enrollments, events of a kind by detail, inbox changes of a kind, patients enrolled and
linked, photos received and reviewed, "worried" items taken. Where a narrower index on the same
leading columns existed, the wider one replaces it.
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

BATCH = 5000
# (table, index, columns, the index it replaces and that one's columns)
INDEXES = (
    ('reminder', 'ix_reminder_status_due', ['status', 'due_at', 'kind'], ('ix_reminder_status_due', ['status', 'due_at'])),
    ('reminder', 'ix_reminder_status_sent', ['status', 'kind', 'sent_at', 'answered_at', 'enrollment_id'],
     ('ix_reminder_status_sent', ['status', 'sent_at'])),
    ('event', 'ix_event_kind_at', ['kind', 'at', 'detail'], ('ix_event_at', ['at'])),
    ('event', 'ix_event_patient_kind_at', ['patient_id', 'kind', 'at'], ('ix_event_patient_id', ['patient_id'])),
    ('inbox_event', 'ix_inbox_event_kind_at', ['kind', 'at'], ('ix_inbox_event_at', ['at'])),
    ('inbox_item', 'ix_inbox_item_kind_taken', ['kind', 'taken_at', 'opened_at'], None),
    ('patient', 'ix_patient_created_at', ['created_at'], None),
    ('patient', 'ix_patient_linked_at', ['linked_at'], None),
    ('photo', 'ix_photo_received_at', ['received_at'], None),
    ('photo', 'ix_photo_reviewed', ['reviewed_at', 'review'], None),
    ('enrollment', 'ix_enrollment_session_at', ['session_at'], None),
)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def upgrade() -> None:
    with op.batch_alter_table('patient') as batch:
        batch.add_column(sa.Column('search_key', sa.Text(), server_default='', nullable=False))
    connection = op.get_bind()
    patient = sa.table('patient', sa.column('id', sa.Integer()), sa.column('name', sa.String()),
                       sa.column('search_key', sa.Text()))
    last = 0
    while True:
        rows = connection.execute(sa.select(patient.c.id, patient.c.name).where(patient.c.id > last)
                                  .order_by(patient.c.id).limit(BATCH)).all()
        if not rows:
            break
        connection.execute(sa.update(patient).where(patient.c.id == sa.bindparam('pid'))
                           .values(search_key=sa.bindparam('key')),
                           [{'pid': pid, 'key': _fold(name or '')} for pid, name in rows])
        last = rows[-1][0]
    op.create_index('ix_patient_search_key', 'patient', ['search_key'], unique=False)
    for table, name, columns, replaced in INDEXES:
        if replaced:
            op.drop_index(replaced[0], table_name=table)
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _, replaced in reversed(INDEXES):
        op.drop_index(name, table_name=table)
        if replaced:
            op.create_index(replaced[0], table, replaced[1], unique=False)
    op.drop_index('ix_patient_search_key', table_name='patient')
    with op.batch_alter_table('patient') as batch:
        batch.drop_column('search_key')
