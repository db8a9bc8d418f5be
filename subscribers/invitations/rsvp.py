"""Answers to invitations: yes / no / maybe, seats, the waiting list, the join link.

Seats are counted under a lock on the event row (``lookup.locked``), so two members taking the
last seat at the same moment are served one after the other: one gets it, the other waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, delete, func, select
from sqlmodel import Session, col

from subscribers.admin import webhooks
from subscribers.content.mails import MailKit
from subscribers.core.errors import Conflict, NotFound, TokenError
from subscribers.core.i18n import gettext as _
from subscribers.core.models import (
    ERASED,
    EVENT_CANCELLED,
    EVENT_SCHEDULED,
    INVITED,
    MAYBE,
    NO,
    RSVP_STATUSES,
    SUB_UNSUBSCRIBED,
    UNSUBSCRIBED,
    WAITING,
    YES,
    Event,
    MailingList,
    Member,
    Rsvp,
    Subscription,
)
from subscribers.invitations import lookup
from subscribers.invitations.event_mails import RSVP_ANSWERS, queue_confirmations
from subscribers.people import suppressions
from subscribers.people.csv_export import csv_text
from subscribers.people.registration import member_for_token


@dataclass(frozen=True)
class Outcome:
    """What an answer did: the member's status now, whether it changed, who got a seat."""

    event: Event
    status: str
    changed: bool
    promoted: list[Member] = field(default_factory=list)


def read_token(session: Session, kit: MailKit, event_id: int, token: str) -> tuple[Member, str]:
    """The member and answer an RSVP link was signed for; TokenError unless it is for this event.

    The token carries the member id and nonce (erasure kills it), the event id and the answer.
    """
    member, extra = member_for_token(session, kit, "rsvp", token)
    signed_event, _sep, answer = extra.partition(":")
    if signed_event != str(event_id) or answer not in RSVP_ANSWERS:
        raise TokenError(_("This link is not valid."))
    return member, answer


def status_of(session: Session, event_id: int, member_id: int) -> str | None:
    return session.execute(
        select(col(Rsvp.status)).where(
            col(Rsvp.event_id) == event_id, col(Rsvp.member_id) == member_id
        )
    ).scalar_one_or_none()


def seats_taken(session: Session, event: Event) -> int:
    return int(
        session.execute(
            select(func.count()).where(col(Rsvp.event_id) == event.id, col(Rsvp.status) == YES)
        ).scalar_one()
    )


def _has_room(session: Session, event: Event) -> bool:
    return event.capacity is None or seats_taken(session, event) < event.capacity


def respond(
    session: Session, kit: MailKit, event_id: int, member: Member, answer: str, *, now: datetime
) -> Outcome:
    """Record a member's answer and mail them what it means (with the join link to a yes).

    A "yes" when every seat is taken joins the waiting list. A seat given up (no, maybe) goes
    to the first in line, who is mailed. Answers may change until the deadline; after it, or
    once the event is cancelled, Conflict.
    """
    if answer not in RSVP_ANSWERS:
        raise ValueError(f"unknown answer {answer!r}")
    assert member.id is not None
    event = lookup.locked(session, event_id)  # held until commit: seats are counted once
    if not lookup.answers_open(event, now):
        raise Conflict(_closed_reason(event))
    row = session.execute(
        select(Rsvp).where(col(Rsvp.event_id) == event_id, col(Rsvp.member_id) == member.id)
    ).scalar_one_or_none()
    if row is None:  # a valid token proves the invitation, even if its row is gone
        row = Rsvp(event_id=event_id, member_id=member.id, status=INVITED, invited_at=now)
    previous = row.status
    status = _next_status(session, event, previous, answer)
    if status == previous:
        return Outcome(event, status, changed=False)
    row.status, row.answered_at = status, now
    row.waiting_since = now if status == WAITING else None
    session.add(row)
    session.flush()
    mailing_list = _list_of(session, event)
    queue_confirmations(session, kit, event, mailing_list, [member], status, now=now)
    promoted = fill_free_seats(session, kit, event, mailing_list, now=now)
    _changed(session, event, member, status, previous, promoted, now=now)
    return Outcome(event, status, changed=True, promoted=promoted)


def _changed(
    session: Session,
    event: Event,
    member: Member,
    status: str,
    previous: str,
    promoted: list[Member],
    *,
    now: datetime,
) -> None:
    """The ``rsvp.changed`` webhook: a member's answer changed, and who got a seat by it."""
    webhooks.emit(
        session,
        "rsvp.changed",
        {
            "event_id": event.id,
            "member_id": member.id,
            "email": member.email,
            "answer": status,
            "previous": previous,
            "promoted_member_ids": [m.id for m in promoted],
        },
        now=now,
    )


