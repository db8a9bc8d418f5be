"""The staff event pages: create, invite, answers, CSV, edit, cancel, join link; roles."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.admin import staff
from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry
from subscribers.runtime import Runtime
from tests.conftest import confirm, csrf_token
from tests.invitations.helpers import (
    JOIN_URL,
    answer,
    bodies_of,
    campaigns,
    create,
    event_row,
    invite,
    network,
    recipients_of,
)
from tests.smtp_server import ScriptedSMTP

PASSWORD = "correct horse battery"
FORM = {
    "list_slug": "practitioners",
    "title": "Workshop <b>on prevention</b>",
    "description": "Bring **one case** from your work.",
    "start": "2026-12-10T14:00",
    "end": "2026-12-10T17:00",
    "timezone": "Europe/Lisbon",
    "location": "Rua Augusta 10, Lisboa",
    "online_url": JOIN_URL,
    "capacity": "30",
    "rsvp_deadline": "",
    "reminders": "24h, 1h",
}


def signed_in(app: Flask, rt: Runtime, role: str) -> FlaskClient:
    email = f"{role}@example.org"
    with transaction(rt.new_session()) as s:
        staff.create(s, email, PASSWORD, role, now=rt.clock())
    client = app.test_client()
    page = client.get("/admin/login")
    client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD},
    )
    return client


def submit(client: FlaskClient, url: str, form_url: str | None = None, **data: str):  # type: ignore[no-untyped-def]
    page = client.get(form_url or url)
    return client.post(url, data={"csrf_token": csrf_token(page.text), **data})


def test_staff_create_an_event_invite_the_list_and_read_the_answers(
    app: Flask, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana, piotr, ion) = network(session, rt)
    client = signed_in(app, rt, "editor")
    assert "Events" in client.get("/admin/").text  # the nav link

    created = submit(client, "/admin/events/new", **FORM)
    assert created.status_code == 302
    event_id = int(created.location.rsplit("/", 1)[1])
    event = event_row(rt, event_id)
    assert event.capacity == 30 and event.reminders == "1440,60"
    assert event.start_at.isoformat() == "2026-12-10T14:00:00+00:00"

    detail = client.get(f"/admin/events/{event_id}")
    assert "Workshop &lt;b&gt;on prevention&lt;/b&gt;" in detail.text  # escaped
    invited = confirm(
        client, submit(client, f"/admin/events/{event_id}/invite", f"/admin/events/{event_id}")
    )
    assert invited.status_code == 302
    assert sorted(recipients_of(rt, "invitation")) == [
        "ana@example.org",
        "ion@example.org",
        "piotr@example.org",
    ]
    rt.sender.drain()
    assert all(JOIN_URL not in bodies_of(m.message) for m in smtp.messages)

    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "no")
    page = client.get(f"/admin/events/{event_id}")
    assert re.search(r"Yes: <strong>1</strong> / 30", page.text)
    assert (
        "No: <strong>1</strong>" in page.text and "No answer yet: <strong>1</strong>" in page.text
    )
    listing = client.get("/admin/events")
    assert "Workshop &lt;b&gt;on prevention&lt;/b&gt;" in listing.text

    # Resend the join link to the one who said yes.
    before = len(recipients_of(rt, "rsvp_confirmation"))
    sent = submit(
        client, f"/admin/events/{event_id}/rsvps/{ana.id}/join-link", f"/admin/events/{event_id}"
    )
    assert sent.status_code == 302
    assert len(recipients_of(rt, "rsvp_confirmation")) == before + 1
    nope = submit(
        client, f"/admin/events/{event_id}/rsvps/{piotr.id}/join-link", f"/admin/events/{event_id}"
    )
    assert nope.status_code == 404
    with rt.new_session() as s:
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions == ["event.create", "event.invite", "event.join_link"]


def test_csv_export_neutralises_formulas(app: Flask, rt: Runtime, session) -> None:
    lst, (ana,) = network(session, rt, "ana")
    from tests.factories import make_member

    evil = make_member(
        session,
        rt.clock(),
        lists_=(lst,),
        email="evil@example.org",
        name='=HYPERLINK("http://evil.test")',
        organisation="+cmd|' /C calc'!A0",
    )
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, evil, "yes")
    client = signed_in(app, rt, "viewer")
    response = client.get(f"/admin/events/{event_id}/rsvps.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_email = {row["email"]: row for row in rows}
    assert by_email["evil@example.org"]["name"] == '\'=HYPERLINK("http://evil.test")'
    assert by_email["evil@example.org"]["organisation"].startswith("'+cmd")
    assert by_email["evil@example.org"]["answer"] == "yes"
    assert by_email["ana@example.org"]["answer"] == "invited"
    for row in rows:
        assert not any(str(v)[:1] in "=+-@" for v in row.values() if v)


def test_bad_input_is_shown_on_the_form_and_nothing_is_stored(
    app: Flask, rt: Runtime, session
) -> None:
    network(session, rt, "ana")
    client = signed_in(app, rt, "editor")
    for field, value, message in [
        ("start", "next tuesday", "not an ISO 8601 time"),
        ("end", "2026-12-10T13:00", "must be after the start"),
        ("timezone", "Atlantis/Capital", "unknown time zone"),
        ("online_url", "javascript:alert(1)", "must be an http(s) address"),
        ("online_url", "https://[meet.test/room", "must be an http(s) address"),  # was a 500
        ("capacity", "lots", "a whole number"),
        ("capacity", "\u00b2", "a whole number"),  # isdigit() but not int(): was a 500
        ("capacity", "99999999999999999999", "at most 1,000,000 seats"),  # was a 500
        ("start", "", "Start: please give a date and time."),
        ("reminders", "soon", "expected e.g. 24h"),
        ("title", "", "must not be empty"),
    ]:
        response = submit(client, "/admin/events/new", **{**FORM, field: value})
        assert response.status_code == 200, field
        assert message in response.text, field
    assert "<b>on prevention</b>" not in response.text
    with rt.new_session() as s:
        from subscribers.invitations.events import list_events

        assert list_events(s) == []


def test_edit_mails_an_update_and_cancel_mails_everyone(
    app: Flask, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana, piotr, _ion) = network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, piotr, "no")
    client = signed_in(app, rt, "editor")
    edit_page = client.get(f"/admin/events/{event_id}/edit")
    assert 'value="2026-12-10T14:00"' in edit_page.text and 'name="list_slug"' not in edit_page.text
    data = {
        **FORM,
        "title": "Transnational workshop",
        "start": "2026-12-10T15:00",
        "end": "2026-12-10T18:00",
    }
    data.pop("list_slug")
    saved = submit(client, f"/admin/events/{event_id}/edit", **data)
    assert saved.status_code == 302
    assert event_row(rt, event_id).sequence == 1
    assert recipients_of(rt, "event_update") == ["ana@example.org", "ion@example.org"]
    detail = client.get(saved.location).text
    assert "The change was mailed to 2 members with an updated calendar entry." in detail
    again = submit(client, f"/admin/events/{event_id}/edit", **data)
    assert "nobody was mailed" in client.get(again.location).text
    assert event_row(rt, event_id).sequence == 1

    asked = submit(
        client,
        f"/admin/events/{event_id}/cancel",
        f"/admin/events/{event_id}",
        reason="The room is flooded.",
    )
    cancelled = confirm(client, asked)
    assert cancelled.status_code == 302
    assert event_row(rt, event_id).status == "cancelled"
    assert len(recipients_of(rt, "event_cancel")) == 3
    [cancel] = campaigns(rt, "event_cancel")
    assert cancel.calendar_method == "CANCEL"
    page = client.get(f"/admin/events/{event_id}")
    assert "(cancelled)" in page.text and "Send invitations" not in page.text


def test_viewers_read_but_do_not_change(app: Flask, rt: Runtime, session) -> None:
    network(session, rt, "ana")
    event_id = create(rt)
    viewer = signed_in(app, rt, "viewer")
    assert viewer.get("/admin/events").status_code == 200
    assert viewer.get(f"/admin/events/{event_id}").status_code == 200
    assert viewer.get("/admin/events/new").status_code == 403
    token = csrf_token(viewer.get("/admin/login").text)
    for url in (
        "/admin/events/new",
        f"/admin/events/{event_id}/edit",
        f"/admin/events/{event_id}/invite",
        f"/admin/events/{event_id}/cancel",
        f"/admin/events/{event_id}/rsvps/1/join-link",
    ):
        assert viewer.post(url, data={"csrf_token": token}).status_code == 403, url
    assert campaigns(rt) == [] and event_row(rt, event_id).status == "scheduled"


@pytest.mark.parametrize("role", [None, "viewer", "editor", "admin"])
def test_every_event_route_checks_the_role(
    app: Flask, rt: Runtime, session, role: str | None
) -> None:
    """Like the workspace's role matrix (tests/web/test_admin.py), over this blueprint."""
    network(session, rt, "ana")
    client = signed_in(app, rt, role) if role else app.test_client()
    token = csrf_token(client.get("/admin/login").text)
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin_events."):
            continue
        view = app.view_functions[rule.endpoint]
        assert hasattr(view, "required_role"), rule.endpoint
        path = re.sub(r"<(?:\w+:)?(\w+)>", "1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={"csrf_token": token})
            if role is None:
                assert response.status_code == 302 and "/admin/login" in response.location
            elif staff.role_allows(role, view.required_role):
                assert response.status_code in (200, 302, 404), (role, method, path)
            else:
                assert response.status_code == 403, (role, method, path)
