"""Every kind of mail reaches a member in their language: no English fixed text, the right
``lang`` and ``Content-Language``, dates and times in that locale.

Each case runs the real service (registration mails, announcement, digest, the event mails),
drains the outbox through a capturing transport and reads the messages the member received.
Content written by staff is language-neutral here (names of places), so that any English left
in a mail is fixed text that the catalogue should have translated.
"""

from __future__ import annotations

import email.policy
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date

from mailer.clock import FrozenClock
from mailer.transport import CaptureTransport
from subscribers.content import campaigns, digests, mails, news
from subscribers.core.db import transaction
from subscribers.core.models import MailingList, Member
from subscribers.invitations import events, reminders, rsvp
from subscribers.runtime import Runtime
from tests.i18n.languages import (
    TRANSLATED,
    english_left,
    html_lang,
    member_of,
    need_catalogue,
    visible_text,
)

LISBON = ZoneInfo("Europe/Lisbon")
START = datetime(2027, 3, 28, 9, 0, tzinfo=LISBON)  # a Sunday in March, after the DST change


def invited_event(rt: Runtime) -> int:
    """An event on "aurora" (language-neutral words) with everyone on the list invited."""
    spec = events.EventSpec(
        list_slug="aurora",
        title="Aurora 2027",
        start=START,
        end=START + timedelta(hours=3),
        timezone="Europe/Lisbon",
        description="Lisboa · Kraków · Sarajevo",
        location="Sala Aurora",
        online_url="https://meet.example.org/aurora",
        capacity=30,
    )
    with transaction(rt.new_session()) as s:
        event = events.create_event(s, rt.kit, spec, now=rt.clock())
        assert event.id is not None
        events.invite(s, rt.kit, event.id, now=rt.clock())
        return event.id


def _answer_yes(rt: Runtime, event_id: int, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        rsvp.respond(s, rt.kit, event_id, s.merge(member), "yes", now=rt.clock())


def confirm(rt: Runtime, lst: MailingList, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        mails.queue_confirmation(s, rt.kit, s.merge(member), now=rt.clock())


def already_member(rt: Runtime, lst: MailingList, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        mails.queue_already_member(s, rt.kit, s.merge(member), now=rt.clock())


def welcome(rt: Runtime, lst: MailingList, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        mails.queue_welcome(s, rt.kit, s.merge(member), [s.merge(lst)], now=rt.clock())


def announcement(rt: Runtime, lst: MailingList, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        text = campaigns.Announcement("aurora", "Aurora 2027", "Lisboa · Kraków · Sarajevo")
        campaigns.create_announcement(s, rt.kit, text, now=rt.clock())


def digest(rt: Runtime, lst: MailingList, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        for title in ("Aurora", "Kraków"):
            news.add(s, "aurora", title=title, body="Sarajevo · Lisboa", link=None, now=rt.clock())
        digests.create_digest(s, rt.kit, "aurora", now=rt.clock())


def invitation(rt: Runtime, lst: MailingList, member: Member) -> None:
    invited_event(rt)


def rsvp_confirmation(rt: Runtime, lst: MailingList, member: Member) -> None:
    _answer_yes(rt, invited_event(rt), member)


def reminder(rt: Runtime, lst: MailingList, member: Member) -> None:
    event_id = invited_event(rt)
    _answer_yes(rt, event_id, member)
    assert isinstance(rt.clock, FrozenClock)
    rt.clock.set(START - timedelta(hours=23, minutes=59))
    with transaction(rt.new_session()) as s:
        assert reminders.send_due_reminders(s, rt.clock(), kit=rt.kit) == 1
    assert event_id


def event_update(rt: Runtime, lst: MailingList, member: Member) -> None:
    event_id = invited_event(rt)
    with transaction(rt.new_session()) as s:
        spec = events.spec_of(s, events.get(s, event_id))
        later = timedelta(days=1)
        moved = replace(spec, start=spec.start + later, end=spec.end + later)
        events.update_event(s, rt.kit, event_id, moved, now=rt.clock())


def event_cancel(rt: Runtime, lst: MailingList, member: Member) -> None:
    event_id = invited_event(rt)
    with transaction(rt.new_session()) as s:
        events.cancel_event(s, rt.kit, event_id, now=rt.clock(), reason="Sarajevo")


Scenario = Callable[[Runtime, MailingList, Member], None]
KINDS: dict[str, Scenario] = {
    "confirm": confirm,
    "already_member": already_member,
    "welcome": welcome,
    "announcement": announcement,
    "digest": digest,
    "invitation": invitation,
    "reminder": reminder,
    "event_update": event_update,
    "event_cancel": event_cancel,
    "rsvp_confirmation": rsvp_confirmation,
}
EVENT_KINDS = {"invitation", "reminder", "event_update", "event_cancel", "rsvp_confirmation"}


def received(rt: Runtime, captured: CaptureTransport, address: str) -> list[EmailMessage]:
    rt.sender.drain()
    found = []
    for mail in captured.messages:
        if mail.envelope.rcpt_to == address:
            message = email.message_from_bytes(mail.data, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def readable(message: EmailMessage) -> tuple[str, str]:
    """(the whole text a reader sees: subject, text part, HTML part; the raw HTML)."""
    text = message.get_body(preferencelist=("plain",))
    markup = message.get_body(preferencelist=("html",))
    assert text is not None and markup is not None
    raw_html = str(markup.get_content())
    seen = "\n".join([str(message["Subject"]), str(text.get_content()), visible_text(raw_html)])
    return seen, raw_html


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("language", TRANSLATED)
def test_each_mail_is_in_the_members_language(
    crt: Runtime, captured: CaptureTransport, language: str, kind: str
) -> None:
    need_catalogue(language)
    lst, member = member_of(crt, language)
    KINDS[kind](crt, lst, member)
    messages = received(crt, captured, member.email or "")
    assert messages, f"no {kind} mail reached the member"
    for message in messages:
        seen, raw_html = readable(message)
        assert message["Content-Language"] == language
        assert html_lang(raw_html) == language
        assert english_left(seen, language) == []
        if kind in EVENT_KINDS:
            # Day and month named in the member's language, never in English.
            assert format_date(START, "MMMM", locale=language) in seen
            assert "March" not in seen and "Sunday" not in seen


def test_an_english_member_still_gets_english(crt: Runtime, captured: CaptureTransport) -> None:
    lst, member = member_of(crt, "en")
    invitation(crt, lst, member)
    (message,) = received(crt, captured, member.email or "")
    seen, raw_html = readable(message)
    assert message["Content-Language"] == "en" and html_lang(raw_html) == "en"
    assert "Sunday 28 March 2027" in seen


def test_a_language_without_its_catalogue_falls_back_to_english_and_says_so(
    crt: Runtime, captured: CaptureTransport
) -> None:
    # "xx" stands for a language whose catalogue is not written yet: English, marked English.
    lst, member = member_of(crt, "en")
    with transaction(crt.new_session()) as s:
        s.merge(member).language = "xx"
    welcome(crt, lst, member)
    (message,) = received(crt, captured, member.email or "")
    assert message["Content-Language"] == "en"
    assert html_lang(readable(message)[1]) == "en"
