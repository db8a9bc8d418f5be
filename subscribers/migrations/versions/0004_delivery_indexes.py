"""drop the delivery index that the campaign/recipient unique constraint already provides

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # uq_delivery_campaign_recipient (campaign_id, recipient_id) serves lookups by campaign;
    # marking a message sent updates one index less.
    op.drop_index("ix_delivery_campaign_id", table_name="delivery")


def downgrade() -> None:
    op.create_index("ix_delivery_campaign_id", "delivery", ["campaign_id"], unique=False)
