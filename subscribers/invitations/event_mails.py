"""The mails about an event: what templates receive, the calendar part, the personal values.

Every event mail is a campaign rendered once (``templates/email/<kind>``) and fanned out through
the outbox like any other. Per member only the personal values differ: links, the RSVP tokens,
the join link (for those who said yes) and the event's time in the member's own zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_location
from sqlmodel import Session

from mailer import outbox
from mailer.calendar import (
    CalendarEvent,
    Method,
    google_calendar_link,
    invitation_ics,
    outlook_calendar_link,
)
from mailer.content import markdown_to_html, markdown_to_text
from mailer.message import Address
from mailer.outbox import Campaign, Recipient
from mailer.plaintext import markdown_to_plain
from subscribers.content import multilingual
from subscribers.content.mails import MailKit, brand, list_campaign
from subscribers.content.multilingual import Reading, Text, Written
from subscribers.content.templating import mail_language
from subscribers.core import refs
from subscribers.core.models import EVENT, Event, MailingList, Member

# Members have no time zone of their own; their country gives it. Anyone else sees the event's.
COUNTRY_ZONES = {
    "PT": "Europe/Lisbon",
    "PL": "Europe/Warsaw",
    "ES": "Europe/Madrid",
    "RO": "Europe/Bucharest",
    "SK": "Europe/Bratislava",
    "BA": "Europe/Sarajevo",
    "MD": "Europe/Chisinau",
}
# How a zone is named in English mail ("14:00 (Lisbon time)"); other zones use their IANA city,
# and other languages CLDR's name of the city (Lisabona, Lizbona...).
ZONE_PLACES = {
    "Europe/Lisbon": "Lisbon",
    "Europe/Warsaw": "Warsaw",
    "Europe/Madrid": "Madrid",
    "Europe/Bucharest": "Bucharest",
    "Europe/Bratislava": "Bratislava",
    "Europe/Sarajevo": "Sarajevo",
    "Europe/Chisinau": "Chișinău",
}
RSVP_ANSWERS = ("yes", "no", "maybe")


def member_zone(member: Member, event: Event) -> str:
    """The zone a member reads times in: from their country, else the event's own."""
    return COUNTRY_ZONES.get((member.country or "").upper(), event.timezone)


def place_of(zone: str, language: str = "en") -> str:
    if language != "en":
        try:
            return str(get_timezone_location(zone, locale=language, return_city=True))
        except LookupError:
            pass
    return ZONE_PLACES.get(zone) or zone.rsplit("/", 1)[-1].replace("_", " ")


def _wall(value: datetime, locale: str = "en") -> str:
    """``Sunday 28 March 2027, 09:00`` in ``value``'s own zone (CLDR names, not the C locale).

    Day and month are named in ``locale`` (``niedziela 28 marca 2027, 09:00``).
    """
    return format_datetime(value, "EEEE d MMMM y, HH:mm", tzinfo=value.tzinfo, locale=locale)


class Phrases:
    """The macros of ``email/_event_phrases.txt``, called from Python, in the kit's language."""

    def __init__(self, kit: MailKit) -> None:
        self._module = kit.text_env.get_template("email/_event_phrases.txt").module
        self.language = kit.language

    def __call__(self, name: str, *args: Any) -> str:
        return str(getattr(self._module, name)(*args)).strip()

    def wall(self, value: datetime) -> str:
        return _wall(value, self.language)

    def place(self, zone: str) -> str:
        return place_of(zone, self.language)

    def event_time(self, value: datetime, zone: str) -> str:
        """``Sunday 28 March 2027, 09:00 (Lisbon time)``."""
        return self("event_time", self.wall(value.astimezone(ZoneInfo(zone))), self.place(zone))

    def lead(self, minutes: int) -> str:
        """How long until the start, as a person says it: ``3 hours``, never ``181 minutes``."""
        unit, count = lead_in_units(minutes)
        return self(unit, count)

    def where(self, event: Event, *, link_later: bool) -> str:
        """``Rua Augusta 10, and online``; a venue that already says it is online is said once.

        ``link_later``: the reader has not accepted yet, so the line says the link comes then.
        """
        place = event.location or ""
        online = bool(event.online_url)
        if online and place and says_online(place, self("online")):
            return self("where_online_venue", place, link_later)
        return self("where", place, online, link_later)


# A reminder is due at its offset and the job runs every minute, so a few minutes' slack still
# reads as the whole hour ("3 hours" for 181 minutes); a late one says what is really left.
LEAD_SLACK = 5


def lead_in_units(minutes: int) -> tuple[str, int]:
    """``("hours", 3)`` for 181 minutes: the unit and count a person would write.

    Whole hours (within ``LEAD_SLACK``) read as hours, or days from two days on; under an hour,
    or under two hours and not near a whole one (90 minutes), as minutes; otherwise the nearest
    hour, or day from two days on.
    """
    hours = (minutes + 30) // 60
    days = (minutes + 720) // 1440
    if minutes >= 2 * 1440 - LEAD_SLACK:
        return "days", days
    if hours >= 1 and abs(minutes - hours * 60) <= LEAD_SLACK:
        return "hours", hours
    if minutes < 120:
        return "minutes", minutes
    return "hours", hours


