"""languages: campaign versions per language, translations of news and events, default languages

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Tables that gain a language column defaulting to English (what everything was until now).
_LANGUAGE_COLUMNS = ("campaign", "mailing_list", "news_item", "event", "staff_user")


def upgrade() -> None:
    for table in _LANGUAGE_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("language", sa.String(length=8), nullable=False, server_default="en")
            )
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    op.create_table(
        "campaign_version",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "language"),
    )
    op.create_table(
        "translation",
        sa.Column("owner", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "owner_id", "language"),
    )


def downgrade() -> None:
    op.drop_table("translation")
    op.drop_table("campaign_version")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("language")
    for table in _LANGUAGE_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("language")
