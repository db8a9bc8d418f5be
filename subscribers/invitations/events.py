"""Events: create, edit, invite a list (or a segment), mail updates, cancel.

Answers (capacity, waiting list) are in ``rsvp``; reminders in ``reminders``; what each mail
says and carries in ``event_mails`` (all in this package).
Services take the session and never commit: the edge (web, CLI, scheduler) owns the transaction.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.compose import RenderedMail
from mailer.outbox import Campaign, Recipient
from subscribers.content import lists, multilingual
from subscribers.content.mails import MailKit
from subscribers.content.multilingual import Text
from subscribers.core import refs
from subscribers.core.errors import Conflict, InvalidInput
from subscribers.core.i18n import gettext as _
from subscribers.core.i18n import ngettext
from subscribers.core.models import (
    ACTIVE,
    EVENT,
    EVENT_CANCELLED,
    INVITED,
    NO,
    RSVP_STATUSES,
    YES,
    Event,
    MailingList,
    Member,
    Rsvp,
)
from subscribers.core.times import zone
from subscribers.core.validation import clean_text, http_url
from subscribers.invitations import event_mails, rsvp
from subscribers.invitations.event_mails import (
    Phrases,
    create_campaign,
    languages_of,
    queue_confirmations,
    recipients,
)
from subscribers.invitations.event_mails import calendar_links as make_calendar_links
from subscribers.invitations.lookup import get, locked
from subscribers.people import audience
from subscribers.people.audience import Segment

MAX_DESCRIPTION = 100_000
MAX_REMINDER = 30 * 24 * 60  # minutes: a reminder at most 30 days ahead
MAX_CAPACITY = 1_000_000  # seats: more than any venue, and within the column
DEFAULT_REMINDERS = (24 * 60, 60)
CHUNK = 1000


@dataclass(frozen=True)
class EventSpec:
    """What staff say about an event; ``check`` validates it. Times are timezone-aware."""

    list_slug: str
    title: str
    start: datetime
    end: datetime
    timezone: str
    description: str = ""
    location: str = ""
    online_url: str = ""
    capacity: int | None = None
    rsvp_deadline: datetime | None = None
    reminders: tuple[int, ...] = DEFAULT_REMINDERS


# -- parsing shared by the form and the command line ----------------------------------------


def parse_reminders(text: str | None) -> tuple[int, ...]:
    """``24h, 1h, 30m, 2d`` (or bare hours) as minutes before the start, largest first."""
    if text is None or not text.strip():
        return ()
    units = {"d": 1440, "h": 60, "m": 1}
    found: set[int] = set()
    for part in text.replace(";", ",").split(","):
        item = part.strip().lower()
        if not item:
            continue
        unit = units.get(item[-1], 0)
        number = item[:-1] if unit else item
        try:
            amount = float(number)
        except ValueError:
            raise InvalidInput(
                _("reminders: expected e.g. 24h, 1h or 30m, got %(part)s", part=repr(part.strip())),
                field="reminders",
            ) from None
        minutes = round(amount * (unit or 60))
        if not 1 <= minutes <= MAX_REMINDER:
            raise InvalidInput(
                _("reminders: each must be between 1 minute and 30 days before the start"),
                field="reminders",
            )
        found.add(minutes)
    if len(found) > 5:
        raise InvalidInput(_("reminders: at most 5"), field="reminders")
    return tuple(sorted(found, reverse=True))


def format_reminders(minutes: Sequence[int]) -> str:
    parts = []
    for m in minutes:
        if m % 1440 == 0:
            parts.append(f"{m // 1440}d")
        elif m % 60 == 0:
            parts.append(f"{m // 60}h")
        else:
            parts.append(f"{m}m")
    return ", ".join(parts)


def reminder_offsets(event: Event) -> tuple[int, ...]:
    return tuple(int(x) for x in event.reminders.split(",") if x.strip().isdigit())


def _check_url(url: str) -> str:
    message = _("online URL: must be an http(s) address without spaces (at most 500 characters)")
    return http_url(url, field="online_url", message=message) or ""


def check(spec: EventSpec) -> EventSpec:
    """The spec with its text cleaned, or InvalidInput naming the first thing wrong."""
    title = clean_text(spec.title, field="title", label=_("Title"), limit=300)
    if not title:
        raise InvalidInput(_("Title: must not be empty."), field="title")
    zone(spec.timezone)
    if spec.end.astimezone(UTC) <= spec.start.astimezone(UTC):
        raise InvalidInput(_("End: must be after the start."), field="end")
    if spec.capacity is not None and spec.capacity < 1:
        raise InvalidInput(
            _("Capacity: must be at least 1 (or empty for no limit)."), field="capacity"
        )
    if spec.capacity is not None and spec.capacity > MAX_CAPACITY:
        raise InvalidInput(
            _("Capacity: at most 1,000,000 seats (or empty for no limit)."), field="capacity"
        )
    if spec.rsvp_deadline is not None and spec.rsvp_deadline > spec.end:
        raise InvalidInput(
            _("Answer deadline: must be before the event ends."), field="rsvp_deadline"
        )
    description = (spec.description or "").replace("\r\n", "\n")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(_("Description: at most 100,000 characters."), field="description")
    location = clean_text(spec.location, field="location", label=_("Location"), limit=300)
    return dataclasses.replace(
        spec,
        title=title,
        timezone=spec.timezone.strip(),
        description=description,
        location=location,
        online_url=_check_url(spec.online_url),
        reminders=tuple(sorted(set(spec.reminders), reverse=True)),
    )


# -- reading -------------------------------------------------------------------------------


def list_events(session: Session) -> list[tuple[Event, MailingList, dict[str, int]]]:
    """Every event, latest start first, with its answer counts."""
    rows = session.execute(
        select(Event, MailingList)
        .join(MailingList, col(MailingList.id) == col(Event.list_id))
        .order_by(col(Event.start_at).desc(), col(Event.id).desc())
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for event_id, status, n in session.execute(
        select(col(Rsvp.event_id), col(Rsvp.status), func.count()).group_by(
            col(Rsvp.event_id), col(Rsvp.status)
        )
    ):
        counts.setdefault(event_id, dict.fromkeys(RSVP_STATUSES, 0))[status] = n
    empty = dict.fromkeys(RSVP_STATUSES, 0)
    return [(e, lst, counts.get(e.id or 0, empty)) for e, lst in rows]


def spec_of(session: Session, event: Event) -> EventSpec:
    """The event as a spec again, for an edit form or a partial update from the CLI."""
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    tz = ZoneInfo(event.timezone)
    return EventSpec(
        list_slug=mailing_list.slug,
        title=event.title,
        start=event.start_at.astimezone(tz),
        end=event.end_at.astimezone(tz),
        timezone=event.timezone,
        description=event.description,
        location=event.location,
        online_url=event.online_url,
        capacity=event.capacity,
        rsvp_deadline=event.rsvp_deadline.astimezone(tz) if event.rsvp_deadline else None,
        reminders=reminder_offsets(event),
    )


# -- create and edit -----------------------------------------------------------------------


def create_event(
    session: Session,
    kit: MailKit,
    spec: EventSpec,
    *,
    now: datetime,
    created_by: str | None = None,
) -> Event:
    """Store a new event (nobody is invited yet)."""
    spec = check(spec)
    mailing_list = lists.by_slug(session, spec.list_slug)
    if spec.start <= now:
        raise InvalidInput(_("Start: must be in the future."), field="start")
    host = urlsplit(kit.base_url).hostname or "localhost"
    assert mailing_list.id is not None  # a stored list
    event = Event(
        list_id=mailing_list.id,
        uid=f"event-{secrets.token_hex(8)}@{host}",
        created_at=now,
        updated_at=now,
        created_by=created_by,
        **_fields(spec),
    )
    session.add(event)
    session.flush()
    return event


def translate(session: Session, event_id: int, text: Text) -> Event:
    """Write (or rewrite) the event's title and description in one more language.

    Mail not yet rendered uses it; writing in the event's own language changes nothing else.
    """
    event = locked(session, event_id)
    if event.status == EVENT_CANCELLED:
        raise Conflict(_("This event is cancelled and cannot be changed."))
    checked = multilingual.checked(text, body_limit=MAX_DESCRIPTION, body_required=False)
    if checked.language == event.language:
        raise InvalidInput(
            _("This is the event's own language: change its title and description instead."),
            field="language",
        )
    assert event.id is not None
    multilingual.save(session, EVENT, event.id, checked)
    return event


def written_languages(session: Session, event: Event) -> list[str]:
    """The languages the event's title and description are written in, its own first."""
    return event_mails.written(session, event).languages


