"""Wording a person would write: how long until the start, where, the join link, one name."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from subscribers.core.db import transaction
from subscribers.core.models import MailingList
from subscribers.invitations.event_mails import Phrases, lead_in_units, says_online
from subscribers.invitations.reminders import send_due_reminders
from subscribers.runtime import Runtime
from tests.invitations.helpers import (
    answer,
    campaigns,
    create,
    event_row,
    html_of,
    invite,
    network,
    parse,
    prose_of,
)
from tests.mailcraft.conftest import KINDS, Received
from tests.smtp_server import ScriptedSMTP

_HEADER_CELL = re.compile(r'class="header"[^>]*>\s*(?:<img [^>]*alt="([^"]*)"[^>]*>|([^<]*?))\s*<')


def _parsed(received: Received) -> EmailMessage:
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


# -- how long until the start ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "said"),
    [
        (181, ("hours", 3)),  # a reminder run a minute late: not "181 minutes"
        (180, ("hours", 3)),
        (61, ("hours", 1)),
        (55, ("hours", 1)),
        (30, ("minutes", 30)),
        (90, ("minutes", 90)),  # an hour and a half is said in minutes
        (150, ("hours", 3)),  # a late reminder: the nearest hour
        (1441, ("hours", 24)),
        (2000, ("hours", 33)),
        (2881, ("days", 2)),
        (7 * 1440 + 3, ("days", 7)),
    ],
)
def test_the_lead_is_said_in_the_unit_a_person_would_use(
    minutes: int, said: tuple[str, int]
) -> None:
    assert lead_in_units(minutes) == said


def test_a_reminder_a_minute_late_says_3_hours(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    _, [ana] = network(session, rt, "ana")
    event_id = create(rt, reminders=(240, 60))
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    # The 4-hour reminder was missed (the worker was down): the one sent says what is left.
    rt.clock.set(event_row(rt, event_id).start_at - timedelta(minutes=181))
    with transaction(rt.new_session()) as s:
        assert send_due_reminders(s, rt.clock(), kit=rt.kit) == 1
    [reminder] = campaigns(rt, "reminder")
    assert reminder.subject == "Reminder: Transnational workshop starts in 3 hours"


# The catalogues' plural forms, chosen by each language's own rule (CLDR via Babel).
PLURALS = {
    "pt": {1: "1 hora", 3: "3 horas", 22: "22 horas"},
    "es": {1: "1 hora", 3: "3 horas", 22: "22 horas"},
    "pl": {1: "1 godzinę", 3: "3 godziny", 5: "5 godzin", 22: "22 godziny", 12: "12 godzin"},
    "ro": {1: "1 oră", 3: "3 ore", 20: "20 de ore", 22: "22 de ore"},
    "sk": {1: "1 hodinu", 3: "3 hodiny", 5: "5 hodín", 22: "22 hodín"},
    "bs": {1: "1 sat", 3: "3 sata", 5: "5 sati", 21: "21 sat", 22: "22 sata"},
}


@pytest.mark.parametrize("language", sorted(PLURALS))
def test_the_lead_takes_the_plural_form_of_each_language(rt: Runtime, language: str) -> None:
    phrases = Phrases(rt.kit.in_language(language))
    said = {hours: phrases.lead(hours * 60) for hours in PLURALS[language]}
    assert said == PLURALS[language]


# -- where -----------------------------------------------------------------------------------


def test_a_venue_that_says_online_is_recognised_in_the_network_languages() -> None:
    for place in ("Online (Zoom)", "Zoom", "on-line", "Microsoft Teams", "En línea (Jitsi)"):
        assert says_online(place, "Online"), place
    assert says_online("Sesión en directo", "Sesión en directo")  # the reader's own word
    for place in ("Rua Augusta 10, Lisboa", "Meeting room 2", "Zoomorphic Hall"):
        assert not says_online(place, "Online"), place


def test_an_online_venue_is_said_once(rt: Runtime, session, smtp: ScriptedSMTP) -> None:  # type: ignore[no-untyped-def]
    _, [ana] = network(session, rt, "ana")
    event_id = create(rt, location="Online (Zoom)")
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    rt.sender.drain()
    invitation, confirmation = (parse(m.data) for m in smtp.messages)
    for message in (invitation, confirmation):
        assert "and online" not in prose_of(message) and "and online" not in html_of(message)
    assert "Where: Online (Zoom) (the link is sent to those who accept)" in prose_of(invitation)
    assert "Where: Online (Zoom) Your link to join:" in prose_of(confirmation)


def test_a_venue_and_a_link_are_both_said(every_kind: dict[str, Received]) -> None:
    invitation = prose_of(_parsed(every_kind["invitation"]))
    assert "Where: Rua Augusta 10, Lisboa, and online (the link is sent to those who" in invitation
    reminder = prose_of(_parsed(every_kind["reminder"]))
    assert "Where: Rua Augusta 10, Lisboa, and online Join the event:" in reminder


# -- the join link and the calendar ----------------------------------------------------------


def test_the_shared_join_link_is_not_called_personal(every_kind: dict[str, Received]) -> None:
    for kind in ("rsvp_confirmation", "reminder"):
        message = _parsed(every_kind[kind])
        for body in (prose_of(message), html_of(message)):
            assert "personal" not in body, kind
            assert "Everyone who accepted receives this same link" in body, kind


def test_no_mail_mentions_an_attached_file(every_kind: dict[str, Received]) -> None:
    # The calendar is one text/calendar part the mail program shows, not a file to open.
    for kind in KINDS:
        message = _parsed(every_kind[kind])
        for body in (prose_of(message), html_of(message)):
            assert "invite.ics" not in body and "attached" not in body, kind
    invitation = prose_of(_parsed(every_kind["invitation"]))
    assert "with a button to add the event to your calendar" in invitation


# -- one name --------------------------------------------------------------------------------


def _header_name(message: EmailMessage) -> str:
    match = _HEADER_CELL.search(html_of(message))
    assert match, "no header cell"
    return (match.group(1) or match.group(2)).strip()


def test_the_mail_header_shows_the_name_the_from_shows(every_kind: dict[str, Received]) -> None:
    for kind in KINDS:
        message = _parsed(every_kind[kind])
        shown = message["From"].addresses[0].display_name
        assert _header_name(message) == shown, kind
    assert _header_name(_parsed(every_kind["confirm"])) == "Frontline Network"
    assert _header_name(_parsed(every_kind["invitation"])) == "Frontline Practitioners Network"


def test_a_list_with_its_own_sender_signs_with_that_name(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:  # type: ignore[no-untyped-def]
    lst, [ana] = network(session, rt, "ana")
    with transaction(rt.new_session()) as s:
        row = s.execute(select(MailingList).where(MailingList.id == lst.id)).scalar_one()
        # quoted, as lists.edit stores it
        row.from_address = '"Practitioners, Lisbon" <lisbon@network.test>'
    event_id = create(rt)
    invite(rt, event_id)
    rt.sender.drain()
    [message] = [parse(m.data) for m in smtp.messages]
    assert message["From"].addresses[0].display_name == "Practitioners, Lisbon"
    assert message["From"].addresses[0].addr_spec == "lisbon@network.test"
    assert _header_name(message) == "Practitioners, Lisbon"
