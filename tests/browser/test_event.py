"""An editor creates an event and invites a list; members answer from their mail in a browser.

The whole journey of the events issue through real pages: the staff form, the invitation with
its calendar file, the RSVP page whose button POSTs, the last seat, the waiting list, a seat
freed by a "no" going to the first in line, and the staff page's counts.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from icalendar import Calendar

from subscribers.runtime import Runtime
from tests.browser.conftest import axe_violations, expect, make_staff, sign_in
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

if TYPE_CHECKING:
    from playwright.sync_api import Page

TITLE = "Transnational workshop: breakout rooms"
JOIN_URL = "https://meet.example.org/workshop-7"


def mails_to(smtp: ScriptedSMTP, address: str) -> list[EmailMessage]:
    return [m.message for m in smtp.messages if address in m.rcpt_tos]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def answer_link(rt: Runtime, message: EmailMessage, label: str) -> str:
    """The RSVP link after ``label`` ("Yes, I will attend:") in the mail's text part.

    The text is wrapped at 76 columns, so the link may be on the line after its label.
    """
    prose = " ".join(text_of(message).split())
    base = re.escape(rt.settings.base_url)
    found = re.search(rf"{re.escape(label)} {base}(/events/\d+/rsvp/\S+)", prose)
    assert found, label
    return found.group(1)


def answer(page: Page, path: str, button: str) -> None:
    """Open an RSVP link as a member would (nothing changes yet), then press its button."""
    page.goto(path)
    expect(page.get_by_role("heading", level=1, name=TITLE)).to_be_visible()
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("status")).to_be_visible()


def test_create_invite_answer_wait_and_take_the_freed_seat(
    page: Page, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), email="ana@example.org", name="Ana", lists_=(lst,))
    make_member(
        session, rt.clock(), email="ion@example.org", name="Ion", country="MD", lists_=(lst,)
    )
    sign_in(page, make_staff(rt, "editor"))
    a11y: dict[str, list[str]] = {}
    start = (rt.clock() + timedelta(days=10)).astimezone(ZoneInfo("Europe/Lisbon"))
    start = start.replace(hour=14, minute=0, second=0, microsecond=0)

    page.goto("/admin/events/new")
    page.get_by_label("List", exact=True).select_option("practitioners")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Description (Markdown)").fill("Bring **one case** from your work.")
    page.get_by_label("Starts").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends").fill((start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Time zone of these times").fill("Europe/Lisbon")
    page.get_by_label("Online join link").fill(JOIN_URL)
    page.get_by_label("Seats").fill("1")
    page.get_by_role("button", name="Create event").click()
    expect(page.get_by_role("heading", level=1, name=TITLE)).to_be_visible()
    a11y["event page"] = axe_violations(page)
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator("#confirm-question")).to_contain_text("Invite 2 members of")
    assert rt.sender.drain().sent == 0  # nothing queued before the confirmation
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_role("status").first).to_contain_text("Invitation queued for 2")
    assert rt.sender.drain().sent == 2

    [ana_invite], [ion_invite] = (
        mails_to(smtp, "ana@example.org"),
        mails_to(smtp, "ion@example.org"),
    )
    calendar = next(p for p in ana_invite.walk() if p.get_content_type() == "text/calendar")
    [entry] = Calendar.from_ical(calendar.get_payload(decode=True)).walk("VEVENT")
    assert str(entry["SUMMARY"]) == TITLE
    assert JOIN_URL not in text_of(ana_invite)  # members only: not in the invitation
    assert "Chișinău" in text_of(ion_invite)  # his own time beside the event's

    ana_yes = answer_link(rt, ana_invite, "Yes, I will attend:")
    page.goto(ana_yes)  # a GET (a mail scanner, say) records nothing
    expect(page.get_by_role("button", name="Yes, I will attend")).to_be_visible()
    a11y["answer page"] = axe_violations(page)
    page.get_by_role("button", name="Yes, I will attend").click()
    expect(page.get_by_role("status")).to_contain_text("You are registered")
    a11y["answer recorded"] = axe_violations(page)

    answer(page, answer_link(rt, ion_invite, "Yes, I will attend:"), "Yes, I will attend")
    expect(page.get_by_role("status")).to_contain_text("waiting list")  # the only seat is taken

    assert rt.sender.drain().sent >= 1
    assert JOIN_URL in text_of(mails_to(smtp, "ana@example.org")[-1])  # her confirmation

    answer(page, answer_link(rt, ana_invite, "No, I cannot attend:"), "No, I cannot attend")
    rt.sender.drain()
    promoted = mails_to(smtp, "ion@example.org")[-1]
    assert JOIN_URL in text_of(promoted)  # the freed seat went to the first in line

    page.goto("/admin/events")
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_text("Yes: 1 / 1")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="ion@example.org")
    expect(row).to_contain_text("Attending")
    expect(page.get_by_role("row").filter(has_text="ana@example.org")).to_contain_text(
        "Not attending"
    )
    assert not any(a11y.values()), a11y
