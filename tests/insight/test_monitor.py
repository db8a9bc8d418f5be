"""The campaign monitor: counts and progress (page and JSON), pause / resume / cancel, errors."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlmodel import Session

from mailer.bounce_log import Bounce
from mailer.outbox import address_hash
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.conftest import audit_actions, post_form
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

SUBJECT = "Second transnational workshop"


def three_members(session: Session, rt: Runtime) -> None:
    lst = make_list(session, rt.clock())
    for name in ("ana", "jan", "ion"):
        make_member(session, rt.clock(), lists_=(lst,), email=f"{name}@example.org", name=name)


def queue_announcement(rt: Runtime) -> int:
    with transaction(rt.new_session()) as s:
        campaign, _ = create_announcement(
            s, rt.kit, Announcement("practitioners", SUBJECT, "Body"), now=rt.clock()
        )
    assert campaign.id is not None
    return campaign.id


def progress(client: FlaskClient, cid: int) -> dict:  # type: ignore[type-arg]
    answer = client.get(f"/admin/campaigns/{cid}/progress")
    assert answer.status_code == 200
    return answer.json  # type: ignore[return-value]


def test_progress_goes_from_queued_to_100_percent(  # type: ignore[no-untyped-def]
    viewer: FlaskClient, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    three_members(session, rt)
    cid = queue_announcement(rt)
    before = progress(viewer, cid)
    assert before["counts"] == {
        "queued": 3,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
        "bounced": 0,
        "complained": 0,
    }
    assert (before["percent"], before["finished"], before["status"]) == (0, False, "active")
    page = viewer.get(f"/admin/campaigns/{cid}")
    assert 'id="progress"' in page.text and 'data-percent="0"' in page.text
    assert 'data-finished="false"' in page.text and "0 %" in page.text
    assert 'id="pause-button"' not in page.text  # viewers watch, they do not steer
    rt.sender.drain()
    after = progress(viewer, cid)
    assert after["counts"]["sent"] == 3 and after["counts"]["queued"] == 0
    assert (after["percent"], after["finished"], after["total"]) == (100, True, 3)
    page = viewer.get(f"/admin/campaigns/{cid}")
    assert re.search(r'id="progress"[^>]*data-percent="100"', page.text)
    assert '<span class="progress-text" id="progress-text">100 %</span>' in page.text
    assert 'id="count-sent">3<' in page.text and "No failed deliveries." in page.text
    listing = viewer.get("/admin/campaigns")
    assert SUBJECT in listing.text and "100 %" in listing.text


def test_pause_resume_and_cancel(sign_in, rt: Runtime, session, smtp: ScriptedSMTP) -> None:  # type: ignore[no-untyped-def]
    three_members(session, rt)
    cid = queue_announcement(rt)
    editor = sign_in("editor")
    page = f"/admin/campaigns/{cid}"
    assert 'id="pause-button"' in editor.get(page).text

    assert post_form(editor, f"{page}/pause", {}, page=page).status_code == 302
    assert progress(editor, cid)["status"] == "paused"
    assert 'id="resume-button"' in editor.get(page).text
    assert rt.sender.drain().sent == 0 and smtp.messages == []
    assert progress(editor, cid)["counts"]["queued"] == 3

    assert post_form(editor, f"{page}/resume", {}, page=page).status_code == 302
    assert progress(editor, cid)["status"] == "active"
    assert post_form(editor, f"{page}/cancel", {}, page=page).status_code == 302
    done = progress(editor, cid)
    assert (done["status"], done["counts"]["skipped"], done["percent"]) == ("cancelled", 3, 100)
    assert rt.sender.drain().sent == 0 and smtp.messages == []
    # A cancelled campaign cannot come back; the page says so instead of failing.
    refused = post_form(editor, f"{page}/resume", {}, page=page)
    assert "cannot be resumed" in editor.get(refused.location).text
    assert [a[1] for a in audit_actions(rt) if a[2] == f"campaign:{cid}"] == [
        "campaign.pause",
        "campaign.resume",
        "campaign.cancel",
    ]
    viewer = sign_in("viewer")
    assert post_form(viewer, f"{page}/pause", {}, page=page).status_code == 403
    assert post_form(editor, "/admin/campaigns/999/pause", {}, page=page).status_code == 404


def test_a_campaign_sent_to_everyone_cannot_be_paused_or_cancelled(  # type: ignore[no-untyped-def]
    sign_in, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    # From a monitor page opened while it was sending (its buttons still there), the CLI or
    # the API: cancelling a finished announcement would call it "cancelled" and take it out of
    # the public archive, though every member got it.
    three_members(session, rt)
    cid = queue_announcement(rt)
    editor = sign_in("editor")
    page = f"/admin/campaigns/{cid}"
    rt.sender.drain()
    assert 'id="cancel-button"' not in editor.get(page).text
    for action in ("pause", "cancel"):
        refused = post_form(editor, f"{page}/{action}", {}, page="/admin/campaigns")
        assert "nothing left to send" in editor.get(refused.location).text
    assert progress(editor, cid)["status"] == "active"
    assert editor.get(f"/archive/practitioners/{cid}").status_code == 200
    assert [a for a in audit_actions(rt) if a[2] == f"campaign:{cid}"] == []


def test_failed_deliveries_show_their_error(  # type: ignore[no-untyped-def]
    viewer: FlaskClient, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    three_members(session, rt)
    smtp.reject_recipient("jan@example.org", 550, "5.1.1 No such user <here>")
    cid = queue_announcement(rt)
    rt.sender.drain()
    data = progress(viewer, cid)
    assert (data["counts"]["sent"], data["counts"]["failed"], data["percent"]) == (2, 1, 100)
    page = viewer.get(f"/admin/campaigns/{cid}")
    problems = page.text[page.text.index('id="problems"') :]
    assert "jan@example.org" in problems and "ana@example.org" not in problems
    assert "No such user &lt;here&gt;" in problems and "<code>550</code>" in problems


def test_bounces_are_counted(viewer: FlaskClient, rt: Runtime, session, smtp) -> None:  # type: ignore[no-untyped-def]
    three_members(session, rt)
    cid = queue_announcement(rt)
    rt.sender.drain()
    with transaction(rt.new_session()) as s:
        for _ in range(2):  # two reports about one address count once
            s.add(
                Bounce(
                    address_hash=address_hash("ion@example.org"),
                    campaign_id=cid,
                    kind="hard",
                    at=rt.clock(),
                )
            )
    assert progress(viewer, cid)["counts"]["bounced"] == 1
    assert 'id="count-bounced">1<' in viewer.get(f"/admin/campaigns/{cid}").text


def test_an_unknown_campaign_is_404(viewer: FlaskClient) -> None:
    assert viewer.get("/admin/campaigns/42").status_code == 404
    assert viewer.get("/admin/campaigns/42/progress").status_code == 404


def test_the_monitor_names_paused_domains(  # type: ignore[no-untyped-def]
    viewer: FlaskClient, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    three_members(session, rt)
    cid = queue_announcement(rt)
    page = viewer.get(f"/admin/campaigns/{cid}")
    assert 'id="pauses"' not in page.text
    smtp.answer_domain("example.org", 421)
    rt.sender.drain()

    page = viewer.get(f"/admin/campaigns/{cid}")
    assert "example.org: paused 5 min after 421" in page.text
    assert "in 5 minutes" in page.text
