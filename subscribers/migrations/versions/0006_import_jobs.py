"""imports run as jobs in short transactions, with their progress

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailer.dbtypes

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("upload", text(length=64), nullable=False),
        sa.Column("filename", text(length=200), nullable=False),
        sa.Column("consent_note", text(length=500), nullable=False),
        sa.Column("actor", text(length=320), nullable=False),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("skipped_lines", sa.Text(), nullable=False),
        sa.Column("created_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["mailing_list.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("import_job")