# Words that make a venue an online one ("Online (Zoom)"), in the languages the network writes.
_ONLINE_WORDS = re.compile(
    r"\b(online|on-line|en l[ií]nea|em linha|virtual|zoom|teams|jitsi|webex|google meet|skype)\b",
    re.IGNORECASE,
)


def says_online(place: str, online_word: str) -> bool:
    """Whether a venue already says the event is online (``online_word``: the reader's word)."""
    return bool(_ONLINE_WORDS.search(place)) or online_word.casefold() in place.casefold()


def local_times(phrases: Phrases, event: Event, zone: str) -> dict[str, str]:
    """``local_start`` / ``local_end`` for a member in ``zone``: empty when the clocks agree.

    The date is repeated only when it differs from the event's (an evening session in Lisbon
    is past midnight in Chișinău).
    """
    values = {"local_start": "", "local_end": ""}
    if zone == event.timezone:
        return values
    ours, theirs = ZoneInfo(event.timezone), ZoneInfo(zone)
    for key, instant in (("local_start", event.start_at), ("local_end", event.end_at)):
        here, there = instant.astimezone(ours), instant.astimezone(theirs)
        if here.replace(tzinfo=None) == there.replace(tzinfo=None):
            continue
        when = f"{there:%H:%M}" if here.date() == there.date() else phrases.wall(there)
        # member_time starts with " · ": the value follows the event's time on the same line.
        values[key] = " " + phrases("member_time", when, phrases.place(zone))
    return values


class MemberTimes:
    """Per-zone cache of ``local_times``: a campaign meets a handful of zones, not thousands."""

    def __init__(self, phrases: Phrases, event: Event) -> None:
        self._phrases, self._event = phrases, event
        self._by_zone: dict[str, dict[str, str]] = {}

    def __call__(self, member: Member) -> dict[str, str]:
        zone = member_zone(member, self._event)
        if zone not in self._by_zone:
            self._by_zone[zone] = local_times(self._phrases, self._event, zone)
        return self._by_zone[zone]


# -- context -------------------------------------------------------------------------------


def _place(phrases: Phrases, event: Event) -> str:
    """The calendar's LOCATION: the venue, or "Online"; never the join link."""
    return event.location or (phrases("online") if event.online_url else "")


def calendar_event(kit: MailKit, event: Event, mailing_list: MailingList) -> CalendarEvent:
    organizer = Address.parse(kit.sender_for(mailing_list))
    return CalendarEvent(
        uid=event.uid,
        title=event.title,
        description=markdown_to_text(event.description),
        start=event.start_at,
        end=event.end_at,
        timezone=event.timezone,
        location=_place(Phrases(kit), event),
        organizer_name=organizer.name or mailing_list.name,
        organizer_email=organizer.email,
        sequence=event.sequence,
        cancelled=event.status == "cancelled",
    )


def ics(
    kit: MailKit, event: Event, mailing_list: MailingList, *, method: Method, now: datetime
) -> bytes:
    """The event as an iCalendar object (same UID every time, the event's SEQUENCE)."""
    return invitation_ics(calendar_event(kit, event, mailing_list), method=method, dtstamp=now)


def calendar_links(kit: MailKit, event: Event, mailing_list: MailingList) -> dict[str, str]:
    cal = calendar_event(kit, event, mailing_list)
    return {"google": google_calendar_link(cal), "outlook": outlook_calendar_link(cal)}


def written(session: Session, event: Event) -> Written:
    """The event's title and description in its own language and in each translation."""
    assert event.id is not None
    original = Text(event.language, event.title, event.description)
    return Written(original, multilingual.translations(session, EVENT, event.id))


def event_facts(kit: MailKit, event: Event, reading: Reading | None = None) -> dict[str, Any]:
    """The ``event`` dict every event template receives (documented in invitation.html).

    ``reading`` is the title and description for the kit's language (the event's own when
    None); ``untranslated`` tells the template to say that no translation exists.
    """
    phrases = Phrases(kit)
    deadline = event.rsvp_deadline
    reading = reading or Reading(Text(event.language, event.title, event.description), False)
    description = reading.text.body
    return {
        "id": event.id,
        "title": reading.text.title,
        "text_language": reading.text.language,
        "untranslated": reading.untranslated,
        # Under the event's <h1> title: the description's headings start at <h2>.
        "description_html": markdown_to_html(description, top_heading=2) if description else "",
        "description_text": markdown_to_plain(description),
        "location": event.location,
        "start_local": phrases.event_time(event.start_at, event.timezone),
        "end_local": phrases.event_time(event.end_at, event.timezone),
        "timezone": event.timezone,
        "has_online": bool(event.online_url),
        "where": phrases.where(event, link_later=False),
        "where_invited": phrases.where(event, link_later=True),
        "capacity_note": phrases("capacity", event.capacity) if event.capacity else "",
        "rsvp_deadline": phrases.event_time(deadline, event.timezone) if deadline else "",
        "cancelled": event.status == "cancelled",
    }


