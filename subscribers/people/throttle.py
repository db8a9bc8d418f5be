"""Fixed-window rate limits kept in the database, so every process shares them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from mailer.dbtypes import changed_rows, table_of
from subscribers.core.models import Throttle


def _upsert(dialect: Any) -> Any:
    """INSERT the counter, or count one more in its window (a new window once it is over)."""
    table = table_of(Throttle)
    now = bindparam("now", type_=table.c.window_start.type)
    over = table.c.window_start <= bindparam("window_ended", type_=table.c.window_start.type)
    return (
        dialect.insert(table)
        .values(key=bindparam("key"), window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "window_start": case((over, now), else_=table.c.window_start),
                "count": case((over, 1), else_=table.c.count + 1),
            },
        )
        .returning(table.c.count)
    )


# Built once: a registration burst runs it tens of times a second.
_UPSERTS = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}


def hit(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """Count one attempt under ``key``; False once more than ``limit`` fall in one window.

    One statement: insert the counter, or (it exists) start a new window if the last one is
    over and count one more, returning the count. The row lock the update takes serialises two
    processes counting the same key, and nothing else is read on the registration path.
    """
    statement = _UPSERTS[session.get_bind().dialect.name]
    params = {"key": key, "now": now, "window_ended": now - window}
    count = session.execute(statement, params).scalar_one()
    # The ORM may hold this counter from an earlier read; it must not write its stale copy.
    cached = session.identity_map.get(session.identity_key(Throttle, key))
    if cached is not None:
        session.expire(cached)
    return int(count) <= limit


# Longer than any window a limit uses: a row older than this counts nothing any more.
KEEP = timedelta(days=2)


def purge(session: Session, *, now: datetime) -> int:
    """Delete counters whose window ended long ago (they hold client addresses)."""
    result = session.execute(delete(Throttle).where(col(Throttle.window_start) < now - KEEP))
    return changed_rows(result)


def forget(session: Session, values: Iterable[str]) -> None:
    """Delete the counters keyed by any of these values (an erased member's IP addresses).

    Keys end with the value they count, after a colon (``register-ip:203.0.113.9``).
    """
    wanted = sorted({v for v in values if v})
    if wanted:
        ends = [col(Throttle.key).endswith(f":{v}", autoescape=True) for v in wanted]
        session.execute(delete(Throttle).where(or_(*ends)))


def attempts(session: Session, key: str, *, window: timedelta, now: datetime) -> int:
    """How many attempts ``key`` has in its current window, counting none (0 once it passed)."""
    row = session.get(Throttle, key)
    if row is None or now - row.window_start >= window:
        return 0
    return row.count


def windows(session: Session, prefix: str, *, window: timedelta, now: datetime) -> list[Throttle]:
    """The counters whose key starts with ``prefix`` and whose window is still open."""
    rows = session.execute(select(Throttle).where(col(Throttle.key).startswith(prefix))).scalars()
    return [row for row in rows if now - row.window_start < window]


def clear(session: Session, prefix: str) -> None:
    """Forget every counter whose key starts with ``prefix``."""
    session.execute(delete(Throttle).where(col(Throttle.key).startswith(prefix)))
