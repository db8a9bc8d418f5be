"""Alembic environment: the URL and connection come from the application, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from subscribers.core.db import metadata

config = context.config


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `newsletter db upgrade`")
run_with(connection)