# -- personal values -----------------------------------------------------------------------


def rsvp_url(kit: MailKit, member: Member, event_id: int, answer: str) -> str:
    """The signed link for one answer: member id, nonce, event id and the answer."""
    assert member.id is not None
    token = kit.signer.sign("rsvp", member.id, member.nonce, f"{event_id}:{answer}")
    return kit.link(f"/events/{event_id}/rsvp/{token}")


def member_values(
    kit: MailKit,
    event: Event,
    member: Member,
    times: MemberTimes,
    *,
    rsvp_links: bool = False,
    join_link: bool = False,
) -> dict[str, str]:
    assert event.id is not None
    values = {**kit.member_links(member, event.list_id), **times(member)}
    if rsvp_links:
        for answer in RSVP_ANSWERS:
            values[f"rsvp_{answer}_url"] = rsvp_url(kit, member, event.id, answer)
    if join_link:
        # Members only: the one place the join link enters a mail.
        values["join_url"] = event.online_url
    return values


def recipients(
    kit: MailKit,
    event: Event,
    members: Iterable[Member],
    *,
    rsvp_links: bool = False,
    join_link: bool = False,
) -> Iterator[Recipient]:
    """Each member with their personal values, their own time in their language among them."""
    times: dict[str, MemberTimes] = {}
    for member in members:
        assert member.id is not None and member.email is not None
        language = mail_language(member.language)
        if language not in times:
            times[language] = MemberTimes(Phrases(kit.in_language(language)), event)
        values = member_values(
            kit, event, member, times[language], rsvp_links=rsvp_links, join_link=join_link
        )
        yield Recipient(member.id, member.email, member.name, values, language)


def languages_of(mailing_list: MailingList, members: Iterable[Member]) -> list[str]:
    """The languages a mail to these members is rendered in, the list's own first."""
    return [mailing_list.language, *sorted({member.language for member in members})]


# -- campaigns -----------------------------------------------------------------------------


Context = Mapping[str, Any] | Callable[[MailKit], Mapping[str, Any]]


def contexts(
    session: Session, event: Event, mailing_list: MailingList, context: Context
) -> Callable[[MailKit], dict[str, Any]]:
    """The full template context of an event mail for the kit of each language: the brand, the
    event's facts in that language's words (its translation where written) and ``context``."""
    texts = written(session, event)

    def full_context(language_kit: MailKit) -> dict[str, Any]:
        extra = context(language_kit) if callable(context) else context
        reading = texts.for_reader(language_kit.language)
        facts = event_facts(language_kit, event, reading)
        return {"brand": brand(mailing_list), "event": facts, **extra}

    return full_context


def create_campaign(
    session: Session,
    kit: MailKit,
    event: Event,
    mailing_list: MailingList,
    kind: str,
    context: Context,
    *,
    languages: Iterable[str],
    now: datetime,
    ref: str | None = None,
    method: Method | None = None,
    bulk: bool = True,
    created_by: str | None = None,
) -> Campaign:
    """Render an event mail once per language and store it as a campaign.

    Recipients are enqueued next. ``context`` is the kind's own context, or a function giving
    it for the kit of each language (when it holds phrases computed in Python).
    """
    versions = kit.render_each(kind, languages, contexts(session, event, mailing_list, context))
    calendar = ics(kit, event, mailing_list, method=method, now=now) if method else None
    return list_campaign(
        session,
        kit,
        mailing_list,
        versions,
        now=now,
        bulk=bulk,
        ref=ref or refs.event_mail(event.id, kind),
        calendar=calendar,
        calendar_method=method,
        created_by=created_by,
    )


def queue_confirmations(
    session: Session,
    kit: MailKit,
    event: Event,
    mailing_list: MailingList,
    members: list[Member],
    status: str,
    *,
    now: datetime,
    promoted: bool = False,
) -> Campaign | None:
    """The mail recording an answer (``status``); to a "yes" it carries the join link."""
    if not members:
        return None
    context = {"status": status, "promoted": promoted}
    if status == "yes":
        context["calendar_links"] = calendar_links(kit, event, mailing_list)
    campaign = create_campaign(
        session,
        kit,
        event,
        mailing_list,
        "rsvp_confirmation",
        context,
        languages=languages_of(mailing_list, members),
        now=now,
        bulk=False,
    )
    outbox.enqueue(
        session, campaign, recipients(kit, event, members, join_link=status == "yes"), now=now
    )
    return campaign
