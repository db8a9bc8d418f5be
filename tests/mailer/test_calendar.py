"""Tests for mailer.calendar: ICS invitations, add-to-calendar links, zone conversion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from mailer.calendar import (
    CalendarEvent,
    google_calendar_link,
    invitation_ics,
    local_times,
    outlook_calendar_link,
)

LISBON = ZoneInfo("Europe/Lisbon")
DTSTAMP = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def make_event(**overrides: Any) -> CalendarEvent:
    """A valid Lisbon event; tests override only what they exercise."""
    fields: dict[str, Any] = {
        "uid": "event-12@lists.example.org",
        "title": "Chișinău workshop",
        "description": "Hands-on session.\nBring a laptop; coffee, tea provided.",
        "start": datetime(2026, 5, 14, 14, 0, tzinfo=LISBON),
        "end": datetime(2026, 5, 14, 16, 30, tzinfo=LISBON),
        "timezone": "Europe/Lisbon",
        "location": "Rua Augusta 10, Lisboa",
        "url": "https://lists.example.org/events/12",
        "organizer_name": "Ana Pereira",
        "organizer_email": "events@lists.example.org",
    }
    fields.update(overrides)
    return CalendarEvent(**fields)


def parse(data: bytes) -> tuple[Calendar, Event]:
    """Parse ICS bytes and return the calendar and its only VEVENT."""
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


# --- ICS structure -----------------------------------------------------------------------


def test_ics_round_trips_with_required_properties() -> None:
    event = make_event()
    data = invitation_ics(event, dtstamp=DTSTAMP)
    cal, vevent = parse(data)

    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]).startswith("-//")
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(cal["CALSCALE"]) == "GREGORIAN"

    assert str(vevent["UID"]) == "event-12@lists.example.org"
    assert vevent.decoded("DTSTAMP") == DTSTAMP
    assert b"DTSTAMP:20260301T123000Z\r\n" in data
    assert str(vevent["SUMMARY"]) == "Chișinău workshop"
    assert str(vevent["DESCRIPTION"]) == event.description
    assert str(vevent["LOCATION"]) == "Rua Augusta 10, Lisboa"
    assert str(vevent["URL"]) == "https://lists.example.org/events/12"
    assert vevent.decoded("SEQUENCE") == 0
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert str(vevent["TRANSP"]) == "OPAQUE"

    organizer = vevent["ORGANIZER"]
    assert str(organizer) == "mailto:events@lists.example.org"
    assert organizer.params["CN"] == "Ana Pereira"
    assert "ATTENDEE" not in vevent


def test_dtstart_carries_tzid_with_matching_vtimezone() -> None:
    data = invitation_ics(make_event(), dtstamp=DTSTAMP)
    cal, vevent = parse(data)

    assert b"DTSTART;TZID=Europe/Lisbon:20260514T140000\r\n" in data
    assert b"DTEND;TZID=Europe/Lisbon:20260514T163000\r\n" in data
    assert vevent["DTSTART"].params["TZID"] == "Europe/Lisbon"
    assert vevent["DTEND"].params["TZID"] == "Europe/Lisbon"
    assert [tz.tz_name for tz in cal.timezones] == ["Europe/Lisbon"]
    assert cal.get_missing_tzids() == set()
    # Defined before the event that references it, for picky clients.
    assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")


def test_start_in_another_zone_is_emitted_in_event_zone() -> None:
    # Same instant given in UTC: the ICS must still show Lisbon wall-clock time.
    start = datetime(2026, 5, 14, 13, 0, tzinfo=UTC)
    event = make_event(start=start, end=start + timedelta(hours=1))
    data = invitation_ics(event, dtstamp=DTSTAMP)
    assert b"DTSTART;TZID=Europe/Lisbon:20260514T140000\r\n" in data
    _, vevent = parse(data)
    assert vevent.decoded("DTSTART") == start


def test_non_lisbon_zone_gets_its_own_vtimezone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    event = make_event(
        start=datetime(2026, 7, 1, 9, 0, tzinfo=tokyo),
        end=datetime(2026, 7, 1, 10, 0, tzinfo=tokyo),
        timezone="Asia/Tokyo",
    )
    cal, vevent = parse(invitation_ics(event, dtstamp=DTSTAMP))
    assert [tz.tz_name for tz in cal.timezones] == ["Asia/Tokyo"]
    assert vevent["DTSTART"].params["TZID"] == "Asia/Tokyo"


def test_optional_location_and_url_are_omitted_when_empty() -> None:
    _, vevent = parse(invitation_ics(make_event(location="", url=""), dtstamp=DTSTAMP))
    assert "LOCATION" not in vevent
    assert "URL" not in vevent


def test_attendee_parameters() -> None:
    data = invitation_ics(
        make_event(),
        method="REQUEST",
        attendee_email="ion@example.md",
        attendee_name="Ion Popescu, PhD",
        dtstamp=DTSTAMP,
    )
    cal, vevent = parse(data)
    assert str(cal["METHOD"]) == "REQUEST"
    attendee = vevent["ATTENDEE"]
    assert str(attendee) == "mailto:ion@example.md"
    assert attendee.params["CN"] == "Ion Popescu, PhD"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["RSVP"] == "FALSE"


def test_attendee_without_name_has_no_cn() -> None:
    _, vevent = parse(
        invitation_ics(make_event(), attendee_email="ion@example.md", dtstamp=DTSTAMP)
    )
    assert "CN" not in vevent["ATTENDEE"].params


def test_update_keeps_uid_and_raises_sequence() -> None:
    original = make_event()
    moved = replace(
        original,
        start=original.start + timedelta(hours=1),
        end=original.end + timedelta(hours=1),
        sequence=original.sequence + 1,
    )
    _, first = parse(invitation_ics(original, dtstamp=DTSTAMP))
    _, second = parse(invitation_ics(moved, dtstamp=DTSTAMP + timedelta(days=1)))

    assert str(first["UID"]) == str(second["UID"])
    assert second.decoded("SEQUENCE") > first.decoded("SEQUENCE")
    assert second.decoded("DTSTAMP") > first.decoded("DTSTAMP")
    assert second.decoded("DTSTART") - first.decoded("DTSTART") == timedelta(hours=1)


def test_cancel_method_sets_cancelled_status() -> None:
    event = make_event(sequence=2)
    cal, vevent = parse(invitation_ics(event, method="CANCEL", dtstamp=DTSTAMP))
    assert str(cal["METHOD"]) == "CANCEL"
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert str(vevent["UID"]) == event.uid
    assert vevent.decoded("SEQUENCE") == 2


def test_cancelled_event_published_is_marked_cancelled() -> None:
    cal, vevent = parse(invitation_ics(make_event(cancelled=True), dtstamp=DTSTAMP))
    assert str(cal["METHOD"]) == "PUBLISH"
    assert str(vevent["STATUS"]) == "CANCELLED"


def test_lines_are_folded_to_75_octets_with_crlf() -> None:
    # Long multi-byte title and description force folding mid-UTF-8 text.
    event = make_event(
        title="Chișinău workshop: " + "școală de vară în Moldova, ediția a doua; " * 4,
        description="Țară, înțelegere și învățare. " * 20,
    )
    data = invitation_ics(
        event, attendee_email="ion@example.md", attendee_name="Ion Ștefănescu", dtstamp=DTSTAMP
    )
    assert data.endswith(b"\r\n")
    body = data[: -len(b"\r\n")]
    assert b"\n" not in body.replace(b"\r\n", b"")
    lines = body.split(b"\r\n")
    assert any(line.startswith(b" ") for line in lines)  # folding actually happened
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # no fold split a multi-byte character
    _, vevent = parse(data)
    assert str(vevent["SUMMARY"]) == event.title
    assert str(vevent["DESCRIPTION"]) == event.description


def test_non_ascii_round_trip() -> None:
    event = make_event(
        title="Chișinău workshop",
        location="Strada Ștefan cel Mare 1, Chișinău",
        organizer_name="Ștefan Țurcanu",
    )
    _, vevent = parse(invitation_ics(event, dtstamp=DTSTAMP))
    assert str(vevent["SUMMARY"]) == "Chișinău workshop"
    assert str(vevent["LOCATION"]) == "Strada Ștefan cel Mare 1, Chișinău"
    assert vevent["ORGANIZER"].params["CN"] == "Ștefan Țurcanu"


# --- DST boundaries ----------------------------------------------------------------------

# Expected values worked out by hand, not with zoneinfo:
# - 2026-03-29 (last Sunday of March): EU clocks go forward at 01:00 UTC. Moldova
#   goes forward at 02:00 local (00:00 UTC). By 09:00 everything is on summer time:
#   Lisbon WEST +1, Warsaw CEST +2, Chisinau EEST +3.
# - 2026-10-25 (last Sunday of October): EU clocks go back at 01:00 UTC, Moldova at
#   03:00 local (00:00 UTC). By 09:00: Lisbon WET +0, Warsaw CET +1, Chisinau EET +2.
# - 00:30 Lisbon falls *before* the switch in both cases, and because Moldova switches
#   an hour earlier (in UTC) than the EU, Warsaw and Chisinau are briefly 2 h apart in
#   March and only 1 h apart in October.
DST_CASES = [
    # (Lisbon wall clock, expected UTC, Warsaw wall clock, Chisinau wall clock)
    pytest.param(
        datetime(2026, 3, 29, 9, 0),
        datetime(2026, 3, 29, 8, 0),
        datetime(2026, 3, 29, 10, 0),
        datetime(2026, 3, 29, 11, 0),
        id="spring-forward-0900",
    ),
    pytest.param(
        datetime(2026, 10, 25, 9, 0),
        datetime(2026, 10, 25, 9, 0),
        datetime(2026, 10, 25, 10, 0),
        datetime(2026, 10, 25, 11, 0),
        id="fall-back-0900",
    ),
    pytest.param(
        # 00:30 WET = 00:30 UTC: Warsaw still CET (01:30), Chisinau already EEST (03:30).
        datetime(2026, 3, 29, 0, 30),
        datetime(2026, 3, 29, 0, 30),
        datetime(2026, 3, 29, 1, 30),
        datetime(2026, 3, 29, 3, 30),
        id="spring-forward-0030",
    ),
    pytest.param(
        # 00:30 WEST = 23:30 UTC the day before: Warsaw CEST 01:30, Chisinau EEST 02:30.
        datetime(2026, 10, 25, 0, 30),
        datetime(2026, 10, 24, 23, 30),
        datetime(2026, 10, 25, 1, 30),
        datetime(2026, 10, 25, 2, 30),
        id="fall-back-0030",
    ),
]


def two_hour_event(lisbon_wall: datetime) -> CalendarEvent:
    """An event lasting two real hours from a Lisbon wall-clock start.

    ``start + timedelta(hours=2)`` on an aware datetime is wall-clock arithmetic, so
    across a DST change it gives one or three real hours; add in UTC instead.
    """
    start = lisbon_wall.replace(tzinfo=LISBON)
    return make_event(
        start=start, end=(start.astimezone(UTC) + timedelta(hours=2)).astimezone(LISBON)
    )


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two aware datetimes (same-zone subtraction ignores DST)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


@pytest.mark.parametrize(("lisbon", "utc", "warsaw", "chisinau"), DST_CASES)
def test_local_times_across_dst_change(
    lisbon: datetime, utc: datetime, warsaw: datetime, chisinau: datetime
) -> None:
    event = two_hour_event(lisbon)
    assert event.start.astimezone(UTC) == utc.replace(tzinfo=UTC)

    w_start, w_end = local_times(event, "Europe/Warsaw")
    assert w_start.tzinfo == ZoneInfo("Europe/Warsaw")
    assert w_start.replace(tzinfo=None) == warsaw
    assert elapsed(w_start, w_end) == timedelta(hours=2)

    c_start, c_end = local_times(event, "Europe/Chisinau")
    assert c_start.tzinfo == ZoneInfo("Europe/Chisinau")
    assert c_start.replace(tzinfo=None) == chisinau
    assert elapsed(c_start, c_end) == timedelta(hours=2)

    # Same instant whichever zone it is shown in. Compared in UTC on purpose: Python's
    # cross-zone == is always False when one side sits in a repeated (fall-back) hour,
    # as 02:30 Chisinau does on 2026-10-25.
    assert w_start.astimezone(UTC) == c_start.astimezone(UTC) == event.start.astimezone(UTC)


def instant_via_vtimezone(cal: Calendar, vevent: Event, name: str) -> datetime:
    """The UTC instant a client gets for ``name`` using only the embedded VTIMEZONE.

    icalendar resolves a known TZID through zoneinfo, so build the zone from the
    VTIMEZONE component itself (``lookup_tzid=False``) to check what we emitted.
    """
    prop = vevent[name]
    value: datetime = vevent.decoded(name)
    tzid = prop.params.get("TZID")
    if tzid is None:  # written in UTC
        assert value.utcoffset() == timedelta(0)
        return value.astimezone(UTC)
    (vtimezone,) = [tz for tz in cal.timezones if tz.tz_name == tzid]
    embedded = vtimezone.to_tz(lookup_tzid=False)
    # fold=0: RFC 5545 reads a repeated local time as its first occurrence.
    return value.replace(tzinfo=embedded, fold=0).astimezone(UTC)


@pytest.mark.parametrize(("lisbon", "utc", "warsaw", "chisinau"), DST_CASES)
def test_vtimezone_resolves_to_same_utc_instant(
    lisbon: datetime, utc: datetime, warsaw: datetime, chisinau: datetime
) -> None:
    event = two_hour_event(lisbon)
    data = invitation_ics(event, dtstamp=DTSTAMP)
    cal, vevent = parse(data)

    wall = lisbon.strftime("%Y%m%dT%H%M%S").encode()
    assert b"DTSTART;TZID=Europe/Lisbon:" + wall + b"\r\n" in data

    assert instant_via_vtimezone(cal, vevent, "DTSTART") == utc.replace(tzinfo=UTC)
    assert instant_via_vtimezone(cal, vevent, "DTEND") == event.end.astimezone(UTC)
    # And through the normal (zoneinfo) parse path too.
    assert vevent.decoded("DTSTART").astimezone(UTC) == utc.replace(tzinfo=UTC)
    assert vevent.decoded("DTEND").astimezone(UTC) == event.end.astimezone(UTC)


def test_second_occurrence_of_repeated_hour_is_written_in_utc() -> None:
    # Lisbon falls back at 02:00 WEST -> 01:00 WET on 2026-10-25, so 01:00-01:59 happens
    # twice. 01:15 first time = 00:15 UTC; second time (fold=1) = 01:15 UTC. With TZID a
    # client would read the first occurrence, so the second one must be written as UTC.
    first = datetime(2026, 10, 25, 1, 15, fold=0, tzinfo=LISBON)
    second = datetime(2026, 10, 25, 1, 15, fold=1, tzinfo=LISBON)
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 15, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 15, tzinfo=UTC)

    event = make_event(start=first, end=second)  # one real hour, same wall clock
    data = invitation_ics(event, dtstamp=DTSTAMP)
    assert b"DTSTART;TZID=Europe/Lisbon:20261025T011500\r\n" in data
    assert b"DTEND:20261025T011500Z\r\n" in data

    cal, vevent = parse(data)
    assert instant_via_vtimezone(cal, vevent, "DTSTART") == first.astimezone(UTC)
    assert instant_via_vtimezone(cal, vevent, "DTEND") == second.astimezone(UTC)


# --- add-to-calendar links ---------------------------------------------------------------


def query(url: str) -> dict[str, str]:
    """Decode a URL's query string into single values."""
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in parsed.values())
    return {k: v[0] for k, v in parsed.items()}


