"""Click statistics: a link followed from a mail really sent over SMTP, counted privately."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.core.models import LinkClick, MailingList
from subscribers.insight import clicks
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

REPORT = "https://example.com/report?id=1&lang=en"
BODY = f"Read [the report]({REPORT}) and the [agenda](https://example.com/agenda)."


def send(rt: Runtime, session, smtp: ScriptedSMTP, *, record: bool = False) -> int:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock(), record_clicks=record)
    for name in ("ana", "bo"):
        make_member(session, rt.clock(), lists_=(lst,), email=f"{name}@example.org", name=name)
    session.commit()
    with transaction(rt.new_session()) as s:
        campaign, _ = create_announcement(
            s, rt.kit, Announcement("practitioners", "Report", BODY), now=rt.clock()
        )
    rt.sender.drain()
    assert campaign.id is not None
    return campaign.id


def links_in_mail(smtp: ScriptedSMTP, to: str) -> tuple[list[str], list[str]]:
    """The href targets of the HTML part and the URLs of the text part of ``to``'s mail."""
    [message] = [m.message for m in smtp.messages if to in m.rcpt_tos]
    html = text = ""
    for part in message.walk():
        if part.get_content_type() == "text/html":
            html = part.get_content()
        elif part.get_content_type() == "text/plain":
            text = part.get_content()
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    return hrefs, re.findall(r"https?://\S+", text)


def tracked(urls: list[str]) -> list[str]:
    return [u for u in urls if "/c/" in u]


def follow(client: FlaskClient, url: str):  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    return client.get(parts.path + ("?" + parts.query if parts.query else ""))


def figures(rt: Runtime, cid: int) -> clicks.ClickFigures:
    with rt.new_session() as s:
        return clicks.figures(s, cid)


def test_a_link_from_a_sent_mail_counts_the_click_and_the_clicker(  # type: ignore[no-untyped-def]
    rt: Runtime, session, smtp: ScriptedSMTP, client: FlaskClient
) -> None:
    cid = send(rt, session, smtp)
    hrefs, text_urls = links_in_mail(smtp, "ana@example.org")
    assert REPORT not in hrefs and len(tracked(hrefs)) == 2
    # Unsubscribe and manage links are the member's own, never rewritten.
    assert any("/unsubscribe/" in h for h in hrefs) and any("/manage/" in h for h in hrefs)
    assert not any("/c/" in h for h in hrefs if "/unsubscribe/" in h or "/manage/" in h)
    assert tracked(text_urls)  # the plain-text part's links too

    report = next(h for h in tracked(hrefs) if ".0." in h)
    answer = follow(client, report)
    assert answer.status_code == 302 and answer.headers["Location"] == REPORT
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    follow(client, report)  # the same member again: one more click, the same clicker
    bo_hrefs, _ = links_in_mail(smtp, "bo@example.org")
    bo_report = next(h for h in tracked(bo_hrefs) if ".0." in h)
    assert bo_report != report  # the recipient's reference differs, the link token does not
    assert bo_report.split("?")[0] == report.split("?")[0]
    follow(client, bo_report)

    found = figures(rt, cid)
    assert [(link.url, link.clicks) for link in found.links] == [
        (REPORT, 3),
        ("https://example.com/agenda", 0),
    ]
    assert found.clicks == 3 and found.clickers == 2
    assert sum(n for _hour, n in found.by_hour) == 3
    with rt.new_session() as s:  # no list consent to record clicks per member
        assert {c.member_id for c in s.execute(select(LinkClick)).scalars()} == {None}


def test_only_the_campaigns_own_links_are_reachable(  # type: ignore[no-untyped-def]
    rt: Runtime, session, smtp: ScriptedSMTP, client: FlaskClient
) -> None:
    cid = send(rt, session, smtp)
    hrefs, _ = links_in_mail(smtp, "ana@example.org")
    good = urlsplit(tracked(hrefs)[0])
    token = good.path.rsplit("/", 1)[1]
    campaign, index, mac = token.split(".")
    for bad in (
        f"/c/{campaign}.{index}.{'0' * len(mac)}",  # forged signature
        f"/c/{campaign}.7.{mac}",  # another link number with this signature
        f"/c/{int(campaign) + 1}.{index}.{mac}",  # another campaign
        f"/c/{clicks.link_token(rt.kit.signer, cid, 99)}",  # signed, but no such link
        "/c/https%3A%2F%2Fevil.example",
        "/c/..",
    ):
        answer = client.get(bad + "?r=1.000000000000")
        assert answer.status_code == 404, bad
        assert "Location" not in answer.headers
    assert figures(rt, cid).clicks == 0
    # A forged recipient reference still counts the click, but no clicker.
    answer = client.get(f"{good.path}?r=1.{'f' * 12}")
    assert answer.status_code == 302
    assert (figures(rt, cid).clicks, figures(rt, cid).clickers) == (1, 0)


def test_the_clicker_key_is_destroyed_thirty_days_after_the_send(  # type: ignore[no-untyped-def]
    rt: Runtime, session, smtp: ScriptedSMTP, client: FlaskClient
) -> None:
    cid = send(rt, session, smtp)
    hrefs, _ = links_in_mail(smtp, "ana@example.org")
    follow(client, tracked(hrefs)[0])
    import scheduler

    scheduler.bind(rt)
    rt.clock.advance(days=29)
    assert scheduler.forget_click_keys() == 0
    rt.clock.advance(days=1, seconds=1)
    assert scheduler.forget_click_keys() == 1
    follow(client, tracked(hrefs)[0])
    found = figures(rt, cid)
    # Clicks still count; clickers stay as they were and no hash can be tied to anyone now.
    assert (found.clicks, found.clickers, found.key_forgotten) == (2, 1, True)


def test_a_list_whose_consent_says_so_records_clicks_per_member(  # type: ignore[no-untyped-def]
    rt: Runtime, session, smtp: ScriptedSMTP, client: FlaskClient, sign_in
) -> None:
    cid = send(rt, session, smtp, record=True)
    hrefs, _ = links_in_mail(smtp, "bo@example.org")
    follow(client, tracked(hrefs)[1])
    found = figures(rt, cid)
    assert [(m.email, n) for m, n in found.members] == [("bo@example.org", 1)]
    page = sign_in("viewer").get(f"/admin/campaigns/{cid}")
    assert page.status_code == 200 and 'id="clicks"' in page.text
    assert "https://example.com/agenda" in page.text and 'id="clicks-over-time"' in page.text
    assert "bo@example.org" in page.text
    with rt.new_session() as s:
        assert s.execute(select(MailingList)).scalar_one().record_clicks


def test_lists_edit_turns_recording_per_member_on_and_off(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from subscribers.cli.root import main

    make_list(session, rt.clock())
    env = {
        "NEWSLETTER_DATABASE_URL": rt.settings.database_url,
        "NEWSLETTER_SECRET_KEY": rt.settings.secret_key,
        "NEWSLETTER_INSTANCE_PATH": rt.settings.instance_path,
    }
    for flag, expected in (("--record-clicks", True), ("--no-record-clicks", False)):
        result = CliRunner().invoke(main, ["lists", "edit", "practitioners", flag], env=env)
        assert result.exit_code == 0, result.output
        with rt.new_session() as s:
            assert s.execute(select(MailingList)).scalar_one().record_clicks is expected
