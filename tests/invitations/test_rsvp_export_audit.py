"""Downloading an event's answers (names and addresses) leaves an audit entry, web and CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from subscribers.cli.root import main
from subscribers.core.models import AuditEntry
from subscribers.runtime import Runtime
from tests.invitations.helpers import answer, create, invite, network
from tests.invitations.test_admin_events import signed_in


def exports(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.new_session() as s:
        rows = s.execute(
            select(AuditEntry).where(AuditEntry.action == "event.rsvps_export")
        ).scalars()
        return [(e.actor, e.target, e.detail) for e in rows]


def test_the_answers_csv_is_audited_on_the_web_and_the_command_line(
    app: Flask, rt: Runtime, session, tmp_path: Path, database_url: str
) -> None:
    _, (ana, _piotr, _ion) = network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")

    response = signed_in(app, rt, "viewer").get(f"/admin/events/{event_id}/rsvps.csv")
    assert response.status_code == 200 and "ana@example.org" in response.text
    assert exports(rt) == [("viewer@example.org", str(event_id), "answers: 3")]

    env = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }
    result = CliRunner().invoke(main, ["events", "rsvps", str(event_id), "--csv"], env=env)
    assert result.exit_code == 0 and "ana@example.org" in result.stdout
    actor, target, detail = exports(rt)[-1]
    assert actor.startswith("cli") and (target, detail) == (str(event_id), "answers: 3")
