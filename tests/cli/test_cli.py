"""The `newsletter` command as an operator runs it: a real process against a temp database.

Also checks that the Alembic migrations build exactly the schema the models describe, on SQLite
and (when NEWSLETTER_TEST_DATABASE_URL is set) on a fresh PostgreSQL database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from subscribers.cli.root import main
from subscribers.core.db import make_engine, metadata
from subscribers.core.models import MailingList, Member, StaffUser, Subscription
from tests.conftest import on_postgres, scratch_postgres_database
from tests.smtp_server import ScriptedSMTP

NEWSLETTER = Path(sys.executable).parent / "newsletter"
PASSWORD = "correct horse battery staple"


class Cli:
    """Runs `newsletter` in a temp working directory with its own database and instance."""

    def __init__(self, tmp_path: Path, database_url: str | None = None) -> None:
        self.dir = tmp_path
        self.cwd = tmp_path / "cwd"
        self.cwd.mkdir(exist_ok=True)
        self.database_url = database_url or f"sqlite:///{tmp_path / 'x.db'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        self.env.update(
            NEWSLETTER_DATABASE_URL=self.database_url,
            NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"),
        )

    def __call__(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(NEWSLETTER), *args],
            cwd=self.cwd,
            env={**self.env, **env},
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        result = self(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def fails(self, *args: str, stdin: str | None = None, **env: str) -> str:
        """Non-zero, exactly one line on stderr, no traceback; returns that line."""
        result = self(*args, stdin=stdin, **env)
        assert result.returncode != 0, (args, result.stdout)
        lines = result.stderr.splitlines()
        # On failure show the last lines of stderr only: the end of a traceback says it all.
        traceback = "Traceback" in result.stderr + result.stdout
        assert not traceback, "traceback ending in: " + " | ".join(lines[-3:])
        assert len(lines) == 1, " | ".join(lines[-3:])
        return lines[0]

    def engine(self) -> Engine:
        return make_engine(self.database_url)


class InProcessCli(Cli):
    """The same commands through click's runner: for the many input checks, where a process
    each (a second apiece) would only repeat what the real-process tests already show."""

    def __call__(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        result = CliRunner().invoke(main, list(args), input=stdin or "", env={**self.env, **env})
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            stderr += "Traceback: " + "".join(traceback.format_exception(result.exception))
        return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated by `newsletter db upgrade`, copied for each test that needs one."""
    template = Cli(tmp_path_factory.mktemp("migrated"))
    template.ok("db", "upgrade")
    path = Path(template.database_url.removeprefix("sqlite:///"))
    assert not path.with_name(path.name + "-wal").exists()  # the file alone is the database
    return path


@pytest.fixture
def migrated(cli: Cli, _migrated_template: Path) -> Cli:
    shutil.copyfile(_migrated_template, cli.database_url.removeprefix("sqlite:///"))
    return cli


@pytest.fixture
def migrated_in_process(tmp_path: Path, _migrated_template: Path) -> Cli:
    cli = InProcessCli(tmp_path)
    shutil.copyfile(_migrated_template, cli.database_url.removeprefix("sqlite:///"))
    return cli


# -- help ----------------------------------------------------------------------------------


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def test_help_at_every_level(cli: Cli) -> None:
    out = cli.ok("--help")  # the installed script
    for command in ("db", "serve", "worker", "staff", "lists", "outbox", "campaigns"):
        assert command in out
    assert "demo" not in out.split()  # the hidden seeding command stays hidden
    assert "--role" in cli.ok("staff", "create", "--help")
    # Every group and command, in-process (a process each would take a second each).
    paths = list(command_paths(main))
    assert ("events", "resend-join-link") in paths and ("members", "edit") in paths
    for path in paths:
        result = CliRunner().invoke(main, [*path, "-h"], env=cli.env)
        assert result.exit_code == 0 and "Usage:" in result.output, (path, result.output)
    assert not (cli.dir / "x.db").exists()  # --help touches no database


def test_an_unknown_command_fails(cli: Cli) -> None:
    result = cli("frobnicate")
    assert result.returncode != 0 and "No such command" in result.stderr


def test_a_usage_error_is_one_line_naming_the_help_to_read(cli: Cli) -> None:
    """As every other error (SPEC): not click's usage, hint and message on four lines."""
    line = cli.fails("frobnicate")
    assert line == "Error: No such command 'frobnicate' (see 'newsletter --help')"
    line = cli.fails("events", "create", "--title", "T")
    assert line == "Error: Missing option '--list' (see 'newsletter events create --help')"
    assert cli("events", "create", "--title", "T").returncode == 2
    line = cli.fails("subscribers", "import", "missing.csv", "--list", "practitioners")
    assert "'missing.csv' does not exist" in line
    # Asking a group for its commands, with none given, still shows them.
    assert "invite" in cli("events").stderr


