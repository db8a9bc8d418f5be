"""Column types that behave the same on SQLite and PostgreSQL, and typed access to the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Result, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """The table a table model maps to, for Core statements (bulk inserts, raw deletes)."""
    # SQLModel's metaclass sets __table__ on each table model; no type declares it.
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def changed_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (0 when the driver cannot tell)."""
    # SQLModel's Session.execute is typed to return a Result; for DML it is a CursorResult.
    return int(cast(CursorResult[Any], result).rowcount or 0)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in Python, naive UTC in the database.

    SQLite has no time zones and compares datetimes as text, so every stored value must be in one
    zone and one format; storing naive UTC everywhere keeps comparisons right on both databases.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
