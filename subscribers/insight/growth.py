"""Growth of the network per ISO week: members who joined and members who left.

Counted from the consent history, which is never rewritten (member timestamps are: a member who
confirms a second list gets a new ``confirmed_at``). A member joins in the week of their first
``confirmed`` or ``imported`` event, and leaves in each week with a ``withdrawn`` or ``erased``
event (counted once per week). Rows are bucketed in Python, in the configured time zone, so the
same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session, col

from subscribers.core.models import ConsentEvent

JOINED = ("confirmed", "imported")
LEFT = ("withdrawn", "erased")
WEEKS = 12


@dataclass(frozen=True)
class Week:
    start: date  # the Monday
    joined: int
    left: int

    @property
    def label(self) -> str:
        """ISO week, e.g. "2026-W48"."""
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Growth:
    weeks: list[Week]

    @property
    def joined(self) -> int:
        return sum(w.joined for w in self.weeks)

    @property
    def left(self) -> int:
        return sum(w.left for w in self.weeks)

    @property
    def peak(self) -> int:
        return max([1, *(max(w.joined, w.left) for w in self.weeks)])


def _monday(moment: datetime, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def weekly(session: Session, *, now: datetime, timezone: str, weeks: int = WEEKS) -> Growth:
    """Joined and left per ISO week, for the ``weeks`` weeks ending with the current one."""
    zone = ZoneInfo(timezone)
    this_monday = _monday(now, zone)
    first = this_monday - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    first_join = (
        select(col(ConsentEvent.member_id), func.min(col(ConsentEvent.at)).label("at"))
        .where(col(ConsentEvent.action).in_(JOINED))
        .group_by(col(ConsentEvent.member_id))
        .having(func.min(ConsentEvent.at) >= since)
    )
    joined = {(member_id, _monday(at, zone)) for member_id, at in session.execute(first_join)}
    leaving = select(col(ConsentEvent.member_id), col(ConsentEvent.at)).where(
        col(ConsentEvent.action).in_(LEFT),
        col(ConsentEvent.at) >= since,
    )
    left = {(member_id, _monday(at, zone)) for member_id, at in session.execute(leaving)}
    mondays = [first + timedelta(weeks=i) for i in range(weeks)]
    return Growth(
        [
            Week(
                monday,
                joined=sum(1 for _, m in joined if m == monday),
                left=sum(1 for _, m in left if m == monday),
            )
            for monday in mondays
        ]
    )
