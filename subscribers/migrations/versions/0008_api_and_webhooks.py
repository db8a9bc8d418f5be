"""API tokens and webhooks (endpoints, messages, deliveries, attempts)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailer.dbtypes

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

String = sqlmodel.sql.sqltypes.AutoString
When = mailer.dbtypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", String(length=100), nullable=False),
        sa.Column("token_hash", String(length=64), nullable=False),
        sa.Column("role", String(length=16), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("created_by", String(length=320), nullable=False),
        sa.Column("expires_at", When(), nullable=True),
        sa.Column("revoked_at", When(), nullable=True),
        sa.Column("last_used_at", When(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", String(length=500), nullable=False),
        sa.Column("events", String(length=500), nullable=False),
        sa.Column("secret", String(length=100), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.Column("created_by", String(length=320), nullable=False),
        sa.Column("removed_at", When(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "webhook_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("msg_id", String(length=40), nullable=False),
        sa.Column("ref", String(length=200), nullable=True),
        sa.Column("event", String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", When(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("msg_id"),
        sa.UniqueConstraint("ref"),
    )
    op.create_index("ix_webhook_message_created_at", "webhook_message", ["created_at"])
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("state", String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When(), nullable=False),
        sa.Column("lease_until", When(), nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", String(length=500), nullable=True),
        sa.Column("delivered_at", When(), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoint.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["webhook_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "endpoint_id", name="uq_webhook_delivery"),
    )
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["state", "next_attempt_at"])
    op.create_index("ix_webhook_delivery_endpoint_id", "webhook_delivery", ["endpoint_id"])
    op.create_table(
        "webhook_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("at", When(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("error", String(length=500), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_delivery.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_attempt_delivery_id", "webhook_attempt", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("webhook_attempt")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_message")
    op.drop_table("webhook_endpoint")
    op.drop_table("api_token")