def preview_invitation(session: Session, kit: MailKit, event: Event, language: str) -> RenderedMail:
    """The invitation as a member reading ``language`` gets it (before personal values)."""
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    context = {"calendar_links": make_calendar_links(kit, event, mailing_list)}
    contexts = event_mails.contexts(session, event, mailing_list, context)
    (rendered,) = kit.render_each("invitation", [language], contexts)
    return rendered


def _fields(spec: EventSpec) -> dict[str, Any]:
    """The event's columns that its spec sets (at creation and at each update)."""
    return {
        "title": spec.title,
        "description": spec.description,
        "start_at": spec.start.astimezone(UTC),
        "end_at": spec.end.astimezone(UTC),
        "timezone": spec.timezone,
        "location": spec.location,
        "online_url": spec.online_url,
        "capacity": spec.capacity,
        "rsvp_deadline": spec.rsvp_deadline.astimezone(UTC) if spec.rsvp_deadline else None,
        "reminders": ",".join(str(m) for m in spec.reminders),
    }


def _apply(event: Event, spec: EventSpec) -> None:
    for name, value in _fields(spec).items():
        setattr(event, name, value)


@dataclass(frozen=True)
class UpdateOutcome:
    event: Event
    changes: list[str]
    mailed: int
    promoted: int

    def describe(self) -> str:
        if not self.changes:
            return f"event {self.event.id} saved; no change to time or place, nobody mailed"
        return ngettext(
            "event %(id)d updated (sequence %(sequence)d); update queued for %(num)d member",
            "event %(id)d updated (sequence %(sequence)d); update queued for %(num)d members",
            self.mailed,
            id=self.event.id,
            sequence=self.event.sequence,
        )


