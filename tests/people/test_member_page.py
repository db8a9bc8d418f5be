"""One member's page: history, edit, unsubscribe and erase, with roles and the audit log."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from mailer.outbox import Suppression
from subscribers.core.models import AuditEntry, ConsentEvent, Member, Subscription
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.people.helpers import bounce, consent, delivery, signed_in


def ana(session: Session, rt: Runtime) -> Member:
    lst = make_list(session, rt.clock())
    member = make_member(session, rt.clock(), lists_=(lst,), organisation="PSP")
    consent(
        session,
        member,
        "confirmed",
        rt.clock(),
        list_id=lst.id,
        consent_version="2024-05",
        source="web",
        ip="203.0.113.7",
        note="double opt-in",
    )
    return member


def audit_entries(rt: Runtime) -> list[tuple[str, str, str, str]]:
    with rt.new_session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        return [(e.actor, e.action, e.target, e.detail) for e in rows]


def reload(rt: Runtime, member_id: int | None) -> Member:
    with rt.new_session() as s:
        found = s.get(Member, member_id)
        assert found is not None
        return found


def test_member_page_shows_consent_delivery_and_bounce_history(
    app: Flask, rt: Runtime, session: Session
) -> None:
    member = ana(session, rt)
    sent = delivery(session, member, rt.clock(), subject="Workshop in Lisbon")
    delivery(
        session,
        member,
        rt.clock(),
        subject="Call for papers",
        state="failed",
        error="550 5.1.1 mailbox unavailable",
    )
    bounce(session, "ana@example.org", rt.clock(), delivery_id=sent.id)
    bounce(session, "someone-else@example.org", rt.clock())
    client = signed_in(app, rt, "viewer")
    page = client.get(f"/admin/members/{member.id}")
    assert page.status_code == 200
    text = page.text
    for expected in ("ana@example.org", "Ana Sousa", "PSP", "Frontline Practitioners Network"):
        assert expected in text
    # consent: action, version, source, ip, note
    for expected in ("confirmed", "2024-05", "203.0.113.7", "double opt-in"):
        assert expected in text
    # deliveries with subject, state and error
    assert "Workshop in Lisbon" in text and "Call for papers" in text
    assert "550 5.1.1 mailbox unavailable" in text
    # bounces matched by the address hash, not those of others
    assert text.count("550 5.1.1 user unknown") == 1
    # a viewer reads, but is offered no change
    assert "Edit details" not in text and "Erase this member" not in text
    assert client.get("/admin/members/999").status_code == 404


def test_viewer_cannot_change_a_member(app: Flask, rt: Runtime, session: Session) -> None:
    member = ana(session, rt)
    client = signed_in(app, rt, "viewer")
    token = csrf_token(client.get(f"/admin/members/{member.id}").text)
    for action in ("edit", "unsubscribe", "erase"):
        response = client.post(
            f"/admin/members/{member.id}/{action}", data={"csrf_token": token, "sure": "y"}
        )
        assert response.status_code == 403
    assert reload(rt, member.id).status == "active" and audit_entries(rt) == []


def test_edit_details_is_validated_and_audited(app: Flask, rt: Runtime, session: Session) -> None:
    member = ana(session, rt)
    client = signed_in(app, rt, "editor")
    form = client.get(f"/admin/members/{member.id}/edit")
    assert form.status_code == 200 and 'value="Ana Sousa"' in form.text
    token = csrf_token(form.text)
    good = {
        "name": "Ana S. Sousa",
        "organisation": "PSP Lisboa",
        "country": "PT",
        "sector": "police",
        "language": "pt",
    }
    for field, bad, message in [
        ("country", "XX", "Country: please choose one of the options"),
        ("name", "Ana\r\nBcc: x@example.org", "Name must be a single line"),
        ("organisation", "x" * 201, "Organisation is too long"),
        ("language", "tlh", "Language: please choose"),
        ("name", "=?utf-8?q?hi?=", "not allowed"),
    ]:
        response = client.post(
            f"/admin/members/{member.id}/edit", data={**good, field: bad, "csrf_token": token}
        )
        assert response.status_code == 200 and message in response.text, field
        assert reload(rt, member.id).name == "Ana Sousa"
    assert audit_entries(rt) == []
    done = client.post(
        f"/admin/members/{member.id}/edit",
        data={**good, "csrf_token": token},
        follow_redirects=True,
    )
    assert "Saved." in done.text and "PSP Lisboa" in done.text
    saved = reload(rt, member.id)
    assert (saved.name, saved.organisation, saved.language) == ("Ana S. Sousa", "PSP Lisboa", "pt")
    assert audit_entries(rt) == [
        (
            "editor@example.org",
            "member.edit",
            f"member {member.id}",
            "changed name, organisation, language",
        )
    ]


def test_unsubscribe_from_the_page(app: Flask, rt: Runtime, session: Session) -> None:
    member = ana(session, rt)
    client = signed_in(app, rt, "editor")
    page = client.get(f"/admin/members/{member.id}")
    done = client.post(
        f"/admin/members/{member.id}/unsubscribe",
        data={"csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    assert "Unsubscribed from every list" in done.text
    assert reload(rt, member.id).status == "unsubscribed"
    with rt.new_session() as s:
        sub = s.execute(select(Subscription)).scalar_one()
        withdrawn = s.execute(
            select(ConsentEvent).where(ConsentEvent.action == "withdrawn")
        ).scalar_one()
    assert sub.status == "unsubscribed" and withdrawn.source == "staff"
    again = client.post(
        f"/admin/members/{member.id}/unsubscribe",
        data={"csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    assert "already unsubscribed" in again.text
    assert [a[1] for a in audit_entries(rt)] == ["member.unsubscribe"]


def test_erase_from_the_page(app: Flask, rt: Runtime, session: Session) -> None:
    member = ana(session, rt)
    delivery(session, member, rt.clock())
    client = signed_in(app, rt, "editor")
    page = client.get(f"/admin/members/{member.id}")
    token = csrf_token(page.text)
    unsure = client.post(f"/admin/members/{member.id}/erase", data={"csrf_token": token})
    assert unsure.status_code == 200 and "Tick the box" in unsure.text
    assert reload(rt, member.id).email == "ana@example.org"
    done = client.post(
        f"/admin/members/{member.id}/erase",
        data={"csrf_token": token, "sure": "y"},
        follow_redirects=True,
    )
    assert "(erased)" in done.text and "ana@example.org" not in done.text
    assert "Ana Sousa" not in done.text and "203.0.113.7" not in done.text
    gone = reload(rt, member.id)
    assert (gone.email, gone.name, gone.status) == (None, "", "erased")
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org"]) == {"ana@example.org"}
        assert s.get(Suppression, outbox.address_hash("ana@example.org")).reason == "erased"
    entries = audit_entries(rt)
    assert [(a, b, c) for a, b, c, _ in entries] == [
        ("editor@example.org", "member.erase", f"member {member.id}")
    ]
    assert "ana@example.org" not in repr(entries)  # the log keeps no personal data
    listing = client.get("/admin/members?status=erased")
    assert "(erased)" in listing.text
    # nothing left to change
    assert "Edit details" not in done.text
    edit = client.get(f"/admin/members/{member.id}/edit", follow_redirects=True)
    assert "nothing left to change" in edit.text