# -- db upgrade ----------------------------------------------------------------------------


def test_db_upgrade_says_which_revisions_it_went_through(cli: Cli) -> None:
    from subscribers.core.migrate import upgrade

    engine = cli.engine()
    try:
        assert upgrade(engine, "0002") == (None, "0002")
    finally:
        engine.dispose()
    assert cli.ok("db", "upgrade").startswith("database migrated from revision 0002 to ")


def test_db_upgrade_creates_the_schema_and_can_run_again(cli: Cli) -> None:
    assert cli.ok("db", "upgrade").startswith("database created (revision ")
    engine = cli.engine()
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        assert "alembic_version" in tables
        with engine.connect() as conn:
            first = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert cli.ok("db", "upgrade").strip() == f"database is up to date (revision {first})"
    engine = cli.engine()
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [v for (v,) in versions] == [first]


@pytest.mark.parametrize(
    "args",
    [("lists", "show"), ("campaigns", "pause", "1")],
)
def test_a_command_before_db_upgrade_fails_with_one_line(cli: Cli, args: tuple[str, ...]) -> None:
    line = cli.fails(*args)
    assert line.startswith("Error: ")


def test_an_unreachable_database_is_one_line(cli: Cli) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    line = cli.fails(
        "lists",
        "show",
        NEWSLETTER_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/newsletter",
    )
    assert line.startswith("Error: ")


# -- staff ---------------------------------------------------------------------------------


def staff_rows(cli: Cli) -> list[StaffUser]:
    engine = cli.engine()
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(StaffUser)).all())
    finally:
        engine.dispose()


