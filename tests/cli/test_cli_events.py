"""`newsletter events ...` in-process against the test database (the system clock: 2030 events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from subscribers.cli.root import main
from subscribers.runtime import Runtime
from tests.invitations.helpers import answer, campaigns, create, event_row, network, recipients_of


@pytest.fixture
def cli(tmp_path: Path, database_url: str, engine: Engine):  # type: ignore[no-untyped-def]
    env = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_BASE_URL": "http://newsletter.test",
        "NEWSLETTER_TIMEZONE": "Europe/Lisbon",
    }
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def test_create_invite_update_rsvps_cancel(cli, rt: Runtime, session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, (ana, piotr, ion) = network(session, rt)
    body = tmp_path / "body.md"
    body.write_text("Bring **one case**.\n", encoding="utf-8")
    created = cli(
        "events", "create", "--list", "practitioners", "--title", "Workshop",
        "--start", "2030-03-31T09:00", "--end", "2030-03-31T12:00",
        "--timezone", "Europe/Warsaw", "--location", "Warsaw, ul. Nowy Świat 1",
        "--online-url", "https://meet.network.test/w", "--capacity", "1",
        "--body-file", str(body),
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    event_id = int(created.output.strip())
    event = event_row(rt, event_id)
    # 09:00 in Warsaw on 31 March 2030 is summer time (CEST, UTC+2).
    assert event.start_at == datetime(2030, 3, 31, 7, 0, tzinfo=UTC)
    assert event.timezone == "Europe/Warsaw" and event.description == "Bring **one case**.\n"

    invited = cli("events", "invite", str(event_id), "--segment", "country=PT|PL")
    assert invited.exit_code == 0 and "queued for 2 members" in invited.output
    assert cli("events", "invite", str(event_id)).output.endswith("1 member\n")

    # The CLI clock is the real one: answer through the service at a time before the event.
    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "yes")
    answer(rt, event_id, ion, "no")
    listing = cli("events", "rsvps", str(event_id))
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert (
        lines[0] == "Workshop (scheduled): yes 1 of 1 seats, waiting 1, maybe 0, no 1, no answer 0"
    )
    assert lines[1].startswith("yes\tana@example.org\tAna Sousa\t")
    assert lines[2].startswith("waiting\tpiotr@example.org\t")

    # Only --start given: read in the event's zone; the end stays.
    moved = cli("events", "update", str(event_id), "--start", "2030-03-31T10:00")
    assert moved.exit_code == 0 and "update queued for 2 members" in moved.output
    assert event_row(rt, event_id).start_at == datetime(2030, 3, 31, 8, 0, tzinfo=UTC)
    assert event_row(rt, event_id).sequence == 1
    assert recipients_of(rt, "event_update") == ["ana@example.org", "piotr@example.org"]

    exported = cli("events", "rsvps", str(event_id), "--csv")
    assert exported.output.splitlines()[0].startswith("email,name,organisation")
    assert "ana@example.org,Ana Sousa" in exported.output
    again = cli("events", "resend-join-link", str(event_id), "ana@example.org")
    assert again.exit_code == 0 and "join link queued for ana@example.org" in again.output
    assert recipients_of(rt, "rsvp_confirmation")[-1:] == ["ana@example.org"]
    refused = cli("events", "resend-join-link", str(event_id), "ion@example.org")
    assert refused.exit_code == 1 and "Only a member who said yes" in refused.output

    cancelled = cli("events", "cancel", str(event_id), "--reason", "Room flooded.")
    assert cancelled.exit_code == 0 and "3 members will be told" in cancelled.output
    assert [c.calendar_method for c in campaigns(rt, "event_cancel")] == ["CANCEL"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "tomorrow"), "not an ISO 8601 time"),
        (("--timezone", "Nowhere/City"), "unknown time zone"),
        (("--end", "2030-03-31T08:00"), "must be after the start"),
        (("--list", "nope"), "no list 'nope'"),
    ],
)
def test_bad_options_fail_with_one_line(cli, rt: Runtime, session, args, message) -> None:  # type: ignore[no-untyped-def]
    network(session, rt, "ana")
    options = {
        "--list": "practitioners",
        "--title": "Workshop",
        "--start": "2030-03-31T09:00",
        "--end": "2030-03-31T12:00",
    }
    options.update(dict([args]))
    result = cli("events", "create", *[x for pair in options.items() for x in pair])
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert campaigns(rt) == []


def test_unknown_event_is_one_line(cli, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    for command in ("invite", "cancel", "rsvps", "update"):
        result = cli("events", command, "999")
        assert result.exit_code == 1 and "no event 999" in result.output, command


def test_cli_invites_by_country_name_and_refuses_an_unknown_one(cli, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    network(session, rt)
    event_id = create(rt, start=rt.clock() + timedelta(days=3650))
    refused = cli("events", "invite", str(event_id), "--segment", "country=Polnd")
    assert refused.exit_code != 0
    assert "Did you mean Poland (PL)?" in refused.output
    assert recipients_of(rt, "invitation") == []
    invited = cli("events", "invite", str(event_id), "--segment", "country=Poland")
    assert invited.exit_code == 0, invited.output
    assert "queued for 1 member\n" in invited.output
    assert recipients_of(rt, "invitation") == ["piotr@example.org"]