def test_google_calendar_link() -> None:
    event = make_event()
    url = google_calendar_link(event)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "calendar.google.com",
        "/calendar/render",
    )
    q = query(url)
    assert q["action"] == "TEMPLATE"
    assert q["text"] == "Chișinău workshop"
    # 14:00-16:30 WEST (+1) in May = 13:00-15:30 UTC.
    assert q["dates"] == "20260514T130000Z/20260514T153000Z"
    assert q["details"] == event.description + "\n\nhttps://lists.example.org/events/12"
    assert q["location"] == "Rua Augusta 10, Lisboa"
    assert q["ctz"] == "Europe/Lisbon"
    # Encoded, not raw: no spaces, newlines or non-ASCII in the URL itself.
    assert url.isascii()
    assert " " not in url and "\n" not in url
    assert "Chi%C8%99in%C4%83u%20workshop" in url


def test_outlook_calendar_link() -> None:
    event = make_event()
    url = outlook_calendar_link(event)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "outlook.office.com",
        "/calendar/0/deeplink/compose",
    )
    q = query(url)
    assert q["subject"] == "Chișinău workshop"
    assert q["startdt"] == "2026-05-14T13:00:00Z"
    assert q["enddt"] == "2026-05-14T15:30:00Z"
    assert q["body"] == event.description + "\n\nhttps://lists.example.org/events/12"
    assert q["location"] == "Rua Augusta 10, Lisboa"
    assert q["path"] == "/calendar/action/compose"
    assert q["rru"] == "addevent"
    assert url.isascii()
    assert " " not in url and "\n" not in url


