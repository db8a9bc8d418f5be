"""staff sessions carry a key that sign-out, password and role changes replace

Revision ID: 0007
Revises: 0006
"""

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(
            sa.Column(
                "session_key",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="",
            )
        )
    # Each account its own random key; sessions made before the upgrade end (sign in again).
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.text("SELECT id FROM staff_user")).all():
        conn.execute(
            sa.text("UPDATE staff_user SET session_key = :key WHERE id = :id"),
            {"key": secrets.token_hex(16), "id": user_id},
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("session_key")
