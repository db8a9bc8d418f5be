"""Issue 12.3: the public archive publishes whole-list mail by default, segment-only mail only
when staff choose so, and its web copy greets nobody and carries no member links."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text

from mailer.outbox import Campaign
from subscribers.cli.root import main
from subscribers.content import news
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.content.digests import create_digest
from subscribers.core.db import transaction
from subscribers.core.migrate import upgrade
from subscribers.core.models import AuditEntry
from subscribers.core.settings import Settings
from subscribers.people.segments import Segment
from subscribers.runtime import Runtime
from tests.conftest import audit_actions, post_form
from tests.content.test_announce import announce as announce_on_the_web
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP
from tests.web.test_journey import text_of

BODY = "The network meets online on **6 November**."


@pytest.fixture
def members(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,), name="Ana Sousa")
    make_member(session, rt.clock(), lists_=(lst,), email="jan@example.org", country="PL")


def send(rt: Runtime, subject: str, segment: str = "", archive: bool | None = None) -> int:
    with transaction(rt.new_session()) as s:
        campaign, _count = create_announcement(
            s,
            rt.kit,
            Announcement("practitioners", subject, BODY, Segment.parse(segment), archive=archive),
            now=rt.clock(),
        )
    assert campaign.id is not None
    return campaign.id


def feed_titles(client: FlaskClient) -> list[str]:
    root = ET.fromstring(client.get("/archive/practitioners/feed.atom").data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    return [e.findtext("a:title", namespaces=ns) or "" for e in root.findall("a:entry", ns)]


def published(rt: Runtime, campaign_id: int) -> bool:
    with rt.new_session() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.in_archive


@pytest.mark.usefixtures("members")
def test_segment_only_mail_stays_out_of_the_archive_and_its_feed(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP
) -> None:
    whole = send(rt, "For everyone")
    poland = send(rt, "Poland only", "country=PL")
    assert client.get(f"/archive/practitioners/{poland}").status_code == 404
    assert client.get(f"/archive/practitioners/{whole}").status_code == 200
    assert feed_titles(client) == ["For everyone"]
    index = client.get("/archive/practitioners").text
    assert "For everyone" in index and "Poland only" not in index
    # Its mail does not offer a "view in your browser" page that would not exist.
    rt.sender.drain()
    polish = next(m.message for m in smtp.messages if "Poland only" in m.message["Subject"])
    assert "/archive/" not in text_of(polish)


@pytest.mark.usefixtures("members")
def test_the_web_copy_greets_nobody_and_has_no_member_links(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP
) -> None:
    campaign_id = send(rt, "Workshop report")
    rt.sender.drain()
    mail = smtp.messages[0].message
    assert "Hello" in text_of(mail)  # the member's copy greets them

    page = client.get(f"/archive/practitioners/{campaign_id}").text
    assert "6 November" in page and "Workshop report" in page
    assert "Hello" not in page and "reader" not in page
    for member_link in ("/register", "/manage", "/unsubscribe", "/rsvp", "/archive/"):
        assert member_link not in page, member_link
    assert "Manage your subscription" not in page
    assert "You receive this because" not in page
    assert "@@" not in page


def test_a_digest_is_published_without_greeting(client: FlaskClient, rt: Runtime, session) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    with transaction(rt.new_session()) as s:
        news.add(
            s, "practitioners", title="Field notes", body="From **Lisbon**.", link=None,
            now=rt.clock(),
        )  # fmt: skip
    with transaction(rt.new_session()) as s:
        outcome = create_digest(s, rt.kit, "practitioners", now=rt.clock())
    page = client.get(f"/archive/practitioners/{outcome.campaign_id}")
    assert page.status_code == 200 and "Field notes" in page.text
    assert "Hello" not in page.text and "/manage" not in page.text


@pytest.mark.usefixtures("members")
def test_staff_choice_overrides_the_default_both_ways(client: FlaskClient, rt: Runtime) -> None:
    poland = send(rt, "Poland, published", "country=PL", archive=True)
    everyone = send(rt, "Everyone, unpublished", archive=False)
    assert client.get(f"/archive/practitioners/{poland}").status_code == 200
    assert client.get(f"/archive/practitioners/{everyone}").status_code == 404
    assert feed_titles(client) == ["Poland, published"]


@pytest.mark.usefixtures("members")
def test_the_announce_form_offers_the_choice_and_the_confirmation_states_it(
    editor: FlaskClient, client: FlaskClient, rt: Runtime
) -> None:
    form = editor.get("/admin/announce").text
    assert 'name="archive" value="auto" id="archive-auto" checked' in form

    # A segment with "Yes, publish it": the confirmation says so, and it is published.
    asking = post_form(
        editor,
        "/admin/announce",
        {"list_slug": "practitioners", "subject": "PL call", "body": BODY, "action": "send",
         "country": "PL", "archive": "yes"},
    )  # fmt: skip
    assert "It will also be published in the list&#39;s public archive." in asking.text
    done = announce_on_the_web(editor, "send", country="PL", archive="yes")
    poland = int(re.search(r"/admin/campaigns/(\d+)", done.headers["Location"]).group(1))
    assert published(rt, poland)
    assert client.get(f"/archive/practitioners/{poland}").status_code == 200
    assert 'id="campaign-archive"><a href' in editor.get(f"/admin/campaigns/{poland}").text

    # The whole list with "No": not published, and the confirmation said it would not be.
    asking = post_form(
        editor,
        "/admin/announce",
        {"list_slug": "practitioners", "subject": "Quiet", "body": BODY, "action": "send",
         "archive": "no"},
    )  # fmt: skip
    assert "It will not be published in the public archive." in asking.text
    done = announce_on_the_web(editor, "send", archive="no")
    quiet = int(re.search(r"/admin/campaigns/(\d+)", done.headers["Location"]).group(1))
    assert not published(rt, quiet)
    assert client.get(f"/archive/practitioners/{quiet}").status_code == 404
    assert "Not published" in editor.get(f"/admin/campaigns/{quiet}").text
    assert [a[1] for a in audit_actions(rt)].count("announce.send") == 2

    # Left to the default (or a forged value), a segment stays out, the whole list goes in.
    done = announce_on_the_web(editor, "send", country="PL", archive="maybe")
    default_pl = int(re.search(r"/admin/campaigns/(\d+)", done.headers["Location"]).group(1))
    done = announce_on_the_web(editor, "send")
    default_all = int(re.search(r"/admin/campaigns/(\d+)", done.headers["Location"]).group(1))
    assert (published(rt, default_pl), published(rt, default_all)) == (False, True)


def cli_announce(settings: Settings, *args: str) -> int:
    """Run ``newsletter announce`` on the test's database; the campaign id it prints."""
    env = {"NEWSLETTER_DATABASE_URL": settings.database_url, "NEWSLETTER_SECRET_KEY": "k" * 32}
    result = CliRunner().invoke(
        main,
        ["announce", "--list", "practitioners", "--subject", "S", "--body", BODY, *args],
        env={**env, "NEWSLETTER_INSTANCE_PATH": str(settings.instance_path)},
    )
    assert result.exit_code == 0, result.output
    return int(re.search(r"campaign (\d+) queued", result.output).group(1))


