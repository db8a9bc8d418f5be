"""Event mails (invitation, reminder, update, cancellation, RSVP confirmation) end to end.

Each kind is rendered once with markers, personalised for one member, built into a full MIME
message (with the .ics for invitation, update and cancellation) and parsed back strictly.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from mailer.calendar import (
    CalendarEvent,
    Method,
    google_calendar_link,
    invitation_ics,
    outlook_calendar_link,
)
from mailer.compose import Personalised, Personaliser, RenderedMail, render
from mailer.message import Address
from mailer.mime import CalendarPart, MessageLayout, make_message_id
from subscribers.content.templating import mail_environments

BASE = "http://newsletter.test"
SENDER = Address("news@network.test", "Network")
LIST_ID = '"Network" <practitioners.network.test>'
LISBON = ZoneInfo("Europe/Lisbon")
DTSTAMP = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
BRAND = {
    "name": "IN2PREV Frontline Practitioners Network",
    "accent": "#1d4e89",
    "logo_url": None,
    "footer": "Co-funded by the European Union.",
}

CAL_EVENT = CalendarEvent(
    uid="workshop-2026-11@network.test",
    title="Transnational workshop: prevention in practice",
    description=(
        "Practitioners from Lisbon, Warsaw and Chișinău compare real cases in small "
        "breakout rooms, then bring what they learned to a closing plenary."
    ),
    start=datetime(2026, 11, 5, 14, 0, tzinfo=LISBON),
    end=datetime(2026, 11, 5, 17, 0, tzinfo=LISBON),
    timezone="Europe/Lisbon",
    url=f"{BASE}/events/7",
    organizer_name="IN2PREV Frontline Practitioners Network",
    organizer_email="events@network.test",
)


def event_context(**overrides: Any) -> dict[str, Any]:
    """The ``event`` dict the templates receive, built from CAL_EVENT."""
    start, end = CAL_EVENT.local_start, CAL_EVENT.local_end
    event = {
        "title": CAL_EVENT.title,
        "description_html": (
            "<p>Practitioners from <strong>Lisbon, Warsaw and Chișinău</strong> compare real "
            "cases in small breakout rooms of six, each with a facilitator.</p>"
            "<p>A closing plenary gathers what the rooms learned.</p>"
        ),
        "description_text": (
            "Practitioners from Lisbon, Warsaw and Chișinău compare real cases in small "
            "breakout rooms of six, each with a facilitator.\n\n"
            "A closing plenary gathers what the rooms learned."
        ),
        "location": "",
        "start_local": f"{start:%A} {start.day} {start:%B %Y, %H:%M} (Lisbon time)",
        "end_local": f"{end:%A} {end.day} {end:%B %Y, %H:%M} (Lisbon time)",
        "timezone": CAL_EVENT.timezone,
        "has_online": True,
        "capacity_note": "Places are limited to 60 so that every breakout room stays small.",
        "rsvp_deadline": "Friday 30 October 2026",
    }
    event.update(overrides)
    # The "Where:" lines as subscribers.invitations.event_mails phrases them in English.
    place, online = event["location"], event["has_online"]
    later = " (the link is sent to those who accept)"
    both = f"{place}, and online" if place and online else place or ("Online" if online else "")
    event.setdefault("where", both)
    event.setdefault("where_invited", both + later if online else both)
    return event


CALENDAR_LINKS = {
    "google": google_calendar_link(CAL_EVENT),
    "outlook": outlook_calendar_link(CAL_EVENT),
}

KINDS: dict[str, dict[str, Any]] = {
    "invitation": {"calendar_links": CALENDAR_LINKS},
    "reminder": {"lead": "24 hours"},
    "event_update": {
        "calendar_links": CALENDAR_LINKS,
        "changes": [
            "The workshop now starts at 15:00 Lisbon time (16:00 in Warsaw, 17:00 in Chișinău).",
            "A fourth breakout room has been added for probation officers.",
        ],
    },
    "event_cancel": {"reason": "Too few facilitators are available on that day."},
    "rsvp_confirmation": {"status": "yes", "calendar_links": CALENDAR_LINKS},
}
SUBJECTS = {
    "invitation": f"Invitation: {CAL_EVENT.title}",
    "reminder": f"Reminder: {CAL_EVENT.title} starts in 24 hours",
    "event_update": f"Updated: {CAL_EVENT.title}",
    "event_cancel": f"Cancelled: {CAL_EVENT.title}",
    "rsvp_confirmation": f"You are registered: {CAL_EVENT.title}",
}
# Kinds that carry the .ics, with its iTIP method.
CALENDAR_METHOD: dict[str, Method] = {
    "invitation": "PUBLISH",
    "event_update": "PUBLISH",
    "event_cancel": "CANCEL",
}
RSVP_KINDS = ("invitation", "event_update")
JOIN_KINDS = ("reminder", "rsvp_confirmation")

NAME = "<b>Ana</b> Ștefan"
JOIN_URL = "https://meet.network.test/j/in2prev-5nov?pwd=s3cr3t&room=main"
LINKS = {
    "manage_url": f"{BASE}/manage/m4n4g3.t0k3n",
    "unsubscribe_url": f"{BASE}/unsubscribe/uns.t0k3n?list=3&x=1",
    "rsvp_yes_url": f"{BASE}/rsvp/rsvp.t0k3n?answer=yes&via=mail",
    "rsvp_no_url": f"{BASE}/rsvp/rsvp.t0k3n?answer=no&via=mail",
    "rsvp_maybe_url": f"{BASE}/rsvp/rsvp.t0k3n?answer=maybe&via=mail",
    "join_url": JOIN_URL,
    "local_time": "15:00 (Warsaw)",
}
RSVP_FIELDS = ("rsvp_yes_url", "rsvp_no_url", "rsvp_maybe_url")


@pytest.fixture(scope="module")
def environments() -> tuple[Any, Any]:
    return mail_environments()


def render_kind(
    environments: tuple[Any, Any], kind: str, *, event: dict[str, Any] | None = None, **extra: Any
) -> RenderedMail:
    html_env, text_env = environments
    context = {
        "base_url": BASE,
        "brand": BRAND,
        "event": event or event_context(),
        **KINDS[kind],
        **extra,
    }
    return render(html_env, text_env, kind, context, base_url=BASE)


def fill(rendered: RenderedMail) -> Personalised:
    return Personaliser(rendered).fill({"name": NAME, **LINKS})


def build_message(kind: str, rendered: RenderedMail, bodies: Personalised) -> EmailMessage:
    calendar = None
    if kind in CALENDAR_METHOD:
        method = CALENDAR_METHOD[kind]
        ics = invitation_ics(CAL_EVENT, method=method, dtstamp=DTSTAMP)
        calendar = CalendarPart(ics, method)
    layout = MessageLayout(
        subject=rendered.subject, sender=SENDER, list_id=LIST_ID, calendar=calendar
    )
    data = layout.build(
        to=Address("ana@example.org", "Ana Ștefan"),
        bodies=bodies,
        message_id=make_message_id(7, "network.test"),
        date=DTSTAMP,
        unsubscribe_url=LINKS["unsubscribe_url"],
    )
    message = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(message, EmailMessage)
    return message


def parts_by_type(message: EmailMessage) -> dict[str, str]:
    """Decoded text of every leaf part, keyed by content type (the .ics attachment excluded)."""
    found: dict[str, str] = {}
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        assert isinstance(part, EmailMessage)
        content = part.get_content()
        found[part.get_content_type()] = content.decode() if isinstance(content, bytes) else content
    return found


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def in_html(url: str) -> str:
    return f'href="{url.replace("&", "&amp;")}"'


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_builds_a_complete_message(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    assert rendered.subject == SUBJECTS[kind]
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.preheader and "@@" not in rendered.preheader

    message = build_message(kind, rendered, fill(rendered))
    assert str(message["Subject"]) == SUBJECTS[kind]
    parts = parts_by_type(message)
    expected = {"text/plain", "text/html"}
    if kind in CALENDAR_METHOD:
        expected.add("text/calendar")
        calendar = Calendar.from_ical(parts["text/calendar"])
        assert calendar["METHOD"] == CALENDAR_METHOD[kind]
    # One calendar at most, in the alternative: no application/ics attachment beside it.
    assert message.get_content_type() == "multipart/alternative"
    assert list(message.iter_attachments()) == []
    assert set(parts) == expected

    text, html = parts["text/plain"], parts["text/html"]
    # (The text part is wrapped at 76 columns; a title may run across a line break.)
    assert CAL_EVENT.title in " ".join(text.split()) and CAL_EVENT.title in html
    for body in (text, html):
        assert "@@" not in body
        assert "_(" not in body and "{{" not in body and "{%" not in body
        assert "%(" not in body
    links = hrefs(html)
    assert links and all(link.startswith(("http://", "https://")) for link in links), links
    assert [link for link in links if link.count("://") > 1] == []
    assert in_html(LINKS["manage_url"]) in html and LINKS["manage_url"] in text
    assert in_html(LINKS["unsubscribe_url"]) in html and LINKS["unsubscribe_url"] in text


@pytest.mark.parametrize("kind", list(KINDS))
def test_names_are_escaped_in_html_and_plain_in_text(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    bodies = fill(rendered)
    assert "<b>Ana</b>" not in bodies.html
    assert "Hello &lt;b&gt;Ana&lt;/b&gt; Ștefan," in bodies.html
    assert f"Hello {NAME}," in bodies.text


@pytest.mark.parametrize("kind", RSVP_KINDS)
def test_rsvp_links_are_in_both_parts(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    parts = parts_by_type(build_message(kind, rendered, fill(rendered)))
    for field in RSVP_FIELDS:
        assert in_html(LINKS[field]) in parts["text/html"], field
        assert LINKS[field] in parts["text/plain"], field


@pytest.mark.parametrize("kind", RSVP_KINDS)
def test_calendar_links_are_in_both_parts(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    bodies = fill(rendered)
    for url in CALENDAR_LINKS.values():
        assert in_html(url) in bodies.html
        assert url in bodies.text


@pytest.mark.parametrize("kind", list(KINDS))
def test_join_link_only_where_it_belongs(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    parts = parts_by_type(build_message(kind, rendered, fill(rendered)))
    html, text = parts["text/html"], parts["text/plain"]
    join_html = JOIN_URL.replace("&", "&amp;")
    if kind in JOIN_KINDS:
        assert "join_url" in rendered.fields
        assert in_html(JOIN_URL) in html and JOIN_URL in text
    else:
        # Not even a marker: the invitation goes to everyone, accepted or not.
        assert "join_url" not in rendered.fields
        assert join_html not in html and JOIN_URL not in html and JOIN_URL not in text
        assert "meet.network.test" not in html + text
    if kind in CALENDAR_METHOD:
        assert "meet.network.test" not in parts["text/calendar"]


@pytest.mark.parametrize("status", ["waiting", "no", "maybe"])
def test_rsvp_confirmation_gives_the_join_link_only_to_a_yes(environments, status: str) -> None:
    rendered = render_kind(environments, "rsvp_confirmation", status=status)
    assert "join_url" not in rendered.fields
    bodies = fill(rendered)
    assert "meet.network.test" not in bodies.html + bodies.text
    assert CAL_EVENT.title in rendered.subject and "\n" not in rendered.subject
    assert "@@" not in bodies.html + bodies.text
    assert "_(" not in bodies.html + bodies.text


def test_in_person_event_shows_the_place_and_no_join_button(environments) -> None:
    event = event_context(location="Rua Augusta 10, Lisboa", has_online=False)
    reminder = fill(render_kind(environments, "reminder", event=event))
    assert "Rua Augusta 10, Lisboa" in reminder.html and "Rua Augusta 10, Lisboa" in reminder.text
    assert JOIN_URL not in reminder.text and "meet.network.test" not in reminder.html
    invitation = fill(render_kind(environments, "invitation", event=event))
    assert "Where: Rua Augusta 10, Lisboa\n" in invitation.text
    assert "online" not in invitation.text.split("Where:")[1].splitlines()[0]


def test_optional_fields_may_be_empty(environments) -> None:
    event = event_context(capacity_note="", rsvp_deadline="")
    del event["rsvp_deadline"]
    bodies = fill(render_kind(environments, "invitation", event=event))
    assert "Please answer by" not in bodies.text and "Please answer by" not in bodies.html
    bodies = fill(render_kind(environments, "event_cancel", reason=""))
    assert "We apologise" in bodies.text


@pytest.mark.parametrize("kind", list(KINDS))
def test_event_title_is_escaped_once_and_subject_stays_plain(environments, kind: str) -> None:
    title = "Workshop <online> & breakout rooms"
    rendered = render_kind(environments, kind, event=event_context(title=title))
    assert title in rendered.subject
    assert "Workshop &lt;online&gt; &amp; breakout rooms" in rendered.html
    assert "<online>" not in rendered.html and "&amp;lt;" not in rendered.html
    assert title in rendered.text