def _phrased_changes(kit: MailKit, before: Event, after: Event) -> list[str]:
    """One sentence per change of time or place, as the update mail lists them."""
    p = Phrases(kit)
    changes = []
    if before.start_at != after.start_at or before.timezone != after.timezone:
        changes.append(
            p(
                "changed_start",
                p.event_time(after.start_at, after.timezone),
                p.event_time(before.start_at, before.timezone),
            )
        )
    if before.end_at != after.end_at or before.timezone != after.timezone:
        changes.append(
            p(
                "changed_end",
                p.event_time(after.end_at, after.timezone),
                p.event_time(before.end_at, before.timezone),
            )
        )
    if before.location != after.location:
        changes.append(p("changed_location", after.location, before.location))
    if before.online_url != after.online_url:
        changes.append(p("changed_online", bool(after.online_url), bool(before.online_url)))
    return changes


def update_event(
    session: Session,
    kit: MailKit,
    event_id: int,
    spec: EventSpec,
    *,
    now: datetime,
    created_by: str | None = None,
) -> UpdateOutcome:
    """Save changes; a changed time or place mails an update (SEQUENCE raised) to the invited.

    Everyone invited hears of it except those who declined. A new join link goes to those who
    said yes in a mail of its own; more seats go to the waiting list, first in line first.
    """
    spec = check(spec)
    event = locked(session, event_id)
    if event.status == EVENT_CANCELLED:
        raise Conflict(_("This event is cancelled and cannot be changed."))
    before = Event(**event.model_dump())  # a detached copy to compare with
    _apply(event, spec)
    if event.start_at != before.start_at and event.start_at <= now:
        raise InvalidInput(_("Start: must be in the future."), field="start")
    event.updated_at = now
    changes = _phrased_changes(kit, before, event)
    mailed = 0
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    if changes:
        event.sequence += 1
        if event.start_at != before.start_at:
            _forget_reminders(session, event, old_sequence=before.sequence)
        mailed = _queue_update(session, kit, before, event, mailing_list, now, created_by)
        if event.online_url and event.online_url != before.online_url:
            yes = invited_members(session, event, statuses=(YES,))
            queue_confirmations(session, kit, event, mailing_list, yes, YES, now=now)
    session.add(event)
    session.flush()
    promoted = rsvp.fill_free_seats(session, kit, event, mailing_list, now=now)
    return UpdateOutcome(event, changes, mailed, len(promoted))


