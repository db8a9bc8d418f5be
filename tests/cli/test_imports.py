"""`newsletter subscribers import/export`: encodings, bad lines, duplicates, formula-safe export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from mailer import outbox
from subscribers.core.models import ConsentEvent, Member, Subscription
from subscribers.runtime import Runtime
from tests.cli.invoke import cli_env, run


@pytest.fixture
def env(tmp_path: Path, database_url: str, rt: Runtime, session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return cli_env(tmp_path, database_url, rt, session)


def import_bytes(env: dict[str, str], tmp_path: Path, raw: bytes) -> Result:
    path = tmp_path / "members.csv"
    path.write_bytes(raw)
    return run(
        env,
        "subscribers",
        "import",
        str(path),
        "--list",
        "practitioners",
        "--consent-note",
        "Signed up at the Lisbon workshop, 6 Nov 2024",
    )


def members(rt: Runtime) -> dict[str, Member]:
    with rt.new_session() as s:
        return {m.email: m for m in s.execute(select(Member)).scalars()}


def test_utf8_bom_file_with_bad_and_duplicate_lines(env, tmp_path, rt: Runtime) -> None:  # type: ignore[no-untyped-def]
    raw = (
        "\ufeffEmail,Name,Organisation,Country,Sector,Language\n"
        "ana@example.org,Ana Sousa,PSP,PT,police,pt\n"
        "not-an-address,Bad,,,,\n"
        "ANA@example.org,Ana again,,,,\n"
        "ion@example.org,Ion Rusu,IGP,MD,police,ro\n"
        "eva@example.org,Eva,,XX,,\n"
        'zed@example.org,"Zed\r\nBcc: x@y",,,,\n'
    ).encode("utf-8")
    result = import_bytes(env, tmp_path, raw)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("added 2, updated 0, skipped 4")
    assert "line 3: This email address is not valid" in result.output
    assert "line 4: duplicate of an earlier line (ana@example.org)" in result.output
    assert "line 6: country" in result.output
    assert "line 8: name must be a single line" in result.output
    found = members(rt)
    assert set(found) == {"ana@example.org", "ion@example.org"}
    assert found["ion@example.org"].country == "MD" and found["ion@example.org"].status == "active"
    with rt.new_session() as s:
        consents = s.execute(select(ConsentEvent)).scalars().all()
        assert {c.note for c in consents} == {"Signed up at the Lisbon workshop, 6 Nov 2024"}
        assert len(s.execute(select(Subscription)).scalars().all()) == 2


def test_latin1_semicolon_file(env, tmp_path, rt: Runtime) -> None:  # type: ignore[no-untyped-def]
    raw = "email;name;organisation\nmaria@example.org;María Núñez;Fundación Euroárabe\n".encode(
        "latin-1"
    )
    result = import_bytes(env, tmp_path, raw)
    assert result.exit_code == 0 and "added 1" in result.output
    assert members(rt)["maria@example.org"].organisation == "Fundación Euroárabe"


def test_import_updates_but_never_resubscribes_someone_who_left(env, tmp_path, rt) -> None:  # type: ignore[no-untyped-def]
    import_bytes(env, tmp_path, b"email,name\nana@example.org,Ana\n")
    from subscribers.core.db import transaction
    from subscribers.people.preferences import unsubscribe

    with transaction(rt.new_session()) as s:
        unsubscribe(s, s.execute(select(Member)).scalar_one(), now=rt.clock())
    result = import_bytes(env, tmp_path, b"email,name\nana@example.org,Ana Sousa\n")
    assert "updated 1" in result.output
    ana = members(rt)["ana@example.org"]
    assert ana.name == "Ana Sousa" and ana.status == "unsubscribed"


def test_suppressed_addresses_are_skipped(env, tmp_path, rt) -> None:  # type: ignore[no-untyped-def]
    from subscribers.core.db import transaction

    with transaction(rt.new_session()) as s:
        outbox.suppress(s, "gone@example.org", reason="hard_bounce", now=rt.clock())
    result = import_bytes(env, tmp_path, b"email\ngone@example.org\n")
    assert "line 2: address is suppressed" in result.output and members(rt) == {}


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"name\nAna\n", "must name the columns, including 'email'"),
        (b"email,name,Name\nana@example.org,Ana,Bo\n", "names the column 'name' twice"),
    ],
)
def test_a_file_without_an_email_column_is_refused(env, tmp_path, raw, message) -> None:  # type: ignore[no-untyped-def]
    result = import_bytes(env, tmp_path, raw)
    assert result.exit_code != 0 and message in result.output


def test_consent_note_is_required(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.csv"
    path.write_bytes(b"email\nana@example.org\n")
    result = run(env, "subscribers", "import", str(path), "--list", "practitioners")
    assert result.exit_code != 0 and "consent note is required" in result.output


def test_export_neutralises_formulas(env, tmp_path, rt) -> None:  # type: ignore[no-untyped-def]
    import_bytes(
        env,
        tmp_path,
        b'email,name,organisation\nana@example.org,=HYPERLINK("x"),'
        b"+cmd|' /C calc'!A0\nbo@example.org,@SUM(1),-2+3\n",
    )
    result = run(env, "subscribers", "export", "--list", "practitioners")
    assert result.exit_code == 0
    table = list(csv.reader(io.StringIO(result.output)))
    assert table[0][:3] == ["email", "name", "organisation"]
    cells = [cell for row in table[1:] for cell in row[1:3]]
    assert cells == ['\'=HYPERLINK("x")', "'+cmd|' /C calc'!A0", "'@SUM(1)", "'-2+3"]
