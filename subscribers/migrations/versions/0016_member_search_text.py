"""member.search_text: address, name and organisation folded for accent-insensitive search

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from subscribers.core.models import member_search_text

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    # Backfill with the same fold the app uses (models.member_search_text), in batches by id.
    bind = op.get_bind()
    member = sa.table(
        "member",
        sa.column("id", sa.Integer),
        sa.column("email", sa.String),
        sa.column("name", sa.String),
        sa.column("organisation", sa.String),
        sa.column("search_text", sa.Text),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(member.c.id, member.c.email, member.c.name, member.c.organisation)
            .where(member.c.id > last)
            .order_by(member.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            member.update()
            .where(member.c.id == sa.bindparam("member_id"))
            .values(search_text=sa.bindparam("folded")),
            [
                {
                    "member_id": row.id,
                    "folded": member_search_text(row.email, row.name, row.organisation),
                }
                for row in rows
            ],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.drop_column("search_text")