def _queue_update(
    session: Session,
    kit: MailKit,
    before: Event,
    event: Event,
    mailing_list: MailingList,
    now: datetime,
    created_by: str | None,
) -> int:
    members = invited_members(session, event, exclude=(NO,))
    if not members:
        return 0
    calendar_links = make_calendar_links(kit, event, mailing_list)
    campaign = create_campaign(
        session,
        kit,
        event,
        mailing_list,
        "event_update",
        # The changes in each reader's language (the caller's list is the kit's).
        lambda language_kit: {
            "changes": _phrased_changes(language_kit, before, event),
            "calendar_links": calendar_links,
        },
        languages=languages_of(mailing_list, members),
        now=now,
        method="PUBLISH",
        created_by=created_by,
    )
    return outbox.enqueue(
        session, campaign, recipients(kit, event, members, rsvp_links=True), now=now
    )


def _forget_reminders(session: Session, event: Event, *, old_sequence: int) -> None:
    """After a change of start, reminders sent for the old time must not block the new ones.

    Their campaigns keep their history under a renamed ``ref``; any still queued are cancelled
    (they would announce the old time).
    """
    prefix = refs.reminders_of(event.id)
    old = session.execute(
        select(Campaign).where(col(Campaign.ref).startswith(prefix, autoescape=True))
    ).scalars()
    for campaign in list(old):
        if campaign.ref and not refs.is_moved(campaign.ref):
            if campaign.status != outbox.CANCELLED:
                outbox.set_status(session, campaign.id or 0, outbox.CANCELLED)
            campaign.ref = refs.moved(campaign.ref, old_sequence)
            session.add(campaign)
    session.flush()


