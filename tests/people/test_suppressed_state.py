"""A suppressed address reads as such wherever staff look, and lifting it is audited."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from subscribers.cli.root import main
from subscribers.core.models import AuditEntry, Member
from subscribers.insight import dashboard
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.people.helpers import signed_in


@pytest.fixture
def env(tmp_path: Path, database_url: str, rt: Runtime, session: Session) -> dict[str, str]:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    make_member(session, rt.clock(), lists_=(lst,), email="bo@example.org", name="Bo")
    outbox.suppress(
        session, "Ana@Example.org", reason="hard_bounce", now=rt.clock(), detail="550 5.1.1"
    )
    session.commit()
    return {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }


def run(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def test_members_show_says_bounced_with_date_and_reason(env: dict[str, str]) -> None:
    shown = run(env, "members", "show", "ana@example.org").stdout
    assert "  status: bounced\n" in shown
    assert "  suppressed: bounced since 2026-11-25T09:00+00:00: hard_bounce (550 5.1.1)" in shown
    assert "  status: active\n" in run(env, "members", "show", "bo@example.org").stdout


def test_export_has_the_state_and_when_and_why(env: dict[str, str]) -> None:
    rows = list(
        csv.DictReader(
            io.StringIO(run(env, "subscribers", "export", "--list", "practitioners").stdout)
        )
    )
    by_email = {r["email"]: r for r in rows}
    assert by_email["ana@example.org"]["status"] == "bounced"
    assert by_email["ana@example.org"]["suppressed_at"].startswith("2026-11-25T09:00")
    assert by_email["ana@example.org"]["suppression"] == "hard_bounce: 550 5.1.1"
    assert (by_email["bo@example.org"]["status"], by_email["bo@example.org"]["suppression"]) == (
        "active",
        "",
    )


def test_counts_set_suppressed_apart_from_active(env: dict[str, str], rt: Runtime) -> None:
    assert "active 1, pending 0, unsubscribed 0, suppressed 1" in run(env, "lists", "show").stdout
    with rt.new_session() as session:
        [row] = dashboard.list_counts(session)
    assert (row.by_status["active"], row.by_status["suppressed"]) == (1, 1)


def test_lifting_a_suppression_is_audited_and_mail_flows_again(
    env: dict[str, str], rt: Runtime
) -> None:
    out = run(env, "members", "unsuppress", "ana@example.org").stdout
    assert "suppression lifted (was bounced since" in out
    with rt.new_session() as session:
        assert not outbox.suppressed(session, ["ana@example.org"])
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "suppression.lift")
        ).scalar_one()
        assert entry.actor.startswith("cli") and "hard_bounce" in entry.detail
    assert "  status: active\n" in run(env, "members", "show", "ana@example.org").stdout
    again = CliRunner().invoke(main, ["members", "unsuppress", "ana@example.org"], env=env)
    assert again.exit_code == 1 and "not suppressed" in again.output


def test_the_member_page_and_the_workspace_show_the_bounce(
    env: dict[str, str], app: Flask, rt: Runtime
) -> None:
    client = signed_in(app, rt, "viewer")
    with rt.new_session() as session:
        ana = session.execute(select(Member).where(Member.email == "ana@example.org")).scalar_one()
    page = client.get(f"/admin/members/{ana.id}").get_data(as_text=True)
    assert "<dt>Bounced</dt>" in page and "hard_bounce (550 5.1.1)" in page
    assert "<dt>Status</dt><dd>Bounced</dd>" in page  # not "Active"
    assert "Lift the suppression" not in page  # a viewer cannot
    listing = client.get("/admin/members").get_data(as_text=True)
    rows = {row.split("</a>")[0]: row for row in listing.split('">')[1:] if "</td>" in row}
    assert "<td>Bounced</td>" in rows["ana@example.org"]
    assert "<td>Active</td>" in rows["bo@example.org"]
    home = client.get("/admin/").get_data(as_text=True)
    # Active, pending, unsubscribed, bounced: Ana counts as bounced, not active.
    assert "<td>1</td><td>0</td><td>0</td><td>1</td></tr>" in home


def _ana_id(rt: Runtime) -> int:
    with rt.new_session() as session:
        ana = session.execute(select(Member).where(Member.email == "ana@example.org")).scalar_one()
    assert ana.id is not None
    return ana.id


def _lift_entries(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.new_session() as session:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.action == "suppression.lift")
        ).scalars()
        return [(e.actor, e.target, e.detail) for e in rows]


def test_lifting_from_the_member_page_asks_why_and_a_tick_and_is_audited(
    env: dict[str, str], app: Flask, rt: Runtime
) -> None:
    ana_id = _ana_id(rt)
    url = f"/admin/members/{ana_id}/unsuppress"
    lift = {"reason": "She wrote: the mailbox works again", "sure": "y"}
    viewer = signed_in(app, rt, "viewer")
    token = csrf_token(viewer.get(f"/admin/members/{ana_id}").text)
    assert viewer.post(url, data={**lift, "csrf_token": token}).status_code == 403
    editor = signed_in(app, rt, "editor")
    page = editor.get(f"/admin/members/{ana_id}").text
    assert "Lift the suppression" in page
    assert editor.post(url, data=lift).status_code == 400  # no CSRF token
    token = csrf_token(page)
    for incomplete, complaint in (
        ({"reason": "fixed"}, "Tick the box"),
        ({"sure": "y", "reason": "  "}, "Say why this address may be mailed again."),
        ({"sure": "y", "reason": "line\nbreak"}, "must be a single line of text"),
    ):
        answer = editor.post(url, data={**incomplete, "csrf_token": token})
        assert answer.status_code == 200 and complaint in answer.text, incomplete
    with rt.new_session() as session:
        assert outbox.suppressed(session, ["ana@example.org"]) == {"ana@example.org"}
    assert _lift_entries(rt) == []
    done = editor.post(url, data={**lift, "csrf_token": token}, follow_redirects=True)
    assert "The suppression is lifted" in done.text
    assert "<dt>Status</dt><dd>Active</dd>" in done.text
    with rt.new_session() as session:
        assert not outbox.suppressed(session, ["ana@example.org"])
    [(actor, target, detail)] = _lift_entries(rt)
    assert (actor, target) == ("editor@example.org", f"member {ana_id}")
    assert detail.startswith(lift["reason"] + "; was bounced since 2026-11-25T09:00")
    assert "hard_bounce (550 5.1.1)" in detail
    again = editor.post(url, data={**lift, "csrf_token": token}, follow_redirects=True)
    assert "ana@example.org is not suppressed." in again.text and len(_lift_entries(rt)) == 1
