"""Issue 12.11: the answers table marks members who left the list or cannot be mailed, and an
editor can give their seat to the waiting list (the first in line moves up and is mailed)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer import outbox
from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry, Member
from subscribers.people import preferences
from subscribers.runtime import Runtime
from tests.invitations.helpers import (
    answer,
    create,
    invite,
    network,
    recipients_of,
    statuses,
    text_of,
)
from tests.invitations.test_admin_events import signed_in, submit
from tests.smtp_server import ScriptedSMTP


@pytest.fixture
def full_event(rt: Runtime, session) -> tuple[int, list[Member]]:  # type: ignore[no-untyped-def]
    """One seat: Ana holds it, Piotr waits for it, Ion has not answered."""
    _lst, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt, capacity=1)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "yes")
    assert statuses(rt, event_id) == {ana.id: "yes", piotr.id: "waiting", ion.id: "invited"}
    return event_id, [ana, piotr, ion]


def unsubscribe(rt: Runtime, member: Member, list_id: int | None = None) -> None:
    with transaction(rt.new_session()) as s:
        preferences.unsubscribe(
            s, s.get(Member, member.id), now=rt.clock(), list_id=list_id
        )  # fmt: skip


def suppress(rt: Runtime, member: Member, reason: str) -> None:
    with transaction(rt.new_session()) as s:
        outbox.suppress(s, member.email or "", reason=reason, now=rt.clock())


def row_of(page: str, member: Member) -> str:
    found = re.search(rf"<tr[^>]*><td>{member.name}.*?</tr>", page, re.DOTALL)
    assert found, member.name
    return found.group(0)


def release(client: FlaskClient, event_id: int, member: Member):  # type: ignore[no-untyped-def]
    return submit(
        client,
        f"/admin/events/{event_id}/rsvps/{member.id}/release",
        f"/admin/events/{event_id}",
    )


def test_a_member_who_left_is_marked_and_their_seat_goes_to_the_first_in_line(
    app: Flask, rt: Runtime, smtp: ScriptedSMTP, full_event: tuple[int, list[Member]]
) -> None:
    event_id, (ana, piotr, ion) = full_event
    editor = signed_in(app, rt, "editor")
    page = editor.get(f"/admin/events/{event_id}").text
    assert 'class="badge"' not in page and "departed-note" not in page

    unsubscribe(rt, ana, list_id=1)  # leaves the event's list (and so, her only one)
    page = editor.get(f"/admin/events/{event_id}").text
    assert "Left the list" in row_of(page, ana) and "Release the seat" in row_of(page, ana)
    assert 'class="badge"' not in row_of(page, piotr) + row_of(page, ion)
    assert 'id="departed-note"' in page

    before = recipients_of(rt, "rsvp_confirmation")
    done = release(editor, event_id, ana)
    assert done.status_code == 302
    assert statuses(rt, event_id) == {ana.id: "no", piotr.id: "yes", ion.id: "invited"}
    # Piotr is told he has the seat: the mail every promotion sends, and only to him.
    assert recipients_of(rt, "rsvp_confirmation")[len(before) :] == ["piotr@example.org"]
    rt.sender.drain()
    (mail,) = [m.message for m in smtp.messages if m.rcpt_tos == ["piotr@example.org"]][-1:]
    assert "a place has become free" in text_of(mail)
    shown = editor.get(f"/admin/events/{event_id}").text
    assert "The seat of Ana Sousa went to Piotr Nowak" in shown
    assert "Release the seat" not in shown  # Ana holds nothing now
    with transaction(rt.new_session()) as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "event.seat_release")
        ).scalar_one()
    assert entry.actor == "editor@example.org" and entry.target == str(event_id)
    assert entry.detail == f"member {ana.id} (left, was yes); moved up: member {piotr.id}"


@pytest.mark.parametrize(
    ("reason", "badge"),
    [
        ("hard_bounce", "Address bounces"),
        ("complaint", "Marked our mail as spam"),
        ("staff", "Address suppressed"),
    ],
)
def test_suppressed_members_are_marked_and_their_place_in_line_can_be_taken_back(
    app: Flask, rt: Runtime, full_event: tuple[int, list[Member]], reason: str, badge: str
) -> None:
    event_id, (ana, piotr, _ion) = full_event
    suppress(rt, piotr, reason)
    editor = signed_in(app, rt, "editor")
    row = row_of(editor.get(f"/admin/events/{event_id}").text, piotr)
    assert badge in row and "Take off the waiting list" in row
    assert release(editor, event_id, piotr).status_code == 302
    assert statuses(rt, event_id)[piotr.id] == "no"
    assert statuses(rt, event_id)[ana.id] == "yes"  # her seat is hers
    assert (
        "Piotr Nowak was taken off the waiting list."
        in editor.get(f"/admin/events/{event_id}").text
    )


def test_a_member_still_on_the_list_keeps_their_answer(
    app: Flask, rt: Runtime, full_event: tuple[int, list[Member]]
) -> None:
    event_id, (ana, piotr, ion) = full_event
    unsubscribe(rt, ion)  # left, but holds no seat
    editor = signed_in(app, rt, "editor")
    page = editor.get(f"/admin/events/{event_id}").text
    assert "Release the seat" not in row_of(page, ana)
    assert "Left the list" in row_of(page, ion) and "<button" not in row_of(page, ion)

    release(editor, event_id, ana)
    shown = editor.get(f"/admin/events/{event_id}").text
    assert "Ana Sousa is still on the list and can be mailed" in shown
    release(editor, event_id, ion)
    shown = editor.get(f"/admin/events/{event_id}").text
    assert "Ion Rusu holds no seat and is not on the waiting list." in shown
    assert statuses(rt, event_id) == {ana.id: "yes", piotr.id: "waiting", ion.id: "invited"}

    url = f"/admin/events/{event_id}/rsvps/{ana.id}/release"
    assert editor.post(url, data={}).status_code == 400  # no CSRF token
    assert release(editor, event_id, Member(id=999, name="x")).status_code == 404
    viewer = signed_in(app, rt, "viewer")
    assert release(viewer, event_id, ana).status_code == 403
    with rt.new_session() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert "event.seat_release" not in actions
