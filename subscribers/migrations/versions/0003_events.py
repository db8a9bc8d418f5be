"""events

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailer.dbtypes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("uid", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("start_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("end_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("online_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("rsvp_deadline", mailer.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("reminders", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("cancelled_at", mailer.dbtypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uid"),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_list_id"), ["list_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_start_at"), ["start_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_status"), ["status"], unique=False)

    op.create_table(
        "rsvp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("invited_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("answered_at", mailer.dbtypes.UTCDateTime(), nullable=True),
        sa.Column("waiting_since", mailer.dbtypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id", "member_id", name="uq_rsvp_event_member"),
    )
    with op.batch_alter_table("rsvp", schema=None) as batch_op:
        batch_op.create_index("ix_rsvp_event_status", ["event_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_rsvp_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rsvp", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rsvp_member_id"))
        batch_op.drop_index("ix_rsvp_event_status")

    op.drop_table("rsvp")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_status"))
        batch_op.drop_index(batch_op.f("ix_event_start_at"))
        batch_op.drop_index(batch_op.f("ix_event_list_id"))

    op.drop_table("event")
