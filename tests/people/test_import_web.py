"""CSV import in the browser: upload, preview, consent note, import, report; nothing half-made."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from mailer import outbox
from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry, ConsentEvent, Member, Subscription
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.people.helpers import signed_in

NOTE = "Signed up at the Lisbon workshop, 6 Nov 2024"


@pytest.fixture
def editor(app: Flask, rt: Runtime, session) -> FlaskClient:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    make_list(session, rt.clock(), slug="research", name="Research Network")
    return signed_in(app, rt, "editor")


def upload(client: FlaskClient, raw: bytes, *, filename: str = "members.csv") -> TestResponse:
    form = client.get("/admin/import")
    assert form.status_code == 200
    return client.post(
        "/admin/import",
        data={
            "csrf_token": csrf_token(form.text),
            "list": "practitioners",
            "file": (io.BytesIO(raw), filename),
        },
        content_type="multipart/form-data",
    )


def confirm(
    client: FlaskClient, note: str = NOTE, list_slug: str = "practitioners"
) -> TestResponse:
    preview = client.get("/admin/import/preview")
    return client.post(
        "/admin/import/confirm",
        data={"csrf_token": csrf_token(preview.text), "list": list_slug, "consent_note": note},
        follow_redirects=True,  # to the import's page: its report once done
    )


def emails(rt: Runtime) -> dict[str, Member]:
    with rt.new_session() as s:
        return {m.email or "": m for m in s.execute(select(Member)).scalars()}


def row_count(rt: Runtime, model: type) -> int:
    with rt.new_session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def stored_uploads(rt: Runtime) -> list[Path]:
    return list((Path(rt.settings.instance_path) / "imports").glob("*"))


MIXED = (
    "\ufeffEmail,Name,Organisation,Country,Sector,Language\n"
    "ana@example.org,Ana Sousa,PSP,PT,police,pt\n"
    "not-an-address,Bad,,,,\n"
    "ANA@example.org,Ana again,,,,\n"
    "ion@example.org,Ion Rusu,IGP,MD,police,ro\n"
    "eva@example.org,Eva,,XX,,\n"
    '"=cmd@example.org",Formula,,,,\n'
).encode()


def test_upload_preview_confirm_report(editor: FlaskClient, rt: Runtime) -> None:
    uploaded = upload(editor, MIXED)
    assert uploaded.status_code == 302 and uploaded.location.endswith("/admin/import/preview")
    assert len(stored_uploads(rt)) == 1
    preview = editor.get("/admin/import/preview")
    assert preview.status_code == 200
    text = preview.text
    assert "UTF-8 with BOM" in text and "comma" in text
    assert "Ion Rusu" in text and "new member" in text
    assert "skipped: This email address is not valid" in text
    assert "skipped: duplicate of an earlier line (ana@example.org)" in text
    assert row_count(rt, Member) == 0  # a preview writes nothing
    report = confirm(editor)
    assert report.status_code == 200
    assert "added 3, updated 0, skipped 3" in report.text
    for line, reason in [
        (3, "This email address is not valid"),
        (4, "duplicate of an earlier line (ana@example.org)"),
        (6, "country: please choose one of the options"),
    ]:
        assert f"<tr><td>{line}</td><td>{reason}" in report.text
    # "=cmd@..." is a valid address: it is imported, and neutralised on export
    assert set(emails(rt)) == {"ana@example.org", "ion@example.org", "=cmd@example.org"}
    with rt.new_session() as s:
        notes = s.execute(select(ConsentEvent.note, ConsentEvent.source)).all()
        assert set(notes) == {(NOTE, "import by editor@example.org")}
        audit = s.execute(select(AuditEntry)).scalar_one()
    assert (audit.actor, audit.action, audit.target) == (
        "editor@example.org",
        "members.import",
        "list practitioners",
    )
    assert audit.detail == "members.csv: added 3, updated 0, skipped 3"
    # The stored file is gone: the same import cannot be confirmed twice.
    assert stored_uploads(rt) == []
    again = editor.post(
        "/admin/import/confirm",
        data={"csrf_token": csrf_token(report.text), "list": "practitioners", "consent_note": NOTE},
    )
    assert again.status_code == 302 and again.location.endswith("/admin/import")


def test_latin1_semicolon_file(editor: FlaskClient, rt: Runtime) -> None:
    raw = "email;name;organisation\nmaria@example.org;María Núñez;Fundación Euroárabe\n".encode(
        "latin-1"
    )
    upload(editor, raw)
    preview = editor.get("/admin/import/preview")
    assert "Latin-1" in preview.text and "semicolon" in preview.text
    assert "Fundación Euroárabe" in preview.text
    report = confirm(editor, list_slug="research")
    assert "added 1, updated 0, skipped 0" in report.text
    assert emails(rt)["maria@example.org"].organisation == "Fundación Euroárabe"
    with rt.new_session() as s:
        (sub,) = s.execute(select(Subscription)).scalars()
        assert sub.list_id == 2  # the list chosen at confirmation


def test_lines_in_a_wrong_encoding_are_skipped(editor: FlaskClient, rt: Runtime) -> None:
    raw = (
        b"email,name\n"
        + "jose@example.org,José Núñez\n".encode()
        + "joao@example.org,João Simões\n".encode("latin-1")
        + "ines@example.org,Inês\n".encode()
    )
    upload(editor, raw)
    preview = editor.get("/admin/import/preview")
    assert "UTF-8, some lines not" in preview.text
    report = confirm(editor)
    assert "added 2, updated 0, skipped 1" in report.text
    assert "<tr><td>3</td><td>wrong encoding" in report.text
    found = emails(rt)
    assert set(found) == {"jose@example.org", "ines@example.org"}
    assert found["jose@example.org"].name == "José Núñez"  # not garbled by a Latin-1 fallback


def test_a_known_member_is_updated(editor: FlaskClient, rt: Runtime) -> None:
    upload(editor, b"email,name\nana@example.org,Ana\n")
    confirm(editor)
    upload(editor, b"email,name\nana@example.org,Ana Sousa\n")
    assert "known member: details updated" in editor.get("/admin/import/preview").text
    assert "added 0, updated 1, skipped 0" in confirm(editor).text
    assert emails(rt)["ana@example.org"].name == "Ana Sousa"


def test_suppressed_addresses_are_skipped(editor: FlaskClient, rt: Runtime) -> None:
    with transaction(rt.new_session()) as s:
        outbox.suppress(s, "gone@example.org", reason="hard_bounce", now=rt.clock())
    upload(editor, b"email\ngone@example.org\n")
    assert "skipped: address is suppressed" in editor.get("/admin/import/preview").text
    report = confirm(editor)
    assert "<tr><td>2</td><td>address is suppressed" in report.text and emails(rt) == {}


@pytest.mark.parametrize("note", ["", "   ", "two\nlines"])
def test_consent_note_is_required_and_nothing_is_stored(
    editor: FlaskClient, rt: Runtime, note: str
) -> None:
    upload(editor, MIXED)
    response = confirm(editor, note=note)
    assert response.status_code == 200
    assert "consent note" in response.text and "Check the import" in response.text
    assert row_count(rt, Member) == 0 and row_count(rt, AuditEntry) == 0
    # the file is still there: the editor adds a note and goes on
    assert "added 3" in confirm(editor).text


def test_an_unknown_list_at_confirmation_stores_nothing(editor: FlaskClient, rt: Runtime) -> None:
    upload(editor, MIXED)
    response = confirm(editor, list_slug="nope")
    assert response.status_code == 200 and "no list" in response.text
    assert row_count(rt, Member) == 0


@pytest.mark.parametrize(
    "raw,filename,message",
    [
        (b"name,organisation\nAna,PSP\n", "m.csv", "must name the columns, including"),
        (b"", "m.csv", "The file is empty."),
        (b"PK\x03\x04\x00\x00binary", "m.xlsx", "not a CSV text file"),
        # Two columns of one name: which one holds the address? Neither is guessed.
        (b"email,Email,name\nana@example.org,bo@example.org,Ana\n", "m.csv", "twice"),
        # A broken line refuses the whole file, so the good line before it is not imported.
        (
            b"email,name\nana@example.org,Ana\nbo@example.org," + b"x" * 140_000 + b"\n",
            "m.csv",
            "not readable as CSV after line 2",
        ),
    ],
)
def test_unreadable_files_are_refused_at_upload(
    editor: FlaskClient, rt: Runtime, raw: bytes, filename: str, message: str
) -> None:
    response = upload(editor, raw, filename=filename)
    assert response.status_code == 200 and message in response.text
    assert stored_uploads(rt) == [] and row_count(rt, Member) == 0


def test_no_file_and_no_list_are_messages(editor: FlaskClient, rt: Runtime) -> None:
    form = editor.get("/admin/import")
    response = editor.post("/admin/import", data={"csrf_token": csrf_token(form.text)})
    assert response.status_code == 200 and "Please choose a CSV file." in response.text
    response = editor.post(
        "/admin/import",
        data={"csrf_token": csrf_token(form.text), "file": (io.BytesIO(MIXED), "m.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "Please choose a list." in response.text


def test_a_file_over_5_mb_is_refused_with_a_message(editor: FlaskClient, rt: Runtime) -> None:
    big = b"email\n" + b"a@example.org\n" * (5 * 1024 * 1024 // 14 + 10)
    response = upload(editor, big)
    assert response.status_code == 413
    assert "larger than 5 MB" in response.text and 'type="file"' in response.text
    assert stored_uploads(rt) == []


def test_preview_without_an_upload_sends_back_to_the_form(editor: FlaskClient) -> None:
    response = editor.get("/admin/import/preview", follow_redirects=True)
    assert "No file is waiting to be imported" in response.text


def test_the_client_cannot_choose_the_stored_file(editor: FlaskClient, rt: Runtime) -> None:
    upload(editor, MIXED)
    with editor.session_transaction() as flask_session:
        flask_session["pending_import"] = {"name": "../../etc/passwd", "list": "research"}
    response = editor.get("/admin/import/preview", follow_redirects=True)
    assert "No file is waiting to be imported" in response.text


def test_viewer_cannot_import(app: Flask, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    client = signed_in(app, rt, "viewer")
    assert client.get("/admin/import").status_code == 403
    assert "/admin/import" not in client.get("/admin/members").text  # not in the navigation