def test_staff_create_reads_the_password_from_stdin(migrated: Cli) -> None:
    out = migrated.ok(
        "staff",
        "create",
        "A@Example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert out.strip() == "created admin a@example.org"
    (row,) = staff_rows(migrated)
    assert row.email == "a@example.org" and row.role == "admin"
    assert PASSWORD not in row.password_hash and row.password_hash.startswith("scrypt:")
    from werkzeug.security import check_password_hash

    assert check_password_hash(row.password_hash, PASSWORD)  # the newline is not part of it


def test_staff_create_refuses_a_duplicate(migrated: Cli) -> None:
    migrated.ok(
        "staff", "create", "a@example.org", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    line = migrated.fails(
        "staff", "create", "A@EXAMPLE.ORG", "--role", "editor", "--password-stdin", stdin=PASSWORD
    )
    assert "exists already" in line
    assert [r.role for r in staff_rows(migrated)] == ["admin"]


def test_staff_create_refuses_a_bad_role(migrated: Cli) -> None:
    result = migrated(
        "staff", "create", "b@example.org", "--role", "boss", "--password-stdin", stdin=PASSWORD
    )
    assert result.returncode != 0
    assert "--role" in result.stderr and "Traceback" not in result.stderr
    assert staff_rows(migrated) == []


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_staff_create_refuses_a_short_password(migrated_in_process: Cli, password: str) -> None:
    line = migrated_in_process.fails(
        "staff", "create", "b@example.org", "--role", "viewer", "--password-stdin", stdin=password
    )
    assert "at least 10 characters" in line
    assert staff_rows(migrated_in_process) == []


def test_staff_create_without_a_terminal_asks_for_password_stdin(migrated: Cli) -> None:
    """A script (cron, CI) has no terminal to type in: one line, not getpass's warnings."""
    line = migrated.fails("staff", "create", "b@example.org", "--role", "viewer")
    assert "--password-stdin" in line
    assert staff_rows(migrated) == []


def test_staff_create_refuses_a_bad_address(migrated: Cli) -> None:
    line = migrated.fails(
        "staff", "create", "not-an-address", "--role", "viewer", "--password-stdin", stdin=PASSWORD
    )
    assert "not valid" in line
    assert staff_rows(migrated) == []


def test_staff_list_set_role_unlock_and_remove(migrated_in_process: Cli) -> None:
    cli = migrated_in_process
    for email, role in (("a@example.org", "admin"), ("e@example.org", "editor")):
        cli.ok("staff", "create", email, "--role", role, "--password-stdin", stdin=PASSWORD)
    assert cli.ok("staff", "list").splitlines() == ["a@example.org\tadmin", "e@example.org\teditor"]
    assert cli.ok("staff", "set-role", "E@example.org", "admin").strip() == "e@example.org is admin"
    assert cli.ok("staff", "set-role", "e@example.org", "admin").strip().endswith("already")
    assert cli.ok("staff", "unlock", "e@example.org").strip() == "e@example.org can sign in again"
    assert cli.ok("staff", "remove", "a@example.org").strip() == "removed a@example.org"
    assert "the last admin" in cli.fails("staff", "set-role", "e@example.org", "viewer")
    assert "the last admin" in cli.fails("staff", "remove", "e@example.org")
    assert "no staff account" in cli.fails("staff", "remove", "nobody@example.org")
    assert cli.ok("staff", "list").strip() == "e@example.org\tadmin"


# -- lists ---------------------------------------------------------------------------------


def test_lists_create_and_show(migrated: Cli) -> None:
    out = migrated.ok(
        "lists", "create", "practitioners", "--name", "Frontline", "--digest-cron", "0 9 * * mon"
    )
    assert out.startswith("created list practitioners (id ")
    shown = migrated.ok("lists", "show").splitlines()
    assert shown == ["practitioners\tFrontline\tactive 0, pending 0, unsubscribed 0, suppressed 0"]
    assert migrated.ok("lists", "show", "practitioners").splitlines() == shown
    assert "no list 'nope'" in migrated.fails("lists", "show", "nope")
    engine = migrated.engine()
    try:
        with engine.connect() as conn:
            row = conn.execute(select(MailingList)).one()
    finally:
        engine.dispose()
    assert row.digest_cron == "0 9 * * mon" and row.timezone == "Europe/Lisbon"


def test_lists_show_counts_members_by_status(migrated: Cli) -> None:
    migrated.ok("lists", "create", "practitioners", "--name", "Frontline")
    engine = migrated.engine()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        with Session(engine) as session:
            list_id = session.execute(select(MailingList.id)).scalar_one()
            for i, status in enumerate(["active", "active", "pending", "unsubscribed"]):
                member = Member(email=f"m{i}@example.org", status=status, created_at=now)
                session.add(member)
                session.flush()
                assert member.id is not None
                session.add(
                    Subscription(
                        member_id=member.id,
                        list_id=list_id,
                        status=status,
                        created_at=now,
                        updated_at=now,
                    )
                )
            session.commit()
    finally:
        engine.dispose()
    assert migrated.ok("lists", "show").strip() == (
        "practitioners\tFrontline\tactive 2, pending 1, unsubscribed 1, suppressed 0"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("Bad Slug", "--name", "X"), "slug"),
        (("_under", "--name", "X"), "slug"),
        (("ünïcode", "--name", "X"), "slug"),
        (("a" * 64, "--name", "X"), "slug"),
        (("ok-slug", "--name", "X", "--digest-cron", "every monday"), "--digest-cron"),
        (("ok-slug", "--name", "X", "--digest-cron", "61 9 * * mon"), "--digest-cron"),
        (("ok-slug", "--name", "X", "--timezone", "Mars/Olympus"), "--timezone"),
        (("ok-slug", "--name", "X", "--timezone", "Europe/" + "x" * 3000), "--timezone"),
        (("ok-slug", "--name", "X", "--from", "News <news@example.org>\nBcc: x@y"), "--from"),
        (("ok-slug", "--name", "Line\nBreak"), "name"),
        (("ok-slug", "--name", "   "), "name"),
    ],
)
def test_lists_create_refuses_bad_values(
    migrated_in_process: Cli, args: tuple[str, ...], expected: str
) -> None:
    line = migrated_in_process.fails("lists", "create", *args)
    assert expected in line
    assert migrated_in_process.ok("lists", "show") == ""


def test_lists_create_refuses_a_duplicate(migrated: Cli) -> None:
    migrated.ok("lists", "create", "practitioners", "--name", "Frontline")
    assert "exists already" in migrated.fails("lists", "create", "practitioners", "--name", "Y")
    assert len(migrated.ok("lists", "show").splitlines()) == 1


# -- outbox and campaigns ------------------------------------------------------------------


def test_outbox_status_and_drain_on_an_empty_outbox(migrated: Cli) -> None:
    assert migrated.ok("outbox", "status").strip() == "the outbox is empty"
    assert migrated.ok("outbox", "drain").strip() == "sent 0, retried 0, failed 0, skipped 0"


@pytest.mark.parametrize("verb", ["pause", "resume", "cancel"])
def test_campaign_commands_on_an_unknown_campaign(migrated_in_process: Cli, verb: str) -> None:
    assert "999" in migrated_in_process.fails("campaigns", verb, "999")


def test_campaign_id_must_be_a_number(migrated: Cli) -> None:
    result = migrated("campaigns", "pause", "abc")
    assert result.returncode != 0 and "Traceback" not in result.stderr


# -- the migrations build the models' schema -----------------------------------------------


