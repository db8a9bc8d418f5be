"""Shared fixtures: real SMTP servers on loopback, a database per test, the app and its clock.

The suite runs on SQLite by default and on PostgreSQL when NEWSLETTER_TEST_DATABASE_URL points
at one (``.ci/run`` does both). SQLite gets a fresh file per test; PostgreSQL gets the schema once
and every table emptied after each test, because the outbox tests need real commits.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, make_url, select, text

from mailer.clock import FrozenClock
from mailer.transport import SmtpTransport
from subscribers.admin import staff
from subscribers.core.db import make_engine, metadata, session_factory, transaction
from subscribers.core.models import AuditEntry, ConsentWording
from subscribers.core.settings import Settings, load
from subscribers.people.consent import seed as seed_consent_wording
from subscribers.runtime import Runtime

if TYPE_CHECKING:
    from tests.smtp_server import ScriptedSMTP


pytest_plugins = ["tests.smtp_server"]

TEST_DATABASE_URL = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
CHECKOUT = Path(__file__).resolve().parent.parent
# Files no test may ever touch; the session guard below fails the run if one changed.
GUARDED_FILES = [Path("/etc/passwd"), Path("/etc/group"), Path("/etc/hosts")]


def _machine_state() -> dict[str, object]:
    """What the suite must leave as it found it: system files and the checkout's git status."""
    state: dict[str, object] = {}
    for path in GUARDED_FILES:
        with contextlib.suppress(OSError):
            info = path.stat()
            state[str(path)] = (info.st_mtime_ns, info.st_size)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        state["git status"] = subprocess.run(
            ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--untracked-files=all"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    return state


def pytest_sessionstart(session: pytest.Session) -> None:
    # Under xdist the controller records and checks; its workers finish before it does.
    if not hasattr(session.config, "workerinput"):
        session.config.stash[_STATE_KEY] = _machine_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_STATE_KEY, None)
    if before is None:
        return
    after = _machine_state()
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "The suite changed files outside its temp dirs: " + ", ".join(changed)
        if "git status" in changed:
            was = set(str(before.get("git status", "")).splitlines())
            now = str(after.get("git status", "")).splitlines()
            new = [line for line in now if line not in was]
            message += "\n" + "\n".join(new)
        if reporter is not None:
            reporter.write_line(message, red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_STATE_KEY = pytest.StashKey[dict[str, object]]()


@pytest.fixture(autouse=True)
def _isolated_cwd_and_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test runs in a temp dir of its own with no NEWSLETTER_* settings from outside.

    A relative path a test (or the code under test) writes lands in that dir, and a `.env` in
    the directory pytest was started from is never read.
    """
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    for name in list(os.environ):
        if name.startswith("NEWSLETTER_"):
            monkeypatch.delenv(name)


def on_postgres() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


@contextlib.contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on the server NEWSLETTER_TEST_DATABASE_URL names, dropped afterwards.

    Every test run gets its own, so two runs on one server (CI beside a developer) never meet.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str | None]:
    if not on_postgres():
        yield None
        return
    with scratch_postgres_database("test_run") as url:
        yield url


@pytest.fixture(scope="session")
def _postgres_engine(_postgres_url: str | None) -> Iterator[Engine | None]:
    if _postgres_url is None:
        yield None
        return
    engine = make_engine(_postgres_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def old_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own for a migration test to build with Alembic, step by step:
    SQLite, or a scratch PostgreSQL database when the suite runs on PostgreSQL."""
    if on_postgres():
        with scratch_postgres_database("migration") as url:
            engine = make_engine(url)
            yield engine
            engine.dispose()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, _postgres_url: str | None, _postgres_engine: Engine | None) -> str:
    if _postgres_url is not None:
        return _postgres_url
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def _sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database with the schema, made once and copied for each test."""
    path = tmp_path_factory.mktemp("schema") / "schema.db"
    eng = make_engine(f"sqlite:///{path}")
    metadata.create_all(eng)
    # Closing the last connection folds the WAL into the file, so copying the file is enough.
    eng.dispose()
    assert not path.with_name("schema.db-wal").exists()
    return path


@pytest.fixture
def engine(
    database_url: str, _postgres_engine: Engine | None, _sqlite_schema: Path
) -> Iterator[Engine]:
    if _postgres_engine is not None:
        yield _postgres_engine
        tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with _postgres_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # As a new database starts: with version 1 of the consent wording.
            seed_consent_wording(ConsentWording.__table__, conn)  # type: ignore[attr-defined]
        return
    shutil.copyfile(_sqlite_schema, database_url.removeprefix("sqlite:///"))
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def new_session(engine: Engine):  # type: ignore[no-untyped-def]
    return session_factory(engine)


@pytest.fixture
def session(new_session):  # type: ignore[no-untyped-def]
    with new_session() as s:
        yield s


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load(
        {
            "NEWSLETTER_DATABASE_URL": database_url,
            "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
            "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
            "NEWSLETTER_BASE_URL": "http://newsletter.test",
            "NEWSLETTER_MAIL_FROM": "Frontline Network <news@network.test>",
        },
        dotenv=None,
    )


@pytest.fixture
def transport(smtp: ScriptedSMTP) -> Iterator[SmtpTransport]:
    t = SmtpTransport(smtp.host, smtp.port, connections=1, timeout=5)
    yield t
    t.close()


@pytest.fixture
def rt(settings: Settings, clock: FrozenClock, transport: SmtpTransport, engine: Engine) -> Runtime:
    runtime = Runtime.build(settings, clock=clock, transport=transport, engine=engine)
    runtime.background = lambda work: work()  # an import started by a request ends before it
    return runtime


@pytest.fixture
def app(rt: Runtime) -> Flask:
    from subscribers.web import create_app

    return create_app(rt.settings, runtime=rt)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in a page."""
    found = CSRF_FIELD.search(html) or re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in page"
    return found.group(1)