def test_links_omit_empty_location_and_do_not_repeat_url() -> None:
    event = make_event(location="", description="See https://lists.example.org/events/12")
    g = query(google_calendar_link(event))
    o = query(outlook_calendar_link(event))
    assert "location" not in g and "location" not in o
    assert g["details"] == o["body"] == "See https://lists.example.org/events/12"


def test_links_escape_reserved_characters() -> None:
    event = make_event(title="Q&A: 50% off + free=beer #1?", url="", description="a&b=c")
    g = query(google_calendar_link(event))
    o = query(outlook_calendar_link(event))
    assert g["text"] == o["subject"] == "Q&A: 50% off + free=beer #1?"
    assert g["details"] == o["body"] == "a&b=c"


# --- validation ----------------------------------------------------------------------------


def test_naive_start_rejected() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        make_event(start=datetime(2026, 5, 14, 14, 0))


def test_naive_end_rejected() -> None:
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        make_event(end=datetime(2026, 5, 14, 16, 0))


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(minutes=-1)])
def test_end_not_after_start_rejected(delta: timedelta) -> None:
    start = datetime(2026, 5, 14, 14, 0, tzinfo=LISBON)
    with pytest.raises(ValueError, match="must be after start"):
        make_event(start=start, end=start + delta)


@pytest.mark.parametrize("zone", ["Europe/Atlantis", "", "../etc/passwd", "not a zone"])
def test_unknown_event_zone_rejected(zone: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        make_event(timezone=zone)


def test_unknown_display_zone_rejected() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        local_times(make_event(), "Mars/Olympus")


def test_naive_dtstamp_rejected() -> None:
    with pytest.raises(ValueError, match="dtstamp must be timezone-aware"):
        invitation_ics(make_event(), dtstamp=datetime(2026, 3, 1, 12, 0))


def test_unsupported_method_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported METHOD"):
        invitation_ics(make_event(), method="REPLY", dtstamp=DTSTAMP)  # type: ignore[arg-type]


def test_dtstamp_in_other_zone_is_written_as_utc() -> None:
    stamp = datetime(2026, 3, 1, 14, 30, tzinfo=ZoneInfo("Europe/Chisinau"))
    data = invitation_ics(make_event(), dtstamp=stamp)
    assert b"DTSTAMP:20260301T123000Z\r\n" in data
