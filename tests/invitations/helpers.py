"""Builders and readers shared by the event tests."""

from __future__ import annotations

import email.policy
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import select
from sqlmodel import Session

from mailer.outbox import Campaign, Delivery
from subscribers.core.db import transaction
from subscribers.core.models import Event, MailingList, Member, Rsvp
from subscribers.invitations import events, rsvp
from subscribers.invitations.events import EventSpec
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member

BASE = "http://newsletter.test"
LISBON = ZoneInfo("Europe/Lisbon")
JOIN_URL = "https://meet.network.test/j/workshop?pwd=s3cr3t"
RSVP_LINK = re.compile(rf"{re.escape(BASE)}(/events/\d+/rsvp/[A-Za-z0-9_.\-]+)")

MEMBERS = {
    "ana": {"email": "ana@example.org", "name": "Ana Sousa", "country": "PT"},
    "piotr": {"email": "piotr@example.org", "name": "Piotr Nowak", "country": "PL"},
    "ion": {"email": "ion@example.org", "name": "Ion Rusu", "country": "MD"},
}


def network(session: Session, rt: Runtime, *names: str) -> tuple[MailingList, list[Member]]:
    """The practitioners list with the named members (default: Ana, Piotr and Ion)."""
    lst = make_list(session, rt.clock())
    members = [
        make_member(session, rt.clock(), lists_=(lst,), **MEMBERS[name])
        for name in (names or tuple(MEMBERS))
    ]
    return lst, members


def spec(start: datetime | None = None, **overrides: Any) -> EventSpec:
    start = start or datetime(2026, 12, 10, 14, 0, tzinfo=LISBON)
    fields: dict[str, Any] = {
        "list_slug": "practitioners",
        "title": "Transnational workshop",
        "start": start,
        "end": start + timedelta(hours=3),
        "timezone": "Europe/Lisbon",
        "description": "Practitioners compare **real cases** in small rooms.",
        "online_url": JOIN_URL,
        **overrides,
    }
    return EventSpec(**fields)


def create(rt: Runtime, **overrides: Any) -> int:
    with transaction(rt.new_session()) as s:
        event = events.create_event(s, rt.kit, spec(**overrides), now=rt.clock())
    assert event.id is not None
    return event.id


def invite(rt: Runtime, event_id: int, segment: Any = None) -> int:
    with transaction(rt.new_session()) as s:
        _campaign, count = events.invite(s, rt.kit, event_id, segment, now=rt.clock())
    return count


def answer(rt: Runtime, event_id: int, member: Member, reply: str) -> rsvp.Outcome:
    with transaction(rt.new_session()) as s:
        return rsvp.respond(s, rt.kit, event_id, member, reply, now=rt.clock())


def event_row(rt: Runtime, event_id: int) -> Event:
    with rt.new_session() as s:
        return events.get(s, event_id)


def statuses(rt: Runtime, event_id: int) -> dict[int, str]:
    with rt.new_session() as s:
        rows = s.execute(select(Rsvp.member_id, Rsvp.status).where(Rsvp.event_id == event_id))
        return {member_id: status for member_id, status in rows}


def campaigns(rt: Runtime, kind: str | None = None) -> list[Campaign]:
    with rt.new_session() as s:
        stmt = select(Campaign).order_by(Campaign.id)
        if kind:
            stmt = stmt.where(Campaign.kind == kind)
        return list(s.execute(stmt).scalars())


def deliveries(rt: Runtime, campaign_id: int) -> list[Delivery]:
    with rt.new_session() as s:
        stmt = select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        return list(s.execute(stmt).scalars())


def recipients_of(rt: Runtime, kind: str) -> list[str]:
    """Addresses of every delivery of every campaign of this kind, in order."""
    return [d.address for c in campaigns(rt, kind) for d in deliveries(rt, c.id or 0)]


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def prose_of(message: EmailMessage) -> str:
    """The plain text with its wrapping undone: every run of whitespace one space."""
    return " ".join(text_of(message).split())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def bodies_of(message: EmailMessage) -> str:
    """Every decoded text part (plain, HTML, calendar) of a message, joined."""
    found = []
    for part in message.walk():
        if not part.is_multipart() and part.get_content_maintype() == "text":
            found.append(part.get_payload(decode=True).decode("utf-8"))
    return "\n".join(found)


def calendar_of(message: EmailMessage) -> Calendar:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_payload(decode=True))
    raise AssertionError("no text/calendar part")


def rsvp_links(message: EmailMessage) -> dict[str, str]:
    """The three RSVP paths of a mail, keyed by answer (read back from the token's page)."""
    text = prose_of(message)
    found = {}
    for label, answer_ in (
        ("Yes, I will attend:", "yes"),
        ("Maybe:", "maybe"),
        ("No, I cannot attend:", "no"),
    ):
        # The link follows its label, on the same line or (wrapped) the next.
        match = re.search(re.escape(label) + " " + RSVP_LINK.pattern, text)
        assert match, label
        found[answer_] = match.group(1)
    return found
