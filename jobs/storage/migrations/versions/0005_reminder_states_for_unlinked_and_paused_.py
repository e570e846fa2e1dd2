"""reminder states for unlinked and paused patients; claim index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 03:10:53.271347
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows that cannot be sent yet leave the "pending" state, so claims no longer wade through them.
    op.execute("UPDATE reminder SET status = 'waiting' WHERE status = 'pending' AND patient_id IN "
               "(SELECT id FROM patient WHERE status = 'awaiting_link')")
    op.execute("UPDATE reminder SET status = 'held' WHERE status = 'pending' AND patient_id IN "
               "(SELECT id FROM patient WHERE status = 'paused')")
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index('ix_reminder_pending_due', ['due_at', 'id'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index('ix_reminder_pending_due', postgresql_where=sa.text("status = 'pending'"),
                            sqlite_where=sa.text("status = 'pending'"))
    op.execute("UPDATE reminder SET status = 'pending' WHERE status IN ('waiting', 'held')")

