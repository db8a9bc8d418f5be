"""erase what older versions left of erased members: answers, refusal texts, bounce texts

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ERASED = "SELECT id FROM member WHERE status = 'erased'"


def upgrade() -> None:
    # Their seats pass to the waiting list the next time one frees up (rsvp.fill_free_seats).
    op.execute(f"DELETE FROM rsvp WHERE member_id IN ({ERASED})")
    op.execute(f"UPDATE delivery SET last_error = NULL WHERE recipient_id IN ({ERASED})")
    op.execute(
        "UPDATE bounce SET diagnostic = '' WHERE delivery_id IN "
        f"(SELECT id FROM delivery WHERE recipient_id IN ({ERASED}))"
    )


def downgrade() -> None:
    """Erased data stays erased."""