@pytest.mark.usefixtures("members")
def test_cli_archive_flags_override_the_default_both_ways(settings: Settings, rt: Runtime) -> None:
    assert published(rt, cli_announce(settings))
    assert not published(rt, cli_announce(settings, "--segment", "country=PL"))
    assert not published(rt, cli_announce(settings, "--no-archive"))
    assert published(rt, cli_announce(settings, "--segment", "country=PL", "--archive"))
    with rt.new_session() as s:
        details = s.execute(select(AuditEntry.detail).order_by(AuditEntry.id)).scalars().all()
    assert [d.rsplit("; ", 1)[1] for d in details] == [
        "archive: yes",
        "archive: no",
        "archive: no",
        "archive: yes",
    ]
    assert details[0].startswith("recipients: 2; segment: all")


def test_0018_unpublishes_existing_segment_only_announcements(old_engine: Engine) -> None:
    upgrade(old_engine, "0017")
    when = "2026-11-25 09:00:00"
    with old_engine.begin() as conn:
        for cid, kind in [
            (1, "announcement"),
            (2, "announcement"),
            (3, "digest"),
            (4, "welcome"),
            (5, "announcement"),
            (6, "announcement"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO campaign (id, kind, subject, html, text, sender, bulk, status,"
                    " created_at, total, language) VALUES (:id, :kind, 's', 'h', 't',"
                    " 'n@example.org', true, 'active', :when, 0, 'en')"
                ),
                {"id": cid, "kind": kind, "when": when},
            )
        for target, detail in [
            ("campaign:1", "3 recipient(s); segment "),  # whole list, as main wrote it
            ("campaign:2", "1 recipient(s); segment country=PL; send after 2026-12-01"),
            ("campaign:5", "recipients: 4; segment: all"),  # as main writes it today
            ("campaign:6", "recipients: 1; segment: sector=ngo"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO audit_entry (at, actor, action, target, detail)"
                    " VALUES (:when, 'cli', 'announce.send', :target, :detail)"
                ),
                {"when": when, "target": target, "detail": detail},
            )
    upgrade(old_engine, "0018")
    with old_engine.connect() as conn:
        rows = conn.execute(text("SELECT id, in_archive FROM campaign ORDER BY id")).all()
    assert [(r[0], bool(r[1])) for r in rows] == [
        (1, True),
        (2, False),
        (3, True),
        (4, False),
        (5, True),
        (6, False),
    ]
