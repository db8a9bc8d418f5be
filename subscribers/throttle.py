"""Fixed-window rate limits kept in the database, so every process shares them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from subscribers.models import Throttle


def hit(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one attempt under ``key``; False once more than ``limit`` fall in one window."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # Insert-or-nothing first, so two processes counting a new key at once cannot collide.
    session.execute(
        dialect.insert(Throttle)
        .values(key=key, window_start=now, count=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = session.execute(
        select(Throttle).where(Throttle.key == key).with_for_update()
    ).scalar_one()
    if now - row.window_start >= window:
        row.window_start, row.count = now, 0
    row.count += 1
    session.add(row)
    session.flush()
    return row.count <= limit