def _closed_reason(event: Event) -> str:
    if event.status == EVENT_CANCELLED:
        return _("This event has been cancelled.")
    return _("Answers for this event are closed.")


def _next_status(session: Session, event: Event, previous: str, answer: str) -> str:
    if answer == "no":
        return NO
    if answer == "maybe":
        return MAYBE
    if previous in (YES, WAITING):
        return previous  # already holding a seat, or already in line: keep the place
    return YES if _has_room(session, event) else WAITING


def _list_of(session: Session, event: Event) -> MailingList:
    mailing_list = session.get(MailingList, event.list_id)
    assert mailing_list is not None
    return mailing_list


def fill_free_seats(
    session: Session, kit: MailKit, event: Event, mailing_list: MailingList, *, now: datetime
) -> list[Member]:
    """Give free seats to the waiting list, first in line first, and mail each their place.

    The caller holds the event row lock (``lookup.locked``).
    """
    if event.status != EVENT_SCHEDULED or event.end_at <= now:
        return []
    free = None if event.capacity is None else event.capacity - seats_taken(session, event)
    if free is not None and free <= 0:
        return []
    stmt = (
        select(Rsvp, Member)
        .join(Member, col(Member.id) == col(Rsvp.member_id))
        # An erased member has no address to be told at (and rows erased before erasure
        # released seats may still exist): never promoted.
        .where(
            col(Rsvp.event_id) == event.id,
            col(Rsvp.status) == WAITING,
            col(Member.email).is_not(None),
        )
        .order_by(col(Rsvp.waiting_since), col(Rsvp.id))
    )
    if free is not None:
        stmt = stmt.limit(free)
    promoted = []
    for row, member in session.execute(stmt).all():
        row.status, row.waiting_since, row.answered_at = YES, None, now
        session.add(row)
        promoted.append(member)
    session.flush()
    queue_confirmations(session, kit, event, mailing_list, promoted, YES, now=now, promoted=True)
    return promoted


def release(session: Session, kit: MailKit, member: Member, *, now: datetime) -> list[Member]:
    """Forget every answer of a member being erased: their seats go to the waiting lists.

    The rows go (an answer is personal data); each event where the member held a seat fills it
    from its waiting list, first in line first. Returns those promoted.

    A suppression (bounce, complaint) frees nothing: a full mailbox or a spam click says nothing
    about coming to the event, and staff still see the answer and can reach the person.
    """
    rows = session.execute(select(Rsvp).where(col(Rsvp.member_id) == member.id)).scalars().all()
    held = sorted({row.event_id for row in rows if row.status == YES})
    # Lock the events first, in id order, so two erasures cannot deadlock on them.
    locked = [lookup.locked(session, event_id) for event_id in held]
    session.execute(delete(Rsvp).where(col(Rsvp.member_id) == member.id))
    session.flush()
    promoted: list[Member] = []
    for event in locked:
        promoted += fill_free_seats(session, kit, event, _list_of(session, event), now=now)
    return promoted


# -- staff views ---------------------------------------------------------------------------

# Why an invited member can no longer be reached about the event (``Answer.departed``).
LEFT, ERASED_MEMBER = "left", "erased"  # and suppressions.STATES' bounced | complained | suppressed


@dataclass(frozen=True)
class Answer:
    member: Member
    rsvp: Rsvp
    departed: str | None = None  # left | erased | bounced | complained | suppressed


def _departure(
    member: Member, subscription_status: str | None, suppressed: suppressions.Suppressed | None
) -> str | None:
    """Why a member invited to an event of a list is gone from it, or None while they are on
    it and mailable: erased, left (the list or everything), else suppressed (by its kind)."""
    if member.status == ERASED:
        return ERASED_MEMBER
    if member.status == UNSUBSCRIBED or subscription_status == SUB_UNSUBSCRIBED:
        return LEFT
    return suppressed.state if suppressed is not None else None


