"""News, announcements, campaigns, events and suppressions through the API."""

from __future__ import annotations

from flask import Flask

from mailer import outbox
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.api import contract
from tests.api.conftest import Api
from tests.api.test_members_api import audit_of
from tests.factories import make_list, make_member


def test_news_create_edit_withdraw(app: Flask, rt: Runtime, session, editor_api: Api) -> None:
    make_list(session, rt.clock())
    made = editor_api.post(
        "/api/v1/news", json={"list": "practitioners", "title": "Report", "body": "Forty came."}
    )
    assert made.status_code == 201, made.text
    contract.check(app, "POST", "/api/v1/news", made)
    path = f"/api/v1/news/{made.get_json()['id']}"
    etag = editor_api.get(path).headers["ETag"]
    edited = editor_api.patch(path, json={"title": "Workshop report"}, headers={"If-Match": etag})
    assert edited.get_json()["title"] == "Workshop report"
    assert editor_api.post(path + "/withdraw").get_json()["status"] == "withdrawn"
    assert editor_api.post(path + "/withdraw").status_code == 409
    assert [a for a, _ in audit_of(rt, "news.add")] == ["api (editor tool)"]
    assert editor_api.get("/api/v1/news?list=nosuch").status_code == 404


def test_announce_count_schedule_and_steer(
    app: Flask, rt: Runtime, session, editor_api: Api, as_role
) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    make_member(session, rt.clock(), lists_=(lst,), email="jan@example.org", country="PL")
    count = as_role("viewer").get("/api/v1/audience?list=practitioners&segment=country=PL")
    assert count.get_json() == {"list": "practitioners", "segment": "country=PL", "recipients": 1}
    body = {"list": "practitioners", "subject": "Workshop", "body": "Come **along**."}
    past = editor_api.post("/api/v1/announcements", json={**body, "send_at": "2020-01-01T09:00"})
    assert past.status_code == 422
    sent = editor_api.post("/api/v1/announcements", json={**body, "send_at": "2026-12-24T09:00"})
    assert sent.status_code == 201, sent.text
    contract.check(app, "POST", "/api/v1/announcements", sent)
    campaign = sent.get_json()
    assert campaign["total"] == 2 and campaign["send_after"] == "2026-12-24T09:00:00Z"
    path = f"/api/v1/campaigns/{campaign['id']}"
    assert editor_api.post(path + "/pause").get_json()["status"] == outbox.PAUSED
    assert editor_api.post(path + "/resume").get_json()["status"] == outbox.ACTIVE
    cancelled = editor_api.post(path + "/cancel").get_json()
    assert cancelled["counts"]["skipped"] == 2 and cancelled["finished"]
    assert editor_api.post(path + "/resume").status_code == 409
    actions = [a for a, _ in audit_of(rt, "announce.schedule") + audit_of(rt, "campaign.cancel")]
    assert actions == ["api (editor tool)", "api (editor tool)"]
    listed = as_role("viewer").get("/api/v1/campaigns")
    assert [c["id"] for c in listed.get_json()["items"]] == [campaign["id"]]


def test_a_time_the_clocks_skip_is_refused_as_on_the_command_line(
    rt: Runtime, session, editor_api: Api
) -> None:
    """2027-03-28T01:30 does not exist in Lisbon (NEWSLETTER_TIMEZONE) nor 02:30 in Warsaw:
    refused, naming the body's field, not silently read as another hour; a past send_at is
    named send_at too (the service calls it send_after)."""
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    body = {"list": "practitioners", "subject": "Workshop", "body": "Come."}
    skipped = editor_api.post("/api/v1/announcements", json={**body, "send_at": "2027-03-28T01:30"})
    assert skipped.status_code == 422, skipped.text
    assert [e["field"] for e in skipped.get_json()["errors"]] == ["send_at"]
    assert "does not exist in Europe/Lisbon" in skipped.get_json()["detail"]
    past = editor_api.post("/api/v1/announcements", json={**body, "send_at": "2020-01-01T09:00"})
    assert [e["field"] for e in past.get_json()["errors"]] == ["send_at"]
    event = {"list": "practitioners", "title": "Workshop", "timezone": "Europe/Warsaw"}
    start = editor_api.post(
        "/api/v1/events",
        json={**event, "start": "2027-03-28T02:30", "end": "2027-03-28T04:00"},
    )
    assert start.status_code == 422, start.text
    assert [e["field"] for e in start.get_json()["errors"]] == ["start"]
    assert outbox_is_empty(rt)


