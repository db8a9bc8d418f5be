"""click statistics: numbered campaign links, clicks, distinct clickers and their keys; the
lists' opt-in to record clicks per member

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailer.dbtypes

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_link",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "idx"),
    )
    op.create_table(
        "link_click",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_link_click_campaign_idx", "link_click", ["campaign_id", "idx"])
    op.create_index("ix_link_click_member_id", "link_click", ["member_id"])
    op.create_table(
        "clicker",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "hash"),
    )
    op.create_table(
        "click_key",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("forget_after", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id"),
    )
    op.create_index("ix_click_key_forget_after", "click_key", ["forget_after"])
    op.add_column(
        "mailing_list",
        sa.Column("record_clicks", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("mailing_list") as batch:
        batch.drop_column("record_clicks")
    op.drop_index("ix_click_key_forget_after", table_name="click_key")
    op.drop_table("click_key")
    op.drop_table("clicker")
    op.drop_index("ix_link_click_member_id", table_name="link_click")
    op.drop_index("ix_link_click_campaign_idx", table_name="link_click")
    op.drop_table("link_click")
    op.drop_table("campaign_link")
