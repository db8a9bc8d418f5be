"""One page of a query's results, with what a page needs to link to the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlmodel import Session

T = TypeVar("T")
MAX_PAGE = 1_000_000  # an absurd ?page= must not overflow the database's OFFSET


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(session: Session, stmt: Select[Any], *, page: int, per_page: int) -> Page[Any]:
    """Run an ordered ``select(Model)`` for one page (pages start at 1; too high is empty)."""
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    page = min(max(1, page), MAX_PAGE)
    items = session.execute(stmt.offset((page - 1) * per_page).limit(per_page)).scalars().all()
    return Page(list(items), int(total.scalar_one()), page, per_page)
