"""Reminders before an event, to those who said yes (24 h and 1 h before by default).

The scheduler calls ``send_due_reminders`` every minute. Each reminder is a campaign whose
``ref`` is ``reminder:{event_id}:{minutes}``, unique in the outbox: a second run, or a second
worker, finds it taken and sends nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from mailer import outbox
from mailer.outbox import Campaign
from subscribers.content.mails import MailKit
from subscribers.core import refs
from subscribers.core.models import EVENT_SCHEDULED, YES, Event, MailingList
from subscribers.invitations.event_mails import Phrases, create_campaign, languages_of, recipients
from subscribers.invitations.events import MAX_REMINDER, invited_members, reminder_offsets


def due_offset(event: Event, now: datetime) -> int | None:
    """The reminder due now, if any: the latest one whose moment has come before the start.

    Earlier ones that were missed (a worker down for a day) are not sent late: one reminder,
    the most recent, says how long is really left.
    """
    if event.status != EVENT_SCHEDULED or now >= event.start_at:
        return None
    due = [m for m in reminder_offsets(event) if event.start_at - timedelta(minutes=m) <= now]
    return min(due) if due else None


def _lead_minutes(event: Event, now: datetime) -> int:
    """Minutes left until the start, rounded to the minute (the job runs once a minute)."""
    return max(1, round((event.start_at - now).total_seconds() / 60))


def send_due_reminders(session: Session, now: datetime, *, kit: MailKit) -> int:
    """Queue every reminder due at ``now``; returns how many members they reach.

    Cancelled events get none; those who declined, may come, or wait for a seat get none.
    """
    horizon = now + timedelta(minutes=MAX_REMINDER)
    upcoming = session.execute(
        select(Event)
        .where(
            col(Event.status) == EVENT_SCHEDULED,
            col(Event.start_at) > now,
            col(Event.start_at) <= horizon,
        )
        .order_by(col(Event.start_at))
    ).scalars()
    total = 0
    for event in list(upcoming):
        minutes = due_offset(event, now)
        if minutes is not None:
            total += _remind(session, kit, event, minutes, now)
    return total


def _remind(session: Session, kit: MailKit, event: Event, minutes: int, now: datetime) -> int:
    ref = refs.reminder(event.id, minutes)
    if (
        session.execute(select(col(Campaign.id)).where(col(Campaign.ref) == ref)).first()
        is not None
    ):
        return 0
    members = invited_members(session, event, statuses=(YES,))
    if not members:
        return 0  # nobody yet: a later "yes" may still get this reminder
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    lead_minutes = _lead_minutes(event, now)
    # A savepoint: if another worker queued the same reminder a moment ago, the unique ref
    # refuses ours and only this reminder is dropped, not the caller's whole transaction.
    try:
        with session.begin_nested():
            campaign = create_campaign(
                session,
                kit,
                event,
                mailing_list,
                "reminder",
                lambda language_kit: {"lead": Phrases(language_kit).lead(lead_minutes)},
                languages=languages_of(mailing_list, members),
                now=now,
                ref=ref,
            )
            return outbox.enqueue(
                session, campaign, recipients(kit, event, members, join_link=True), now=now
            )
    except IntegrityError:
        return 0
