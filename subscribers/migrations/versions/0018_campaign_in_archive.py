"""campaign.in_archive: whether a sent announcement or digest is on the public archive

Until now every announcement and digest of a public list was published, segment-only ones
too. Digests and whole-list announcements stay published; an announcement whose audit entry
names a segment ("...; segment country=PL") is taken off the archive.

Revision ID: 0018
Revises: 0017
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

SENDS = ("announce.send", "announce.schedule")


def upgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.add_column(
            sa.Column("in_archive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    campaign = sa.table(
        "campaign",
        sa.column("id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("in_archive", sa.Boolean),
    )
    audit = sa.table(
        "audit_entry",
        sa.column("action", sa.String),
        sa.column("target", sa.String),
        sa.column("detail", sa.String),
    )
    bind = op.get_bind()
    bind.execute(
        campaign.update()
        .where(campaign.c.kind.in_(("digest", "announcement")))
        .values(in_archive=True)
    )
    # The web, the CLI and the API all wrote "<n> recipient(s); segment <expr>[; ...]" (later
    # "recipients: <n>; segment: <expr>"), the expression empty or "all" for the whole list.
    rows = bind.execute(
        sa.select(audit.c.target, audit.c.detail).where(
            audit.c.action.in_(SENDS), audit.c.target.like("campaign:%")
        )
    )
    segmented = [
        int(target.split(":", 1)[1])
        for target, detail in rows
        if _segment(detail) not in ("", "all") and target.split(":", 1)[1].isdigit()
    ]
    for start in range(0, len(segmented), 500):
        bind.execute(
            campaign.update()
            .where(campaign.c.id.in_(segmented[start : start + 500]))
            .values(in_archive=False)
        )


def _segment(detail: str) -> str:
    found = re.search(r"; segment:? ([^;]*)", detail or "")
    return found.group(1).strip() if found else ""


def downgrade() -> None:
    with op.batch_alter_table("campaign") as batch:
        batch.drop_column("in_archive")
