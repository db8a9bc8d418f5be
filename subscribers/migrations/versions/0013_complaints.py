"""complaints from feedback-loop reports (ARF), counted per campaign

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailer.dbtypes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("feedback_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("user_agent", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_complaint_address_hash", "complaint", ["address_hash"])
    op.create_index("ix_complaint_campaign_id", "complaint", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_complaint_campaign_id", table_name="complaint")
    op.drop_index("ix_complaint_address_hash", table_name="complaint")
    op.drop_table("complaint")
