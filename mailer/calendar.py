"""Calendar attachments and "add to calendar" links for event invitations.

Pure mail machinery: no web framework, no subscriber model. Callers build a
``CalendarEvent`` from whatever they store and get back bytes or URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Literal, cast
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress

from mailer.zones import known_zone

Method = Literal["PUBLISH", "REQUEST", "CANCEL"]

PRODID = "-//Network Newsletter//Event invitations//EN"

_GOOGLE_RENDER = "https://calendar.google.com/calendar/render"
_OUTLOOK_COMPOSE = "https://outlook.office.com/calendar/0/deeplink/compose"


def _zone(name: str) -> ZoneInfo:
    """Resolve an IANA zone name or raise ValueError naming it."""
    return known_zone(name)


def _require_aware(name: str, value: datetime) -> None:
    """Reject naive datetimes: a calendar entry without an offset lands at the wrong hour."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True, kw_only=True)
class CalendarEvent:
    """One event as mail sees it; validated on construction.

    Keyword-only because ``organizer_*`` follow defaulted fields and because an
    eleven-field record is easy to mis-order positionally.
    """

    uid: str
    title: str
    description: str
    start: datetime
    end: datetime
    timezone: str
    location: str = ""
    url: str = ""
    organizer_name: str
    organizer_email: str
    sequence: int = 0
    cancelled: bool = False

    def __post_init__(self) -> None:
        if not self.uid.strip():
            raise ValueError("uid must not be empty")
        _require_aware("start", self.start)
        _require_aware("end", self.end)
        # Compare in UTC: same-tzinfo comparisons use wall-clock time and ignore
        # fold, so an end in the repeated hour after a fall-back could look early.
        if self.end.astimezone(UTC) <= self.start.astimezone(UTC):
            raise ValueError(
                f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})"
            )
        _zone(self.timezone)
        if self.sequence < 0:
            raise ValueError(f"sequence must be >= 0, got {self.sequence}")

    @property
    def zone(self) -> ZoneInfo:
        """The event's own zone as a tzinfo."""
        return _zone(self.timezone)

    @property
    def local_start(self) -> datetime:
        """Start as wall-clock time in the event's zone."""
        return self.start.astimezone(self.zone)

    @property
    def local_end(self) -> datetime:
        """End as wall-clock time in the event's zone."""
        return self.end.astimezone(self.zone)


@lru_cache(maxsize=64)
def _vtimezone_ical(tzid: str, first_year: int, last_year: int) -> bytes:
    """Serialized VTIMEZONE for ``tzid`` covering the given years.

    Generating it walks the zone's transitions, which is slow, and a mailing
    renders the same event for thousands of recipients, so cache by zone and
    year window. Bytes are cached rather than the component because components
    are mutable and get attached to a calendar.
    """
    timezone = Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year, 1, 1)
    )
    ical: bytes = timezone.to_ical()
    return ical


def _vtimezone(event: CalendarEvent) -> Timezone:
    """A fresh VTIMEZONE for the event's zone.

    The window is a year either side of the event instead of icalendar's
    1970-2038 default: that keeps the attachment small (a handful of
    transitions, not ~140 RDATEs) while still covering the event itself.
    """
    data = _vtimezone_ical(event.timezone, event.start.year - 1, event.end.year + 2)
    # from_ical is typed on Component; called on Timezone it builds a Timezone.
    return cast(Timezone, Timezone.from_ical(data))


def _ics_datetime(local: datetime) -> datetime:
    """``local`` unchanged if its wall-clock time names one instant, else the UTC equivalent.

    RFC 5545 3.3.5 reads a local time repeated by a fall-back change as its *first*
    occurrence, so the second one (``fold=1``, e.g. 01:30 WET on 2026-10-25 in Lisbon)
    cannot be written with TZID; writing it in UTC (``Z``) keeps the instant right.
    """
    if local.replace(fold=0).utcoffset() != local.utcoffset():
        return local.astimezone(UTC)
    return local


