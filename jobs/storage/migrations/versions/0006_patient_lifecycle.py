"""patient lifecycle: event actors and statuses, invite switch offers, one current patient per chat

Revision ID: 0006
Revises: 0005

Existing data is brought into the lifecycle's terms first: a chat that follows several patient
records keeps the newest live one and the others become "superseded"; a patient stopped by staff
(their last event is "cancelled") becomes "cancelled"; cancelled reminders carry the lifecycle's
reasons. Only then can the partial unique index (one current patient per chat) be created.
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CURRENT = ("active", "paused", "stopped", "cancelled", "not_continuing", "unreachable")
CURRENT_SQL = "status IN (" + ", ".join(f"'{s}'" for s in CURRENT) + ")"
LIVE = ("active", "paused", "unreachable")


def _bring_data_in_line(bind) -> None:
    patient = sa.table("patient", sa.column("id"), sa.column("chat_id"), sa.column("status"))
    event = sa.table("event", sa.column("id"), sa.column("patient_id"), sa.column("kind"))
    reminder = sa.table("reminder", sa.column("status"), sa.column("outcome"))
    # Patients stopped by staff: their latest stop-like event is a staff cancel.
    rows = bind.execute(sa.select(event.c.patient_id, event.c.kind).where(
        event.c.kind.in_(["cancelled", "stopped"])).order_by(event.c.id)).all()
    last = {patient_id: kind for patient_id, kind in rows}
    cancelled = [pid for pid, kind in last.items() if kind == "cancelled" and pid is not None]
    if cancelled:
        bind.execute(patient.update().where(patient.c.id.in_(cancelled), patient.c.status == "stopped")
                     .values(status="cancelled"))
    # One current record per chat: the newest live one, else the newest.
    by_chat: dict[int, list[tuple[int, str]]] = {}
    for pid, chat_id, status in bind.execute(sa.select(patient.c.id, patient.c.chat_id, patient.c.status).where(
            patient.c.chat_id.is_not(None), patient.c.status.in_(CURRENT))).all():
        by_chat.setdefault(chat_id, []).append((pid, status))
    superseded = []
    for records in by_chat.values():
        keep = max(records, key=lambda record: (record[1] in LIVE, record[0]))
        superseded += [pid for pid, _ in records if pid != keep[0]]
    if superseded:
        bind.execute(patient.update().where(patient.c.id.in_(superseded)).values(status="superseded"))
    # Cancelled reminders name the lifecycle's reasons.
    for old, new in (("superseded by patient #%", "another record took over the chat"),
                     ("patient is stopped", "patient stopped the messages"),
                     ("patient is deleted", "patient erased their data")):
        bind.execute(reminder.update().where(reminder.c.status == "cancelled", reminder.c.outcome.like(old))
                     .values(outcome=new))


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('actor_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('from_status', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('to_status', sa.String(length=20), nullable=True))
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offered_to_chat', sa.BigInteger(), nullable=True))
    _bring_data_in_line(op.get_bind())
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index('ux_patient_current_chat', ['chat_id'], unique=True,
                              postgresql_where=sa.text(CURRENT_SQL), sqlite_where=sa.text(CURRENT_SQL))


def downgrade() -> None:
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index('ux_patient_current_chat', postgresql_where=sa.text(CURRENT_SQL),
                            sqlite_where=sa.text(CURRENT_SQL))
    op.execute("UPDATE patient SET status = 'stopped' WHERE status IN ('cancelled', 'not_continuing', 'superseded')")
    with op.batch_alter_table('invite', schema=None) as batch_op:
        batch_op.drop_column('offered_to_chat')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('to_status')
        batch_op.drop_column('from_status')
        batch_op.drop_column('actor_id')
        batch_op.drop_column('actor')
