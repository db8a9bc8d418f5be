"""folded_deliveries: per-campaign figures of delivery rows folded after the retention period

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "folded_deliveries",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "state"),
    )


def downgrade() -> None:
    op.drop_table("folded_deliveries")