def outbox_is_empty(rt: Runtime) -> bool:
    with rt.new_session() as s:
        return not outbox.counts(s)


def test_events_create_invite_and_answers(
    app: Flask, rt: Runtime, session, editor_api: Api
) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    made = editor_api.post(
        "/api/v1/events",
        json={
            "list": "practitioners",
            "title": "Online workshop",
            "start": "2026-12-20T10:00",
            "end": "2026-12-20T12:00",
            "timezone": "Europe/Warsaw",
            "capacity": 30,
        },
    )
    assert made.status_code == 201, made.text
    event = made.get_json()
    assert event["start"] == "2026-12-20T10:00:00+01:00"
    invited = editor_api.post(f"/api/v1/events/{event['id']}/invite", json={})
    assert invited.get_json()["invited"] == 1
    again = editor_api.post(f"/api/v1/events/{event['id']}/invite", json={})
    assert again.get_json() == {"campaign_id": None, "invited": 0}
    answers = editor_api.get(f"/api/v1/events/{event['id']}/rsvps")
    contract.check(app, "GET", "/api/v1/events/<int(max=2147483647):event_id>/rsvps", answers)
    assert [(a["email"], a["answer"]) for a in answers.get_json()["items"]] == [
        ("ana@example.org", "invited")
    ]


def test_lift_a_suppression_with_a_reason(rt: Runtime, admin_api: Api, as_role) -> None:  # type: ignore[no-untyped-def]
    with transaction(rt.new_session()) as s:
        outbox.suppress(s, "gone@example.org", reason="hard_bounce", now=rt.clock())
    found = as_role("viewer").get("/api/v1/suppressions?email=gone@example.org").get_json()
    assert [row["reason"] for row in found["items"]] == ["hard_bounce"]
    lift = {"email": "gone@example.org", "reason": "the member wrote: mailbox fixed"}
    assert as_role("editor").post("/api/v1/suppressions/lift", json=lift).status_code == 403
    assert admin_api.post("/api/v1/suppressions/lift", json=lift).status_code == 200
    assert admin_api.post("/api/v1/suppressions/lift", json=lift).status_code == 404
    # The same service as the member page and the CLI: the reason, then what it was.
    assert audit_of(rt, "suppression.lift") == [
        (
            "api (admin tool)",
            f"{lift['reason']}; was bounced since 2026-11-25T09:00+00:00: hard_bounce",
        )
    ]
    with transaction(rt.new_session()) as s:
        outbox.suppress(s, "erased@example.org", reason="erased", now=rt.clock())
    erased = {"email": "erased@example.org", "reason": "asked to come back"}
    # An erased member asked never to be mailed: only registering again lifts that.
    assert admin_api.post("/api/v1/suppressions/lift", json=erased).status_code == 404


def test_lists_create_and_edit_for_admins(app: Flask, admin_api: Api) -> None:
    made = admin_api.post("/api/v1/lists", json={"slug": "research", "name": "Research"})
    assert made.status_code == 201
    etag = made.headers["ETag"]
    bad = admin_api.patch(
        "/api/v1/lists/research", json={"digest_cron": "every day"}, headers={"If-Match": etag}
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "digest_cron"
    ok = admin_api.patch(
        "/api/v1/lists/research", json={"digest_cron": "0 9 * * mon"}, headers={"If-Match": etag}
    )
    assert ok.get_json()["digest_cron"] == "0 9 * * mon"
    assert (
        admin_api.post("/api/v1/lists", json={"slug": "research", "name": "R"}).status_code == 409
    )
