"""CSV export from the browser: the CLI's file, formulas neutralised, audited."""

from __future__ import annotations

import csv
import io

from flask import Flask
from sqlalchemy import select
from sqlmodel import Session

from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry
from subscribers.people import imports, members
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.people.helpers import signed_in

FORMULAS = (
    b'email,name,organisation\nana@example.org,=HYPERLINK("x"),'
    b"+cmd|' /C calc'!A0\nbo@example.org,@SUM(1),-2+3\n=1+1@example.org,Tab,\tx\n"
    b"gone@example.org,Gone,\n"
)


def test_export_downloads_the_list_with_formulas_neutralised(
    app: Flask, rt: Runtime, session: Session
) -> None:
    make_list(session, rt.clock())
    with transaction(rt.new_session()) as s:
        imports.import_members(s, "practitioners", FORMULAS, consent_note="test", now=rt.clock())
    with transaction(rt.new_session()) as s:
        members.erase(s, rt.kit, members.find(s, "gone@example.org"), actor="test", now=rt.clock())
    client = signed_in(app, rt, "viewer")
    page = client.get("/admin/members")
    assert "Download CSV" in page.text
    response = client.post(
        "/admin/lists/practitioners/export", data={"csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="practitioners-2026-11-25.csv"'
    )
    with rt.new_session() as s:
        assert response.text == imports.export_members(s, "practitioners")  # the CLI's file
    table = list(csv.reader(io.StringIO(response.text)))
    header = [*imports.COLUMNS, "status", "subscribed_at", "suppressed_at", "suppression"]
    assert table[0] == [*header, "consent_version", "consent_text"]
    assert [row[0] for row in table[1:]] == [
        "ana@example.org",
        "bo@example.org",
        "'=1+1@example.org",
    ]
    cells = [cell for row in table[1:] for cell in row[1:3]]
    assert cells == ['\'=HYPERLINK("x")', "'+cmd|' /C calc'!A0", "'@SUM(1)", "'-2+3", "Tab", "x"]
    with rt.new_session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "members.export")).one()[0]
    assert (entry.actor, entry.target, entry.detail) == (
        "viewer@example.org",
        "list practitioners",
        "members: 3",
    )


def test_export_of_an_unknown_list_is_404(app: Flask, rt: Runtime, session: Session) -> None:
    make_list(session, rt.clock())
    client = signed_in(app, rt, "viewer")
    token = csrf_token(client.get("/admin/members").text)
    assert client.post("/admin/lists/nope/export", data={"csrf_token": token}).status_code == 404


def test_export_needs_a_csrf_token(app: Flask, rt: Runtime, session: Session) -> None:
    make_list(session, rt.clock())
    client = signed_in(app, rt, "viewer")
    assert client.post("/admin/lists/practitioners/export").status_code == 400


def test_the_cli_audits_an_export_and_a_digest_as_the_workspace_does(
    rt: Runtime, session: Session, database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from subscribers.cli.root import main

    make_list(session, rt.clock())
    env = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_SMTP_URL": "capture://",
    }
    runner = CliRunner()
    out = tmp_path / "members.csv"
    exported = runner.invoke(
        main, ["subscribers", "export", "--list", "practitioners", "-o", str(out)], env=env
    )
    digest = runner.invoke(main, ["digest", "send", "practitioners"], env=env)
    assert exported.exit_code == 0 and digest.exit_code == 0, exported.output + digest.output
    with rt.new_session() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("members.export", "list practitioners", "members: 0"),
        ("digest.send", "practitioners", digest.output.strip()),
    ]
    assert all(e.actor.startswith("cli") for e in entries)
