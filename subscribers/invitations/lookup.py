"""Finding an event: by id, locked for the seats to be counted, and whether it takes answers.

Apart from ``events`` because answers (``rsvp``) need these and ``events`` needs ``rsvp`` (more
seats on an edit go to the waiting list).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from subscribers.core import ids
from subscribers.core.errors import NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import EVENT_SCHEDULED, Event


def get(session: Session, event_id: int) -> Event:
    event = ids.get(session, Event, event_id)
    if event is None:
        raise NotFound(_("no event %(id)s", id=event_id))
    return event


def locked(session: Session, event_id: int) -> Event:
    """The event row, locked until the transaction ends (``SELECT ... FOR UPDATE``).

    Everything that counts seats runs under this lock, so two answers for the last seat are
    decided one after the other. (SQLite ignores FOR UPDATE; its transactions take the write
    lock at BEGIN IMMEDIATE, see mailer/engine.py, which serialises them just the same.)
    """
    stmt = select(Event).where(col(Event.id) == event_id).with_for_update()
    event: Event | None = (
        session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
        if ids.possible(event_id)
        else None
    )
    if event is None:
        raise NotFound(_("no event %(id)s", id=event_id))
    return event


def answers_open(event: Event, now: datetime) -> bool:
    """Members may answer (and change their answer) until the deadline, or else the start."""
    deadline = event.rsvp_deadline or event.start_at
    return event.status == EVENT_SCHEDULED and now < deadline
