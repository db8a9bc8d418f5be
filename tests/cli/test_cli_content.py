"""The command-line twins of the workspace: lists edit, news list / withdraw, campaigns show."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.outbox import Delivery
from subscribers.admin import staff
from subscribers.content import news
from subscribers.core.db import transaction
from subscribers.core.models import MailingList, NewsItem
from subscribers.runtime import Runtime
from tests.cli.invoke import cli_env, run
from tests.conftest import audit_actions
from tests.factories import make_member
from tests.insight.test_monitor import queue_announcement
from tests.smtp_server import ScriptedSMTP


@pytest.fixture
def env(tmp_path: Path, database_url: str, rt: Runtime, session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return cli_env(tmp_path, database_url, rt, session)


def stored(rt: Runtime) -> MailingList:
    with rt.new_session() as s:
        return s.execute(select(MailingList)).scalar_one()


def test_lists_edit_changes_only_what_is_given(env: dict[str, str], rt: Runtime) -> None:
    result = run(
        env,
        "lists", "edit", "practitioners",
        "--reply-to", "team@network.test",
        "--accent-color", "#AA3300",
        "--digest-cron", "0 8 * * fri",
        "--timezone", "Europe/Warsaw",
        "--private",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "list practitioners: changed reply_to, accent_color, digest_cron, timezone, public"
    )
    lst = stored(rt)
    assert (lst.name, lst.reply_to, lst.accent_color) == (
        "Frontline Practitioners Network",
        "team@network.test",
        "#aa3300",
    )
    assert (lst.digest_cron, lst.timezone, lst.public) == ("0 8 * * fri", "Europe/Warsaw", False)
    assert audit_actions(rt) == [("cli", "list.edit", "practitioners")]
    again = run(env, "lists", "edit", "practitioners", "--timezone", "Europe/Warsaw")
    assert again.output.strip() == "list practitioners: no change"
    cleared = run(env, "lists", "edit", "practitioners", "--digest-cron", "")
    assert cleared.exit_code == 0 and stored(rt).digest_cron is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--digest-cron", "61 9 * * mon"), "--digest-cron: not a valid cron expression"),
        (("--timezone", "Mars/Olympus"), "--timezone: unknown time zone"),
        (("--accent-color", "red"), "--accent-color: expected a colour"),
        (("--logo-url", "javascript:alert(1)"), "--logo-url: expected an http(s) URL"),
        (("--from", "News <news@x.test>\nBcc: y@x.test"), "--from: not a valid address"),
        (("--name", ""), "--name: Name: must not be empty"),
    ],
)
def test_lists_edit_refuses_bad_values(
    env: dict[str, str], rt: Runtime, args: tuple[str, ...], expected: str
) -> None:
    before = stored(rt).model_dump()
    result = run(env, "lists", "edit", "practitioners", *args)
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output
    assert stored(rt).model_dump() == before


def test_lists_edit_of_an_unknown_list(env: dict[str, str]) -> None:
    result = run(env, "lists", "edit", "nope", "--name", "X")
    assert result.exit_code == 1 and "no list 'nope'" in result.output


def test_news_list_and_withdraw(env: dict[str, str], rt: Runtime) -> None:
    with transaction(rt.new_session()) as s:
        first = news.add(s, "practitioners", title="First", body="One", link=None, now=rt.clock())
        second = news.add(s, "practitioners", title="Second", body="Two", link=None, now=rt.clock())
    listed = run(env, "news", "list", "--list", "practitioners")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == [
        f"{second.id}\tqueued\t-\tSecond",
        f"{first.id}\tqueued\t-\tFirst",
    ]
    edited = run(env, "news", "edit", str(second.id), "--title", "Second (new)", "--link", "")
    assert edited.exit_code == 0, edited.output
    assert edited.output.strip() == f"news item {second.id} saved"
    with rt.new_session() as s:
        assert (s.get(NewsItem, second.id).title, s.get(NewsItem, second.id).body) == (
            "Second (new)",
            "Two",
        )
    bad = run(env, "news", "edit", str(second.id), "--link", "ftp://x.test/")
    assert bad.exit_code == 1 and "link: expected an http(s) URL" in bad.output
    withdrawn = run(env, "news", "withdraw", str(first.id))
    assert (
        withdrawn.exit_code == 0 and withdrawn.output.strip() == f"news item {first.id} withdrawn"
    )
    assert (
        f"{first.id}\twithdrawn\t-\tFirst"
        in run(env, "news", "list", "--list", "practitioners").output
    )
    again = run(env, "news", "withdraw", str(first.id))
    assert again.exit_code == 1 and "already withdrawn" in again.output
    assert run(env, "news", "withdraw", "999").exit_code == 1
    assert run(env, "news", "list", "--list", "nope").exit_code == 1
    assert ("cli", "news.withdraw", f"news:{first.id}") in audit_actions(rt)
    assert ("cli", "news.edit", f"news:{second.id}") in audit_actions(rt)
    assert run(env, "news", "edit", str(first.id), "--title", "Too late").exit_code == 1


def test_campaigns_show_counts_and_errors(  # type: ignore[no-untyped-def]
    env: dict[str, str], rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    lst = session.execute(select(MailingList)).scalar_one()
    make_member(session, rt.clock(), lists_=(lst,))
    make_member(session, rt.clock(), lists_=(lst,), email="jan@example.org", name="Jan")
    smtp.reject_recipient("jan@example.org", 550, "No such user")
    cid = queue_announcement(rt)
    rt.sender.drain()
    result = run(env, "campaigns", "show", str(cid))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"campaign {cid} (announcement, active): Second transnational workshop"
    assert lines[1] == ("queued 0, sending 0, sent 1, failed 1, skipped 0, bounced 0; 100% done")
    assert lines[2].startswith("failed\tjan@example.org\t550\t") and "No such user" in lines[2]
    missing = run(env, "campaigns", "show", "999")
    assert missing.exit_code == 1 and "no campaign 999" in missing.output


def test_announce_preview_test_and_send_from_the_command_line(  # type: ignore[no-untyped-def]
    env: dict[str, str], rt: Runtime, session, tmp_path: Path
) -> None:
    lst = session.execute(select(MailingList)).scalar_one()
    make_member(session, rt.clock(), lists_=(lst,), name="Ana Sousa")
    make_member(session, rt.clock(), lists_=(lst,), email="jan@example.org", country="PL")
    with transaction(rt.new_session()) as s:
        staff.create(
            s, "comms@network.example.org", "a long enough password", "editor", now=rt.clock()
        )
    body = ("--subject", "Workshop <report>", "--body", "Rooms **met** in May.")
    html = tmp_path / "preview.html"

    shown = run(
        env, "announce", "--list", "practitioners", *body, "--preview", "--html-file", str(html)
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("2 recipients, shown as ")
    assert "Subject: Workshop <report>" in shown.output and "Rooms met in May." in shown.output
    assert "Workshop &lt;report&gt;" in html.read_text(encoding="utf-8")
    assert deliveries(rt) == []

    tested = run(
        env, "announce", "--list", "practitioners", *body, "--test-to", "comms@network.example.org"
    )
    assert tested.exit_code == 0, tested.output
    assert deliveries(rt) == ["comms@network.example.org"]
    nobody = run(env, "announce", "--list", "practitioners", *body, "--test-to", "eve@example.org")
    assert nobody.exit_code == 1 and "no staff account" in nobody.output

    empty = run(env, "announce", "--list", "practitioners", *body, "--segment", "country=SK")
    assert empty.exit_code == 1 and "nobody on this list matches" in empty.output
    sent = run(env, "announce", "--list", "practitioners", *body, "--segment", "country=PL")
    assert sent.exit_code == 0 and "queued for 1 member\n" in sent.output
    assert deliveries(rt) == ["comms@network.example.org", "jan@example.org"]
    assert [a[1] for a in audit_actions(rt)] == ["announce.test", "announce.send"]


def test_an_empty_segment_is_refused_not_read_as_the_whole_list(  # type: ignore[no-untyped-def]
    env: dict[str, str], rt: Runtime, session
) -> None:
    """A script's unset variable (--segment "$WHO") must not mail everyone on the list."""
    lst = session.execute(select(MailingList)).scalar_one()
    make_member(session, rt.clock(), lists_=(lst,))
    body = ("--subject", "Only for Slovakia", "--body", "Meeting in Bratislava.")
    for given in ("", "  "):
        refused = run(env, "announce", "--list", "practitioners", *body, "--segment", given)
        assert refused.exit_code == 2, refused.output
        assert "leave --segment out to reach the whole list" in refused.output
        invited = run(env, "events", "invite", "1", "--segment", given)
        assert invited.exit_code == 2 and "leave --segment out" in invited.output
    assert deliveries(rt) == []


def deliveries(rt: Runtime) -> list[str]:
    with rt.new_session() as s:
        return list(s.execute(select(Delivery.address).order_by(Delivery.id)).scalars())