def answers(session: Session, event_id: int) -> list[Answer]:
    """Everyone invited with their answer: yes first, then the waiting list in order, then
    maybe, no, and those who have not answered; each marked if they have since left."""
    order = {YES: 0, WAITING: 1, MAYBE: 2, NO: 3, INVITED: 4}
    rows = session.execute(
        select(Rsvp, Member, col(Subscription.status))
        .join(Member, col(Member.id) == col(Rsvp.member_id))
        .join(Event, col(Event.id) == col(Rsvp.event_id))
        .outerjoin(
            Subscription,
            and_(
                col(Subscription.member_id) == col(Member.id),
                col(Subscription.list_id) == col(Event.list_id),
            ),
        )
        .where(col(Rsvp.event_id) == event_id)
        .order_by(col(Rsvp.waiting_since), col(Rsvp.answered_at), col(Member.id))
    ).all()
    suppressed = suppressions.of_addresses(session, [m.email for _r, m, _s in rows if m.email])
    found = [
        Answer(
            member,
            row,
            _departure(member, sub_status, suppressed.get((member.email or "").strip().lower())),
        )
        for row, member, sub_status in rows
    ]
    return sorted(found, key=lambda a: order.get(a.rsvp.status, 9))


@dataclass(frozen=True)
class Released:
    """A seat (or a place in line) staff took back from a member who left, and who moved up."""

    member: Member
    previous: str
    departed: str
    promoted: list[Member]


def release_seat(
    session: Session, kit: MailKit, event_id: int, member_id: int, *, now: datetime
) -> Released:
    """Take back the seat or waiting-list place of a member who has left the list, was erased
    or whose address is suppressed; the first in line moves up and is mailed as usual.

    Their answer becomes "no". A member still on the list and mailable keeps their answer:
    only they change it (Conflict). Seats of a cancelled or past event are not given out.
    """
    event = lookup.locked(session, event_id)  # seats are counted under the event's lock
    if event.status != EVENT_SCHEDULED or event.end_at <= now:
        raise Conflict(_("This event is cancelled or over; its seats are no longer given out."))
    member = session.get(Member, member_id)
    row = session.execute(
        select(Rsvp).where(col(Rsvp.event_id) == event_id, col(Rsvp.member_id) == member_id)
    ).scalar_one_or_none()
    if member is None or row is None:
        raise NotFound(_("This member was not invited to this event."))
    if row.status not in (YES, WAITING):
        raise Conflict(
            _("%(name)s holds no seat and is not on the waiting list.", name=member.display_name)
        )
    subscription_status = session.execute(
        select(col(Subscription.status)).where(
            col(Subscription.member_id) == member_id, col(Subscription.list_id) == event.list_id
        )
    ).scalar_one_or_none()
    departed = _departure(member, subscription_status, suppressions.of_member(session, member))
    if departed is None:
        raise Conflict(
            _(
                "%(name)s is still on the list and can be mailed; only they can change their "
                "answer.",
                name=member.display_name,
            )
        )
    previous = row.status
    row.status, row.waiting_since = NO, None
    session.add(row)
    session.flush()
    promoted = fill_free_seats(session, kit, event, _list_of(session, event), now=now)
    _changed(session, event, member, NO, previous, promoted, now=now)
    return Released(member, previous, departed, promoted)


def counts(session: Session, event_id: int) -> dict[str, int]:
    result = dict.fromkeys(RSVP_STATUSES, 0)
    for status, n in session.execute(
        select(col(Rsvp.status), func.count())
        .where(col(Rsvp.event_id) == event_id)
        .group_by(col(Rsvp.status))
    ):
        result[status] = n
    return result


def export_csv(session: Session, event_id: int) -> str:
    """The answers as CSV, every cell safe to open in a spreadsheet (no formulas)."""
    lookup.get(session, event_id)
    return csv_text(
        ["email", "name", "organisation", "country", "answer", "answered_at", "waiting_since"],
        (
            (
                a.member.email or "",
                a.member.name,
                a.member.organisation,
                a.member.country,
                a.rsvp.status,
                a.rsvp.answered_at.isoformat() if a.rsvp.answered_at else "",
                a.rsvp.waiting_since.isoformat() if a.rsvp.waiting_since else "",
            )
            for a in answers(session, event_id)
        ),
    )


def resend_join_link(
    session: Session, kit: MailKit, event_id: int, member_id: int, *, now: datetime
) -> Member:
    """Mail the join link again to a member who said yes."""
    event = lookup.get(session, event_id)
    if event.status == EVENT_CANCELLED:
        raise Conflict(_("This event is cancelled."))
    if not event.online_url:
        raise Conflict(_("This event has no online link."))
    member = session.get(Member, member_id)
    if member is None or member.status == ERASED or status_of(session, event_id, member_id) != YES:
        raise NotFound(_("Only a member who said yes gets the join link."))
    queue_confirmations(session, kit, event, _list_of(session, event), [member], YES, now=now)
    return member
