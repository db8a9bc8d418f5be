"""receiving domains paused after a 421/451 (per-domain pacing, mailer.pacing)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import mailer.dbtypes

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_pause",
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("until", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("paused_at", mailer.dbtypes.UTCDateTime(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.PrimaryKeyConstraint("domain"),
    )


def downgrade() -> None:
    op.drop_table("domain_pause")