def schema_differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_migrations_match_the_models_on_sqlite(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    assert schema_differences(cli.database_url) == []


@pytest.fixture
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database next to the shared test one, dropped afterwards."""
    if not on_postgres():
        pytest.skip("NEWSLETTER_TEST_DATABASE_URL does not point at PostgreSQL")
    with scratch_postgres_database("test_migrations") as url:
        yield url


def test_migrations_match_the_models_on_postgres(
    tmp_path: Path, fresh_postgres_database: str
) -> None:
    cli = Cli(tmp_path, fresh_postgres_database)
    cli.ok("db", "upgrade")
    cli.ok("db", "upgrade")
    assert schema_differences(fresh_postgres_database) == []
    # And the command line works against it.
    cli.ok("lists", "create", "practitioners", "--name", "Frontline")
    assert cli.ok("lists", "show").startswith("practitioners\tFrontline\t")


def test_a_command_before_db_upgrade_on_postgres_fails_with_one_line(
    tmp_path: Path, fresh_postgres_database: str
) -> None:
    # PostgreSQL reports a missing table as a ProgrammingError, not an OperationalError.
    cli = Cli(tmp_path, fresh_postgres_database)
    assert cli.fails("lists", "show").startswith("Error: ")
    assert cli.fails("outbox", "status").startswith("Error: ")


def test_demo_seeds_an_empty_database_once_with_members_news_and_an_event(migrated: Cli) -> None:
    # What `make run` does after `db upgrade`: something on every page, and a login to see it.
    first = migrated.ok("demo")
    assert first.startswith("staff login: comms@example.org / ")
    assert migrated.ok("demo") == first  # the same login again, nothing created twice
    queued = migrated.ok("news", "list", "--list", "practitioners")
    assert queued.startswith("1\tqueued\t") and len(queued.splitlines()) == 1
    engine = migrated.engine()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM staff_user")).scalar_one() == 1
    engine.dispose()
    # Members in every country of the network, so an invitation has somebody to go to.
    assert "active 7, pending 0" in migrated.ok("lists", "show")
    assert "queued for 7 members" in migrated.ok("events", "invite", "1")


def test_outbox_drain_with_several_processes_sends_each_message_once(
    migrated: Cli, smtp: ScriptedSMTP
) -> None:
    migrated.ok("lists", "create", "practitioners", "--name", "Frontline")
    rows = "\n".join(f"m{i}@example.org,Member {i}" for i in range(60))
    (migrated.dir / "members.csv").write_text("email,name\n" + rows + "\n", encoding="utf-8")
    migrated.ok(
        "subscribers", "import", str(migrated.dir / "members.csv"),
        "--list", "practitioners", "--consent-note", "signed up at the workshop",
    )  # fmt: skip
    migrated.ok("announce", "--list", "practitioners", "--subject", "Hello", "--body", "Hi.")

    smtp_env = {"NEWSLETTER_SMTP_URL": f"smtp://{smtp.host}:{smtp.port}"}
    result = migrated("outbox", "drain", "--processes", "2", **smtp_env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sent 60, retried 0, failed 0, skipped 0"
    received = sorted(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
    assert received == sorted(f"m{i}@example.org" for i in range(60))
    assert "sent 60" in migrated.ok("outbox", "status")


def test_serve_lets_its_threads_take_turns_every_millisecond(
    migrated_in_process: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that gives up the interpreter lock at a database round trip wins it back
    within a millisecond, not 5 (subscribers.cli.root.serving_threads_take_turns_quickly)."""
    import waitress

    seen: list[float] = []

    class Server:
        def run(self) -> None:
            seen.append(sys.getswitchinterval())

    monkeypatch.setattr(waitress, "create_server", lambda *_a, **_k: Server())
    before = sys.getswitchinterval()
    try:
        migrated_in_process.ok("serve", "--no-worker", "--port", "1")
    finally:
        sys.setswitchinterval(before)
    assert seen == [pytest.approx(0.001)]


def test_serve_on_a_port_in_use_is_one_line_naming_it(migrated: Cli) -> None:
    """Nothing says "serving" (and no worker starts) before the port is ours."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = migrated("serve", "--port", port)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot serve on 127.0.0.1:{port}: Address already in use"
    ]
    assert "serving on" not in result.stdout


def test_announce_at_a_past_time_is_refused_and_queues_nothing(migrated_in_process: Cli) -> None:
    # The rule lives in campaigns.create_announcement: the CLI once accepted a past --at that
    # the web form refused.
    cli = migrated_in_process
    cli.ok("lists", "create", "practitioners", "--name", "Frontline")
    line = cli.fails(
        "announce", "--list", "practitioners", "--subject", "Hi", "--body", "Hi.",
        "--at", "2020-01-01T09:00",
    )  # fmt: skip
    assert "This time has passed" in line
    assert "the outbox is empty" in cli.ok("outbox", "status")
