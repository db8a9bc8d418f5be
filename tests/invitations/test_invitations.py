"""Invitations, updates and cancellations as members receive them over real SMTP.

The calendar part is parsed back with icalendar; times are checked in the event's zone and in
each member's, across the European DST change of 28 March 2027.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from subscribers.core import times
from subscribers.core.db import transaction
from subscribers.core.errors import Conflict, InvalidInput
from subscribers.invitations import events
from subscribers.people.audience import Segment
from subscribers.runtime import Runtime
from tests.invitations.helpers import (
    JOIN_URL,
    LISBON,
    bodies_of,
    campaigns,
    create,
    event_row,
    html_of,
    invite,
    network,
    prose_of,
    recipients_of,
    rsvp_links,
    spec,
    statuses,
    text_of,
)
from tests.smtp_server import ScriptedSMTP


def sent_to(smtp: ScriptedSMTP, address: str) -> list:  # type: ignore[type-arg]
    return [m.message for m in smtp.messages if m.rcpt_tos == [address]]


def vevent(calendar: Calendar):  # type: ignore[no-untyped-def]
    [event] = calendar.walk("VEVENT")
    return event


def test_invitation_carries_a_calendar_part_with_the_fields(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    network(session, rt, "ana")
    event_id = create(rt, location="Rua Augusta 10, Lisboa")
    assert invite(rt, event_id) == 1
    rt.sender.drain()
    [message] = sent_to(smtp, "ana@example.org")

    assert message["Subject"] == "Invitation: Transnational workshop"
    assert message["List-Unsubscribe"]
    calendar = Calendar.from_ical(
        next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(
            decode=True
        )
    )
    assert calendar["METHOD"] == "PUBLISH"  # add to calendar, no iTIP replies
    entry = vevent(calendar)
    event = event_row(rt, event_id)
    assert str(entry["UID"]) == event.uid and event.uid.endswith("@newsletter.test")
    assert entry["SEQUENCE"] == 0
    assert entry.decoded("DTSTAMP") == rt.clock()
    assert "mailto:news@network.test" in str(entry["ORGANIZER"]).lower()
    assert entry["ORGANIZER"].params["CN"] == "Frontline Practitioners Network"  # the list's name
    assert entry.decoded("DTSTART") == datetime(2026, 12, 10, 14, 0, tzinfo=LISBON)
    assert entry["DTSTART"].params["TZID"] == "Europe/Lisbon"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Lisbon"]
    assert str(entry["LOCATION"]) == "Rua Augusta 10, Lisboa"
    # The description is the Markdown as plain text: calendars show no markup.
    assert str(entry["DESCRIPTION"]) == "Practitioners compare real cases in small rooms."
    # Members only: the join link is neither in the calendar nor anywhere in the invitation.
    assert JOIN_URL not in bodies_of(message) and "meet.network.test" not in bodies_of(message)

    text, html = text_of(message), html_of(message)
    assert set(rsvp_links(message)) == {"yes", "no", "maybe"}
    assert "calendar.google.com/calendar/render" in text and "outlook.office.com" in text
    assert "calendar.google.com" in html
    # Same zone: the time once, then the end.
    assert "Starts: Thursday 10 December 2026, 14:00 (Lisbon time) Ends:" in prose_of(message)


def test_members_see_their_own_time_across_the_dst_change(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    """28 March 2027: Europe springs forward at 01:00 UTC, Moldova at 00:00 UTC (02:00 local).

    A 09:00 Lisbon workshop given as a naive wall-clock time is 08:00 UTC (WEST, not WET).
    """
    rt.clock.set(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    network(session, rt)
    start = times.parse_time("2027-03-28T09:00", "Europe/Lisbon", field="start")
    event_id = create(rt, start=start, online_url="")
    assert event_row(rt, event_id).start_at == datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    invite(rt, event_id)
    rt.sender.drain()

    lisbon = prose_of(sent_to(smtp, "ana@example.org")[0])
    warsaw = prose_of(sent_to(smtp, "piotr@example.org")[0])
    chisinau = prose_of(sent_to(smtp, "ion@example.org")[0])
    event_time = "Starts: Sunday 28 March 2027, 09:00 (Lisbon time)"
    assert f"{event_time} Ends:" in lisbon  # same zone: no second time
    assert f"{event_time} · 10:00 in Warsaw, your time Ends:" in warsaw  # CEST, UTC+2
    assert f"{event_time} · 11:00 in Chișinău, your time Ends:" in chisinau  # EEST, UTC+3
    assert "Ends: Sunday 28 March 2027, 12:00 (Lisbon time) · 13:00 in Warsaw" in warsaw
    html = html_of(sent_to(smtp, "ion@example.org")[0])
    assert "11:00 in Chișinău, your time" in html

    # The calendar says the same instant, whatever zone the client is in.
    message = sent_to(smtp, "piotr@example.org")[0]
    entry = vevent(
        Calendar.from_ical(
            next(p for p in message.walk() if p.get_content_type() == "text/calendar").get_payload(
                decode=True
            )
        )
    )
    assert entry.decoded("DTSTART").astimezone(ZoneInfo("Europe/Warsaw")).hour == 10


def test_night_session_shows_the_other_date_and_both_sides_of_the_change(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    """00:30 UTC on 28 March 2027: still winter time in Lisbon and Warsaw, summer in Chișinău."""
    rt.clock.set(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    network(session, rt)
    start = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)
    # (Aware arithmetic in one zone is wall-clock arithmetic: add hours in UTC.)
    end = (start + timedelta(hours=3)).astimezone(LISBON)
    event_id = create(rt, start=start.astimezone(LISBON), end=end, online_url="")
    invite(rt, event_id)
    rt.sender.drain()
    warsaw = prose_of(sent_to(smtp, "piotr@example.org")[0])
    chisinau = prose_of(sent_to(smtp, "ion@example.org")[0])
    assert "Starts: Sunday 28 March 2027, 00:30 (Lisbon time) · 01:30 in Warsaw" in warsaw
    assert "(Lisbon time) · 03:30 in Chișinău, your time" in chisinau
    # Three hours later, 03:30 UTC: 04:30 WEST in Lisbon, 06:30 EEST in Chișinău.
    assert "Ends: Sunday 28 March 2027, 04:30 (Lisbon time) · 06:30 in Chișinău" in chisinau


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        times.parse_time("2027-03-28T01:30", "Europe/Lisbon", field="start")
    assert times.parse_time("2027-03-28T01:30+00:00", "Europe/Lisbon", field="start").hour == 1


def test_invite_a_segment_then_the_rest_invites_nobody_twice(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt)
    assert invite(rt, event_id, Segment.parse("country=PL")) == 1
    assert invite(rt, event_id) == 2  # the others only
    assert invite(rt, event_id) == 0  # nobody new: no empty campaign
    assert len(campaigns(rt, "invitation")) == 2
    assert sorted(recipients_of(rt, "invitation")) == [
        "ana@example.org",
        "ion@example.org",
        "piotr@example.org",
    ]
    assert set(statuses(rt, event_id).values()) == {"invited"}


def test_inviting_again_a_multilingual_audience_all_invited_already_is_a_quiet_zero(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    """The second invitation's campaign has a version per language; dropping it, as nobody is
    new, drops those too (it failed on the database's foreign key, a traceback in the CLI)."""
    _, (ana, _piotr, _ion) = network(session, rt)
    ana.language = "pt"
    session.add(ana)
    session.commit()
    event_id = create(rt)
    assert invite(rt, event_id) == 3
    assert invite(rt, event_id) == 0
    assert len(campaigns(rt, "invitation")) == 1


def test_update_keeps_the_uid_raises_sequence_and_skips_those_who_declined(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    from tests.invitations.helpers import answer

    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "no")
    rt.sender.drain()
    uid = event_row(rt, event_id).uid

    later = datetime(2026, 12, 10, 15, 0, tzinfo=LISBON)
    with transaction(rt.new_session()) as s:
        outcome = events.update_event(
            s, rt.kit, event_id, spec(start=later, location="Rua Augusta 10"), now=rt.clock()
        )
    assert outcome.mailed == 2 and len(outcome.changes) == 3
    rt.sender.drain()
    assert recipients_of(rt, "event_update") == ["ana@example.org", "ion@example.org"]
    [update] = [m for m in sent_to(smtp, "ion@example.org") if m["Subject"].startswith("Updated")]
    entry = vevent(
        Calendar.from_ical(
            next(p for p in update.walk() if p.get_content_type() == "text/calendar").get_payload(
                decode=True
            )
        )
    )
    assert str(entry["UID"]) == uid and entry["SEQUENCE"] == 1
    assert entry.decoded("DTSTART") == later
    text = prose_of(update)
    assert "The event now starts Thursday 10 December 2026, 15:00 (Lisbon time)" in text
    assert "(it was Thursday 10 December 2026, 14:00 (Lisbon time))" in text
    assert "The event now takes place at Rua Augusta 10." in text
    assert set(rsvp_links(update)) == {"yes", "no", "maybe"}
    assert JOIN_URL not in text

    # A second change raises it again; saving without a change of time or place mails nobody.
    with transaction(rt.new_session()) as s:
        again = events.update_event(
            s, rt.kit, event_id, spec(start=later, location="Rua Augusta 12"), now=rt.clock()
        )
        same = events.update_event(
            s,
            rt.kit,
            event_id,
            spec(start=later, location="Rua Augusta 12", title="Workshop (new title)"),
            now=rt.clock(),
        )
    assert again.event.sequence == 2 and same.changes == [] and same.mailed == 0
    assert event_row(rt, event_id).uid == uid and event_row(rt, event_id).sequence == 2


def test_new_join_link_goes_to_those_who_said_yes_only(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    from tests.invitations.helpers import answer

    _, (ana, piotr, _ion) = network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "maybe")
    rt.sender.drain()
    before = len(smtp.messages)
    new_link = "https://meet.network.test/j/other-room"
    with transaction(rt.new_session()) as s:
        events.update_event(s, rt.kit, event_id, spec(online_url=new_link), now=rt.clock())
    rt.sender.drain()
    new = smtp.messages[before:]
    with_link = sorted(m.rcpt_tos[0] for m in new if new_link in bodies_of(m.message))
    assert with_link == ["ana@example.org"]
    assert len(new) == 4  # the update to all three, the new link to the one who said yes


def test_cancel_mails_everyone_invited_a_cancel_calendar_part(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    from tests.invitations.helpers import answer

    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, piotr, "no")
    rt.sender.drain()
    uid = event_row(rt, event_id).uid
    with transaction(rt.new_session()) as s:
        _event, count = events.cancel_event(
            s, rt.kit, event_id, now=rt.clock(), reason="Too few facilitators."
        )
    assert count == 3
    rt.sender.drain()
    for address in ("ana@example.org", "piotr@example.org", "ion@example.org"):
        [cancel] = [m for m in sent_to(smtp, address) if m["Subject"].startswith("Cancelled")]
        part = next(p for p in cancel.walk() if p.get_content_type() == "text/calendar")
        assert part.get_param("method") == "CANCEL"
        calendar = Calendar.from_ical(part.get_payload(decode=True))
        assert calendar["METHOD"] == "CANCEL"
        entry = vevent(calendar)
        assert str(entry["UID"]) == uid and entry["SEQUENCE"] == 1
        assert entry["STATUS"] == "CANCELLED"
        assert "Too few facilitators." in text_of(cancel)
    with transaction(rt.new_session()) as s, pytest.raises(Conflict):
        events.invite(s, rt.kit, event_id, now=rt.clock())
    with transaction(rt.new_session()) as s, pytest.raises(Conflict):
        events.update_event(s, rt.kit, event_id, spec(), now=rt.clock())


def test_cancel_stops_invitations_not_yet_sent(rt: Runtime, session, smtp: ScriptedSMTP) -> None:
    network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)  # queued, not drained
    with transaction(rt.new_session()) as s:
        events.cancel_event(s, rt.kit, event_id, now=rt.clock())
    rt.sender.drain()
    subjects = {m.message["Subject"] for m in smtp.messages}
    assert subjects == {"Cancelled: Transnational workshop"}
    [invitation] = campaigns(rt, "invitation")
    assert invitation.status == "cancelled"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "  "}, "title"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"online_url": "javascript:alert(1)"}, "online_url"),
        ({"online_url": "https://x.test/a b"}, "online_url"),
        ({"capacity": 0}, "capacity"),
        ({"location": "Line one\r\nBcc: x@evil.test"}, "location"),
        ({"end": datetime(2026, 12, 10, 13, 0, tzinfo=LISBON)}, "end"),
        ({"start": datetime(2026, 11, 1, 9, 0, tzinfo=UTC)}, "start"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    rt: Runtime, session, overrides: dict, field: str
) -> None:
    network(session, rt, "ana")
    if field == "start":
        overrides["end"] = overrides["start"] + timedelta(hours=1)
    with pytest.raises(InvalidInput) as caught, transaction(rt.new_session()) as s:
        events.create_event(s, rt.kit, spec(**overrides), now=rt.clock())
    assert caught.value.field == field
    with rt.new_session() as s:
        assert events.list_events(s) == []


def test_dates_are_written_with_cldr_names_not_the_servers_c_locale() -> None:
    from subscribers.invitations.event_mails import _wall

    morning = datetime(2027, 3, 28, 9, 0, tzinfo=ZoneInfo("Europe/Chisinau"))
    assert _wall(morning) == "Sunday 28 March 2027, 09:00"
    # Ready for mail in the member's language: Polish months take the genitive.
    assert _wall(morning, "pl") == "niedziela 28 marca 2027, 09:00"
