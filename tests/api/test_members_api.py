"""Members through the API: the same services, audit entries and mails as the web and CLI."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from mailer.outbox import Campaign, Delivery
from subscribers.core.models import AuditEntry, ConsentEvent, Member
from subscribers.runtime import Runtime
from tests.api import contract
from tests.api.conftest import Api
from tests.factories import make_list, make_member

MEMBER = "/api/v1/members/<ref>"


def audit_of(rt: Runtime, action: str) -> list[tuple[str, str]]:
    with rt.new_session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars()
        return [(row.actor, row.detail) for row in rows]


def test_sign_up_starts_a_double_opt_in_exactly_as_the_form(
    app: Flask, rt: Runtime, session, editor_api: Api
) -> None:
    make_list(session, rt.clock())
    body = {
        "email": "New@Example.org",
        "name": "Nova",
        "lists": ["practitioners"],
        "language": "pt",
    }
    response = editor_api.post("/api/v1/members", json=body)
    assert response.status_code == 202, response.text
    assert response.get_json() == {"status": "confirmation_sent", "email": "new@example.org"}
    contract.check(app, "POST", "/api/v1/members", response)
    with rt.new_session() as s:
        member = s.execute(select(Member)).scalar_one()
        assert (member.status, member.language) == ("pending", "pt")
        kinds = s.execute(select(Campaign.kind).join(Delivery)).scalars().all()
        assert kinds == ["confirm"]
        consent = s.execute(select(ConsentEvent)).scalar_one()
        assert (consent.action, consent.source) == ("given", "api editor tool")
        assert consent.consent_version == "1"  # the current wording, in the member's language
        assert consent.consent_text.startswith("Aceito receber")
    # Asking again answers the same: nobody learns whether an address is registered.
    again = editor_api.post("/api/v1/members", json=body)
    assert (again.status_code, again.get_json()) == (202, response.get_json())


def test_sign_up_checks_like_the_form(rt: Runtime, session, editor_api: Api) -> None:
    make_list(session, rt.clock(), public=False)
    bad = editor_api.post("/api/v1/members", json={"email": "nope", "lists": ["practitioners"]})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "email"
    closed = editor_api.post(
        "/api/v1/members", json={"email": "a@example.org", "lists": ["practitioners"]}
    )
    assert closed.status_code == 422  # a closed list takes no public sign-ups, nor API ones
    assert closed.get_json()["errors"][0]["field"] == "lists"


def test_import_with_consent_subscribes_at_once_and_is_audited(
    rt: Runtime, session, editor_api: Api
) -> None:
    make_list(session, rt.clock())
    body = {"email": "crm@example.org", "lists": ["practitioners"], "import_with_consent": True}
    assert editor_api.post("/api/v1/members", json=body).status_code == 422  # no consent note
    body["consent_note"] = "signed the paper form at the Lisbon workshop"
    response = editor_api.post("/api/v1/members", json=body)
    assert response.get_json()["status"] == "imported"
    member = editor_api.get("/api/v1/members/crm@example.org").get_json()
    assert member["status"] == "active"
    assert member["lists"] == [{"list": "practitioners", "status": "active"}]
    assert audit_of(rt, "members.import") == [("api (editor tool)", "1 member to practitioners")]


def test_pages_follow_the_link_header(app: Flask, rt: Runtime, session, as_role) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    for n in range(5):
        make_member(session, rt.clock(), lists_=(lst,), email=f"m{n}@example.org")
    api = as_role("viewer")
    seen, url = [], "/api/v1/members?limit=2&list=practitioners"
    while url:
        response = api.get(url)
        contract.check(app, "GET", "/api/v1/members", response)
        seen += [m["email"] for m in response.get_json()["items"]]
        link = response.headers.get("Link")
        assert (link is None) == (response.get_json()["next_cursor"] is None)
        url = link[1 : link.index(">")] if link else ""
    assert seen == [f"m{n}@example.org" for n in range(5)]


def test_updates_need_the_etag_read(app: Flask, rt: Runtime, session, editor_api: Api) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    path = "/api/v1/members/ana@example.org"
    read = editor_api.get(path)
    etag = read.headers["ETag"]
    missing = editor_api.patch(path, json={"name": "Ana Maria"})
    assert missing.status_code == 428
    changed = editor_api.patch(path, json={"name": "Ana Maria"}, headers={"If-Match": etag})
    assert changed.status_code == 200 and changed.get_json()["name"] == "Ana Maria"
    assert changed.headers["ETag"] != etag
    contract.check(app, "PATCH", MEMBER, changed)
    stale = editor_api.patch(path, json={"name": "Someone else"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert editor_api.get(path).get_json()["name"] == "Ana Maria"
    assert audit_of(rt, "member.edit") == [("api (editor tool)", "changed name")]


def test_leave_lists_unsubscribe_and_erase(rt: Runtime, session, editor_api: Api) -> None:
    one = make_list(session, rt.clock())
    two = make_list(session, rt.clock(), slug="research", name="Research")
    make_member(session, rt.clock(), lists_=(one, two))
    path = "/api/v1/members/ana@example.org"
    etag = editor_api.get(path).headers["ETag"]
    joining = editor_api.patch(path, json={"lists": ["other"]}, headers={"If-Match": etag})
    assert joining.status_code == 422  # joining a list needs the member's own consent
    left = editor_api.patch(path, json={"lists": ["research"]}, headers={"If-Match": etag})
    assert {x["list"]: x["status"] for x in left.get_json()["lists"]} == {
        "practitioners": "unsubscribed",
        "research": "active",
    }
    done = editor_api.post(path + "/unsubscribe")
    assert done.get_json()["status"] == "unsubscribed"
    assert editor_api.post(path + "/unsubscribe").status_code == 409
    export = editor_api.get(path + "/export").get_json()
    assert export["profile"]["email"] == "ana@example.org"
    assert editor_api.delete(path).status_code == 204
    assert editor_api.get(path).status_code == 404
    assert [a for a, _ in audit_of(rt, "member.erase")] == ["api (editor tool)"]
