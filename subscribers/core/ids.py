"""Row ids that come from outside (a URL, a form field, the command line, the API)."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session, SQLModel

Row = TypeVar("Row", bound=SQLModel)

# Ids are INTEGER columns: 32 bits on PostgreSQL. A number past that, or below 1, names no row.
LARGEST = 2**31 - 1


def possible(row_id: int) -> bool:
    """Whether a row can have this id: asked before a query, which would fail on one past
    the column (SQLite overflows past 64 bits, PostgreSQL refuses anything past INTEGER)."""
    return 0 < row_id <= LARGEST


def get(session: Session, model: type[Row], row_id: int) -> Row | None:
    """The row with this id, or None; an id no row can have is None too, never a database
    error."""
    return session.get(model, row_id) if possible(row_id) else None