def invitation_ics(
    event: CalendarEvent,
    *,
    method: Method = "PUBLISH",
    attendee_email: str | None = None,
    attendee_name: str = "",
    dtstamp: datetime,
) -> bytes:
    """Render ``event`` as an RFC 5545 VCALENDAR with a single VEVENT."""
    if method not in ("PUBLISH", "REQUEST", "CANCEL"):
        raise ValueError(f"unsupported METHOD {method!r}")
    _require_aware("dtstamp", dtstamp)

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    # METHOD choice: PUBLISH is the default because it lets Outlook, Gmail and
    # Apple Calendar offer "add to calendar" without turning the mail into a
    # meeting request that sends iTIP replies (accept/decline) back to an
    # organizer mailbox nobody reads - RSVPs are collected via web links.
    # CANCEL with the same UID and a higher SEQUENCE than the copy the
    # recipient holds makes clients remove (or strike through) the entry; the
    # caller owns SEQUENCE and must bump it for every update or cancellation.
    cal.add("method", method)

    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", dtstamp.astimezone(UTC))
    # Emit wall-clock times in the event's own zone (DTSTART;TZID=...) rather
    # than UTC so clients show the organizer's zone and follow DST correctly.
    vevent.add("dtstart", _ics_datetime(event.local_start))
    vevent.add("dtend", _ics_datetime(event.local_end))
    vevent.add("summary", event.title)
    vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    if event.url:
        vevent.add("url", event.url)
    vevent.add("organizer", vCalAddress.new(event.organizer_email, cn=event.organizer_name))
    vevent.add("sequence", event.sequence)
    cancelled = method == "CANCEL" or event.cancelled
    vevent.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    if attendee_email:
        vevent.add(
            "attendee",
            vCalAddress.new(
                attendee_email,
                cn=attendee_name or None,
                role="REQ-PARTICIPANT",
                partstat="NEEDS-ACTION",
                # RSVP=FALSE: clients must not prompt for a calendar reply;
                # attendance is recorded through the mail's web links.
                rsvp=False,
            ),
        )

    # VTIMEZONE first: RFC 5545 allows any order, but some clients (older
    # Outlook) only resolve a TZID defined before the component using it.
    cal.add_component(_vtimezone(event))
    cal.add_component(vevent)
    ical: bytes = cal.to_ical()
    return ical


def _utc_compact(value: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ``, the form Google's ``dates`` parameter expects."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _utc_iso(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; Outlook misreads offset-less times as the viewer's zone."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _details(event: CalendarEvent) -> str:
    """Description plus the public page URL, since link-created entries have no URL field."""
    if event.url and event.url not in event.description:
        return f"{event.description}\n\n{event.url}" if event.description else event.url
    return event.description


def google_calendar_link(event: CalendarEvent) -> str:
    """URL that opens Google Calendar's "create event" form pre-filled with ``event``."""
    params: dict[str, str] = {
        "action": "TEMPLATE",
        "text": event.title,
        "dates": f"{_utc_compact(event.start)}/{_utc_compact(event.end)}",
        "details": _details(event),
    }
    if event.location:
        params["location"] = event.location
    params["ctz"] = event.timezone
    # quote (%20) instead of quote_plus: both services decode it, and it avoids
    # a literal "+" showing up in titles if a client skips form-decoding.
    return f"{_GOOGLE_RENDER}?{urlencode(params, quote_via=quote)}"


def outlook_calendar_link(event: CalendarEvent) -> str:
    """URL that opens Outlook on the web's compose form pre-filled with ``event``."""
    params: dict[str, str] = {
        "subject": event.title,
        "startdt": _utc_iso(event.start),
        "enddt": _utc_iso(event.end),
        "body": _details(event),
    }
    if event.location:
        params["location"] = event.location
    params["path"] = "/calendar/action/compose"
    params["rru"] = "addevent"
    return f"{_OUTLOOK_COMPOSE}?{urlencode(params, quote_via=quote)}"


def local_times(event: CalendarEvent, zone: str) -> tuple[datetime, datetime]:
    """Start and end converted to IANA ``zone``, e.g. to show "14:00 in Warsaw"."""
    tz = _zone(zone)
    return event.start.astimezone(tz), event.end.astimezone(tz)
