"""Every search and filter input is bounded: a 50,000-character term gets a message, not a 500."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlmodel import Session

from subscribers.cli.root import main
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.invitations.helpers import create
from tests.people.helpers import signed_in
from tests.web.test_registration_input import visible

HUGE = "%_" * 25_000  # 50,000 characters, every one a LIKE wildcard

PAGES = [
    pytest.param("/admin/members", "q", "Search is too long (at most 200 characters).", id="q"),
    *(
        pytest.param("/admin/members", name, "is too long (at most 200 characters).", id=name)
        for name in ("list", "status", "country", "sector", "language")
    ),
    pytest.param("/admin/audit", "actor", "Who is too long (at most 200 characters).", id="actor"),
    pytest.param("/admin/audit", "action", "Action is too long (at most 200", id="action"),
]


@pytest.fixture
def member(rt: Runtime, session: Session) -> None:
    make_member(session, rt.clock(), lists_=(make_list(session, rt.clock()),))


@pytest.mark.parametrize(("path", "name", "message"), PAGES)
def test_a_huge_filter_on_a_staff_page_gets_a_message(
    app: Flask, rt: Runtime, member: None, path: str, name: str, message: str
) -> None:
    client = signed_in(app, rt, "admin")
    page = client.get(f"{path}?{urlencode({name: HUGE})}")
    assert page.status_code == 200
    assert message in visible(page.text)
    # A term within the bound still searches.
    found = client.get(f"/admin/members?{urlencode({'q': 'ANA@EXAMPLE'})}")
    assert "ana@example.org" in found.text


def test_a_huge_list_filter_on_the_news_page_is_not_found(
    app: Flask, rt: Runtime, member: None
) -> None:
    page = signed_in(app, rt, "viewer").get(f"/admin/news?{urlencode({'list': HUGE})}")
    assert page.status_code == 404


def test_a_huge_audience_filter_gets_a_message(app: Flask, rt: Runtime, member: None) -> None:
    client = signed_in(app, rt, "editor")
    answer = client.get(
        f"/admin/announce/count?{urlencode({'list_slug': 'practitioners', 'organisation': HUGE})}"
    )
    assert answer.status_code == 400
    assert answer.json == {
        "error": "Organisation is too long (at most 200 characters).",
        "field": "organisation",
    }


def test_huge_terms_on_the_command_line_get_one_line(
    tmp_path: Path, database_url: str, rt: Runtime, member: None
) -> None:
    event_id = create(rt)
    env = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }
    commands = [
        (["members", "find", HUGE], "Search is too long"),
        (["members", "find", "--list", HUGE], "is too long"),
        (["audit", "--actor", HUGE], "Who is too long"),
        (["audit", "--action", HUGE], "Action is too long"),
        (["events", "invite", str(event_id), "--segment", HUGE], "Segment is too long"),
        (
            ["announce", "--list", "practitioners", "--subject", "S", "--body", "B"]
            + ["--segment", HUGE, "--preview"],
            "Segment is too long",
        ),
    ]
    # Exact lookups by list slug need no bound, but their message quotes only the start.
    for args in (
        ["news", "list", "--list"],
        ["lists", "show"],
        ["subscribers", "export", "--list"],
    ):
        commands.append(([*args, HUGE], "no list '%_%_"))
    for args, message in commands:
        result = CliRunner().invoke(main, args, env=env)
        assert result.exit_code == 1, (args[:2], result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1
        assert len(result.stderr) < 300 and "Traceback" not in result.output
