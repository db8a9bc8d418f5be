"""Announcements in the workspace: audience and live count, preview, test mail, send, schedule."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlmodel import Session

from mailer.outbox import Campaign, Delivery
from subscribers.core.models import Subscription
from subscribers.runtime import Runtime
from tests.conftest import audit_actions, confirm, post_form
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

SUBJECT = "Second transnational workshop"
BODY = "We meet in **Warsaw** on 3 March.\n\nPlease tell us if you come."


def members(session: Session, rt: Runtime) -> None:
    """Four who receive, and four who must not: pending, unsubscribed, erased, another list."""
    now = rt.clock()
    lst = make_list(session, now)
    other = make_list(session, now, slug="events", name="Events")
    make_member(session, now, lists_=(lst,), organisation="PSP", language="pt")
    make_member(
        session,
        now,
        lists_=(lst,),
        email="jan@example.org",
        name="Jan Nowak",
        country="PL",
        sector="police",
        language="pl",
    )
    make_member(
        session,
        now,
        lists_=(lst,),
        email="maria@example.org",
        name="María Gil",
        country="ES",
        sector="ngo",
        language="es",
    )
    make_member(
        session,
        now,
        lists_=(lst,),
        email="ion@example.org",
        name="Ion Rusu",
        country="RO",
        sector="research",
        language="ro",
        organisation="IGP",
    )
    make_member(session, now, lists_=(lst,), email="pending@example.org", status="pending")
    make_member(session, now, lists_=(lst,), email="gone@example.org", status="unsubscribed")
    make_member(session, now, lists_=(lst,), email=None, name="", status="erased")
    make_member(session, now, lists_=(other,), email="other@example.org")
    left = make_member(session, now, lists_=(lst,), email="left@example.org")
    session.execute(
        update(Subscription).where(Subscription.member_id == left.id).values(status="unsubscribed")
    )
    session.commit()


def announce(client: FlaskClient, action: str, **extra: object):  # type: ignore[no-untyped-def]
    data = {"list_slug": "practitioners", "subject": SUBJECT, "body": BODY, "action": action}
    page = post_form(client, "/admin/announce", {**data, **extra})
    if 'id="confirm-form"' in page.text:  # "Send now" asks first; these tests confirm
        return confirm(client, page)
    return page


def shown_count(page_html: str) -> int:
    found = re.search(r'<output id="audience-count"[^>]*>(\d+)</output>', page_html)
    assert found, "no count on the page"
    return int(found.group(1))


def deliveries(rt: Runtime, campaign_id: int) -> list[Delivery]:
    with rt.new_session() as s:
        stmt = select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        return list(s.execute(stmt).scalars())


def campaign_id(location: str) -> int:
    found = re.fullmatch(r"/admin/campaigns/(\d+)", location)
    assert found, location
    return int(found.group(1))


SEGMENTS = [
    ({}, {"ana", "jan", "maria", "ion"}),
    ({"country": ["PT"]}, {"ana"}),
    ({"country": ["PT", "PL"]}, {"ana", "jan"}),
    ({"sector": ["police"]}, {"ana", "jan"}),
    ({"country": ["PL", "ES"], "sector": ["police"]}, {"jan"}),
    ({"language": ["ro", "es"]}, {"maria", "ion"}),
    ({"organisation": "IGP"}, {"ion"}),
]


@pytest.mark.parametrize(("segment", "expected"), SEGMENTS)
def test_segment_counts_equal_the_deliveries_the_campaign_creates(  # type: ignore[no-untyped-def]
    editor: FlaskClient, rt: Runtime, session, segment: dict[str, object], expected: set[str]
) -> None:
    members(session, rt)
    query = {"list_slug": "practitioners", **segment}
    live = editor.get("/admin/announce/count", query_string=query)
    assert live.status_code == 200
    assert live.json == {"count": len(expected)}
    counted = announce(editor, "count", **segment)
    assert shown_count(counted.text) == len(expected)
    sent = announce(editor, "send", **segment)
    assert sent.status_code == 302
    rows = deliveries(rt, campaign_id(sent.location))
    assert {d.address.split("@")[0] for d in rows} == expected
    assert len(rows) == live.json["count"]


def test_an_audience_of_nobody_is_not_sent(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    segment = {"country": ["ES"], "sector": ["police"]}
    assert editor.get(
        "/admin/announce/count", query_string={"list_slug": "practitioners", **segment}
    ).json == {"count": 0}
    page = announce(editor, "send", **segment)
    assert page.status_code == 200 and "Nobody on this list matches" in page.text
    with rt.new_session() as s:
        assert s.execute(select(Campaign)).first() is None


def test_count_endpoint_answers_bad_queries_without_error(editor: FlaskClient, rt, session) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    assert (
        editor.get("/admin/announce/count", query_string={"list_slug": "nope"}).status_code == 404
    )
    bad = editor.get(
        "/admin/announce/count", query_string={"list_slug": "practitioners", "country": "XX"}
    )
    assert bad.status_code == 400 and bad.json["field"] == "country"
    # An invitation's count names its event: one no row can be is "no event", not a 500.
    for event in ("\u00b2", "99999999999999999999", "x"):
        unknown = editor.get("/admin/announce/count", query_string={"event": event})
        assert unknown.status_code == 404 and "no event" in unknown.json["error"], event


def test_preview_shows_a_sample_member_and_both_parts(editor: FlaskClient, rt, session) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    page = announce(editor, "preview", country=["PL", "RO"])
    assert page.status_code == 200
    assert "As Jan Nowak will see it (one of 2 recipients)" in page.text
    assert shown_count(page.text) == 2
    frame = re.search(r'<iframe[^>]*id="preview-html"[^>]*>', page.text).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame and "allow-same-origin" not in frame
    mail_html = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert "Hello Jan Nowak," in mail_html
    assert "<strong>Warsaw</strong>" in mail_html and SUBJECT in mail_html
    assert '<base target="_blank">' in mail_html
    assert "/unsubscribe/" in mail_html  # the member's own links, as they will receive them
    text = html.unescape(
        re.search(r'<pre class="text" id="preview-text">(.*?)</pre>', page.text, re.S).group(1)
    )
    assert (
        "Hello Jan Nowak," in text and "We meet in Warsaw on 3 March." in text
    )  # Markdown read as text
    assert f'<span id="preview-subject" lang="en">{SUBJECT}</span>' in page.text
    with rt.new_session() as s:
        assert s.execute(select(Campaign)).first() is None  # a preview queues nothing


def test_preview_escapes_what_staff_write(editor: FlaskClient, rt, session) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    page = announce(editor, "preview", body="<script>alert(1)</script> and <b onclick=x>bold</b>")
    frame = re.search(r'srcdoc="([^"]*)"', page.text).group(1)
    mail_html = html.unescape(frame)
    assert "<script" not in mail_html and "<b onclick" not in mail_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail_html  # shown as text
    assert "<script>alert" not in page.text.split("<script>\n// Live")[0]


def test_test_mail_arrives_for_the_staff_user_only(  # type: ignore[no-untyped-def]
    editor: FlaskClient, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    members(session, rt)
    page = announce(editor, "test")
    assert page.status_code == 200
    assert "A test was queued to editor@example.org" in page.text
    assert 'value="Second transnational workshop"' in page.text  # the form is kept
    report = rt.sender.drain()
    assert report.sent == 1
    (received,) = smtp.messages
    assert received.rcpt_tos == ["editor@example.org"]
    message = received.message
    assert message["Subject"] == f"[Test] {SUBJECT}"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Hello Ana Sousa," in text and "Warsaw" in text
    assert message.get_body(preferencelist=("html",)) is not None
    assert "/unsubscribe/test-mail" in text  # never a real member's unsubscribe link
    actor, action, _target = audit_actions(rt)[-1]
    assert (actor, action) == ("editor@example.org", "announce.test")


def test_send_now_queues_and_records_it(editor: FlaskClient, rt: Runtime, session, smtp) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    sent = announce(editor, "send")
    cid = campaign_id(sent.location)
    assert "Queued for 4 members." in editor.get(sent.location).text
    rt.sender.drain()
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "ana@example.org",
        "ion@example.org",
        "jan@example.org",
        "maria@example.org",
    ]
    assert ("editor@example.org", "announce.send", f"campaign:{cid}") in audit_actions(rt)


def test_schedule_then_cancel(editor: FlaskClient, rt: Runtime, session, smtp) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    local = (rt.clock() + timedelta(days=1)).astimezone(ZoneInfo("Europe/Lisbon"))
    scheduled = announce(editor, "schedule", send_after=local.strftime("%Y-%m-%dT%H:%M"))
    assert scheduled.status_code == 302
    cid = campaign_id(scheduled.location)
    with rt.new_session() as s:
        campaign = s.get(Campaign, cid)
        assert campaign.send_after == local.replace(second=0, microsecond=0)
    page = editor.get(scheduled.location)
    assert "Scheduled for 4 members." in page.text and "Scheduled for Nov 26, 2026, " in page.text
    assert rt.sender.drain().sent == 0  # not yet due
    cancelled = post_form(editor, f"/admin/campaigns/{cid}/cancel", {}, page=scheduled.location)
    assert cancelled.status_code == 302
    progress = editor.get(f"/admin/campaigns/{cid}/progress").json
    assert progress["status"] == "cancelled" and progress["counts"]["skipped"] == 4
    rt.clock.advance(days=2)
    assert rt.sender.drain().sent == 0 and smtp.messages == []
    actions = [a[1] for a in audit_actions(rt)]
    assert actions[-2:] == ["announce.schedule", "campaign.cancel"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"subject": ""}, "subject: must not be empty"),
        ({"subject": "Line\nbreak"}, "single line"),
        ({"body": " "}, "body: must not be empty"),
        ({"list_slug": ""}, "Please choose a list."),
        ({"country": ["XX"]}, "Country: there is no “XX”. Choose from: Portugal (PT)"),
        ({"send_after": "tomorrow"}, "Please give a date and time"),
        ({"send_after": "2020-01-01T09:00"}, "This time has passed"),
        ({"action": "schedule"}, "Please choose when to send it."),
        ({"action": "send", "send_after": "2027-01-01T09:00"}, "To send now, leave this empty"),
        ({"action": "launch"}, "Please use one of the buttons"),
    ],
)
def test_bad_input_shows_the_form_again_and_sends_nothing(  # type: ignore[no-untyped-def]
    editor: FlaskClient, rt: Runtime, session, extra: dict[str, object], message: str
) -> None:
    members(session, rt)
    page = announce(editor, **{"action": "send", **extra})
    assert page.status_code == 200
    assert html.unescape(message) in html.unescape(page.text)
    with rt.new_session() as s:
        assert s.execute(select(Campaign)).first() is None
    assert audit_actions(rt) == []


def test_viewers_cannot_announce(viewer: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    members(session, rt)
    assert viewer.get("/admin/announce").status_code == 403
    data = {"list_slug": "practitioners", "subject": SUBJECT, "body": BODY, "action": "send"}
    assert post_form(viewer, "/admin/announce", data, page="/admin/campaigns").status_code == 403
    assert viewer.get(
        "/admin/announce/count", query_string={"list_slug": "practitioners"}
    ).json == {"count": 4}