def invited_members(
    session: Session,
    event: Event,
    *,
    statuses: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> list[Member]:
    """Invited members still active, by answer; the update and cancel audiences."""
    stmt = (
        select(Member)
        .join(Rsvp, col(Rsvp.member_id) == col(Member.id))
        .where(
            col(Rsvp.event_id) == event.id,
            col(Member.status) == ACTIVE,
            col(Member.email).is_not(None),
        )
        .order_by(col(Member.id))
    )
    if statuses is not None:
        stmt = stmt.where(col(Rsvp.status).in_(list(statuses)))
    if exclude:
        stmt = stmt.where(col(Rsvp.status).not_in(list(exclude)))
    return list(session.execute(stmt).scalars())


# -- invite ---------------------------------------------------------------------------------


def invite_reach(session: Session, event_id: int, segment: Segment | None = None) -> audience.Reach:
    """Who ``invite`` would mail now: the audience minus those invited already.

    A figure to show (the live count, the confirmation page), so it reads without locking the
    event: ``invite`` itself counts again under the lock.
    """
    event = get(session, event_id)
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    invited = select(col(Rsvp.member_id)).where(col(Rsvp.event_id) == event.id)
    return audience.reach(session, mailing_list, segment or Segment(), leave_out=invited)


def invite(
    session: Session,
    kit: MailKit,
    event_id: int,
    segment: Segment | None = None,
    *,
    now: datetime,
    created_by: str | None = None,
) -> tuple[Campaign | None, int]:
    """Invite the list's active members (or a segment) not yet invited; returns (campaign, n).

    The invitation carries the .ics (METHOD:PUBLISH), the calendar links, three signed RSVP
    links per member and the time in the member's zone; never the join link.
    """
    event = locked(session, event_id)
    if event.status == EVENT_CANCELLED:
        raise Conflict(_("This event is cancelled."))
    if event.start_at <= now:
        raise Conflict(_("This event has already started."))
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    campaign = create_campaign(
        session,
        kit,
        event,
        mailing_list,
        "invitation",
        {"calendar_links": make_calendar_links(kit, event, mailing_list)},
        languages=audience.languages(session, mailing_list, segment or Segment()),
        now=now,
        method="PUBLISH",
        created_by=created_by,
    )
    fresh = _new_invitees(session, kit, event, mailing_list, segment or Segment(), now)
    count = outbox.enqueue(session, campaign, fresh, now=now)
    if count == 0:
        outbox.discard(session, campaign)  # everyone was invited already: no empty campaign
        return None, 0
    return campaign, count


def _new_invitees(
    session: Session,
    kit: MailKit,
    event: Event,
    mailing_list: MailingList,
    segment: Segment,
    now: datetime,
) -> Iterator[Recipient]:
    """The audience (audience.recipients decides who) minus those already invited.

    Streams in chunks: each chunk's members get an RSVP row ("invited") and their personal
    values (RSVP links, local time) before they are handed to the outbox.
    """
    chunk: list[Recipient] = []
    for recipient in audience.recipients(session, kit, mailing_list, segment):
        chunk.append(recipient)
        if len(chunk) == CHUNK:
            yield from _invite_chunk(session, kit, event, chunk, now)
            chunk = []
    if chunk:
        yield from _invite_chunk(session, kit, event, chunk, now)


def _invite_chunk(
    session: Session, kit: MailKit, event: Event, chunk: list[Recipient], now: datetime
) -> list[Recipient]:
    ids = [r.id for r in chunk]
    invited = set(
        session.execute(
            select(col(Rsvp.member_id)).where(
                col(Rsvp.event_id) == event.id, col(Rsvp.member_id).in_(ids)
            )
        ).scalars()
    )
    new_ids = [i for i in ids if i not in invited]
    if not new_ids:
        return []
    session.execute(
        insert(Rsvp),
        [
            {"event_id": event.id, "member_id": i, "status": INVITED, "invited_at": now}
            for i in new_ids
        ],
    )
    members = session.execute(select(Member).where(col(Member.id).in_(new_ids))).scalars().all()
    return list(recipients(kit, event, sorted(members, key=lambda m: m.id or 0), rsvp_links=True))


# -- cancel ---------------------------------------------------------------------------------


def cancel_reach(session: Session, event_id: int) -> audience.Reach:
    """Who ``cancel_event`` would tell now: everyone invited and still active."""
    event = locked(session, event_id)
    return audience.reach_of(invited_members(session, event))


def cancel_event(
    session: Session,
    kit: MailKit,
    event_id: int,
    *,
    now: datetime,
    reason: str = "",
    created_by: str | None = None,
) -> tuple[Event, int]:
    """Cancel: stop the event's mail not yet sent, mail everyone invited a METHOD:CANCEL .ics.

    Returns the event and how many members are told. No reminder follows a cancellation.
    """
    reason = clean_text(reason, field="reason", label=_("Reason"), limit=500)
    event = locked(session, event_id)
    if event.status == EVENT_CANCELLED:
        raise Conflict(_("This event is already cancelled."))
    _stop_event_campaigns(session, event)
    event.status, event.cancelled_at, event.updated_at = EVENT_CANCELLED, now, now
    event.sequence += 1
    session.add(event)
    session.flush()
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    members = invited_members(session, event)
    if not members:
        return event, 0
    campaign = create_campaign(
        session,
        kit,
        event,
        mailing_list,
        "event_cancel",
        {"reason": reason},
        languages=languages_of(mailing_list, members),
        now=now,
        method="CANCEL",
        ref=refs.event_cancellation(event.id),
        created_by=created_by,
    )
    return event, outbox.enqueue(session, campaign, recipients(kit, event, members), now=now)


def _stop_event_campaigns(session: Session, event: Event) -> None:
    """Cancel the event's queued invitations, updates and reminders (sent ones stay sent)."""
    stmt = select(col(Campaign.id)).where(
        col(Campaign.status) != outbox.CANCELLED,
        or_(
            *(
                col(Campaign.ref).startswith(prefix, autoescape=True)
                for prefix in refs.mails_of(event.id)
            )
        ),
    )
    for campaign_id in list(session.execute(stmt).scalars()):
        outbox.set_status(session, campaign_id, outbox.CANCELLED)