CONFIRM_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def confirm(client: FlaskClient, page: Any, **kwargs: Any) -> Any:
    """Press the action button of a confirmation page (the second step of a mass send)."""
    assert 'id="confirm-form"' in page.text, "expected the confirmation step"
    form = page.text.split('id="confirm-form"', 1)[1].split("</form>", 1)[0]
    action = re.search(r'action="([^"]+)"', page.text.split('id="confirm-form"', 1)[0][-300:])
    assert action
    data: dict[str, list[str]] = {}
    for name, value in CONFIRM_INPUT.findall(form):
        data.setdefault(name, []).append(html.unescape(value))
    return client.post(html.unescape(action.group(1)), data=data, **kwargs)


# Signed-in staff clients and form helpers, for the workspace tests of every package.
PASSWORD = "correct horse battery"


@pytest.fixture
def sign_in(app: Flask, rt: Runtime) -> Callable[[str], FlaskClient]:
    """A client signed in as a new staff user of the given role (``<role>@example.org``)."""

    def make(role: str) -> FlaskClient:
        email = f"{role}@example.org"
        with transaction(rt.new_session()) as s:
            staff.create(s, email, PASSWORD, role, now=rt.clock())
        client = app.test_client()
        page = client.get("/admin/login")
        answer = client.post(
            "/admin/login",
            data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD},
        )
        assert answer.status_code == 302
        return client

    return make


@pytest.fixture
def editor(sign_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return sign_in("editor")


@pytest.fixture
def admin(sign_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return sign_in("admin")


@pytest.fixture
def viewer(sign_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return sign_in("viewer")


def post_form(client: FlaskClient, url: str, data: dict[str, object], *, page: str | None = None):  # type: ignore[no-untyped-def]
    """POST a form with the CSRF token of the page it is on (fetched from ``page`` or ``url``)."""
    token = csrf_token(client.get(page or url).text)
    return client.post(url, data={"csrf_token": token, **data})


def audit_actions(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.new_session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        # "cli (<os user>)" is "cli" here: the user running the tests varies.
        return [(e.actor.split(" ")[0], e.action, e.target) for e in rows]
