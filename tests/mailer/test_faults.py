"""The worker (``drain_forever``) through faults it must survive without losing or repeating mail.

Each test runs the real worker loop in a thread against a real SMTP server and a real database,
breaks something in the middle of a campaign (from the transport hook, just before the n-th
message, so the fault lands mid-batch), mends it, and checks that the worker is still running,
logged the trouble in one line, and finished the campaign with every member mailed exactly once:
a message the server accepted while the database could not record it is marked when the
database is back, not sent again. The clock is frozen, so no lease runs out during a test: what
is checked is the worker's own recovery, not another worker's take-over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from mailer.clock import FrozenClock
from mailer.message import Envelope
from mailer.outbox import Delivery
from mailer.sender import Sender
from mailer.transport import SmtpTransport
from subscribers import worker
from subscribers.core.db import make_engine, metadata, session_factory
from subscribers.runtime import Runtime
from tests.conftest import on_postgres
from tests.mailer.test_sender import Hooked, NewSession, addresses, queue, received
from tests.smtp_server import ScriptedSMTP

MEMBERS = 60
FAULT_AT = 20  # the fault strikes just before this message is handed to the server


@contextmanager
def worker_running(rt: Runtime, sender: Sender, *, threads: int) -> Iterator[threading.Thread]:
    """``drain_forever`` in a thread, as ``newsletter worker`` runs it, with a short interval."""
    settings = dataclasses.replace(rt.settings, smtp_connections=threads)
    runtime = dataclasses.replace(rt, settings=settings, _sender=sender)
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.drain_forever, args=(runtime, stop), kwargs={"interval": 0.02}
    )
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> float:
    """Poll ``condition`` until it holds; return how long that took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


def sent_rows(new_session: NewSession) -> Counter[str]:
    with new_session() as s:
        return Counter(
            s.execute(select(Delivery.address).where(Delivery.state == "sent")).scalars()
        )


def warnings_about(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if words in r.getMessage() and r.levelno >= logging.WARNING
    ]


def assert_each_mailed_once(emails: list[str], got: Counter[str], new_session: NewSession) -> None:
    assert got == Counter(dict.fromkeys(emails, 1)), {a: n for a, n in got.items() if n != 1}
    # Nothing is marked sent that the server did not accept, and everything it accepted is.
    assert sent_rows(new_session) == got


def test_smtp_server_dropped_and_restarted_mid_campaign(
    rt: Runtime,
    new_session: NewSession,
    clock: FrozenClock,
    smtp: ScriptedSMTP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emails = addresses(MEMBERS)
    queue(new_session, clock, emails)

    def drop_server(n: int, _envelope: Envelope) -> None:
        if n == FAULT_AT:
            smtp.stop()  # every connection closed, nothing listening any more

    caplog.set_level(logging.INFO, logger="subscribers.worker")
    with SmtpTransport(smtp.host, smtp.port, connections=1, timeout=5) as transport:
        sender = Sender(new_session, Hooked(transport, drop_server), clock, batch=10)
        with worker_running(rt, sender, threads=1) as running:
            wait_until(lambda: warnings_about(caplog, "SMTP server unreachable"), "the outage")
            with new_session() as s:
                waiting = s.execute(select(Delivery).where(Delivery.state != "sent")).scalars()
                # Back in the queue, not one attempt spent on a server that was not there.
                assert {(d.state, d.attempts) for d in waiting} == {("queued", 0)}
            with ScriptedSMTP(port=smtp.port) as restarted:
                recovery = wait_until(
                    lambda: sum(sent_rows(new_session).values()) == MEMBERS, "the campaign"
                )
                assert running.is_alive()
    print(f"campaign finished {recovery:.2f}s after the SMTP server came back")  # noqa: T201
    assert recovery < 5  # the worker's back-off had only started (interval 0.02 s, doubling)
    assert_each_mailed_once(emails, received(smtp) + received(restarted), new_session)
    assert len(warnings_about(caplog, "SMTP server unreachable")) == 1
    assert "Traceback" not in caplog.text


WATCHER = "newsletter-test-watcher"


@pytest.mark.skipif(not on_postgres(), reason="pg_terminate_backend is PostgreSQL's")
def test_a_workers_postgresql_connections_terminated_mid_batch(
    rt: Runtime,
    new_session: NewSession,
    clock: FrozenClock,
    smtp: ScriptedSMTP,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emails = addresses(MEMBERS)
    queue(new_session, clock, emails)
    # The test's own connections carry a name of their own so the fault spares them: a
    # watcher's poll killed by the test's own fault would fail the test, not the worker.
    admin = create_engine(
        database_url, poolclass=NullPool, connect_args={"application_name": WATCHER}
    )
    terminated: list[int] = []

    def terminate_backends(n: int, _envelope: Envelope) -> None:
        if n == FAULT_AT:
            with admin.connect() as conn:
                terminated.extend(
                    conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            " AND application_name <> :watcher"
                        ),
                        {"watcher": WATCHER},
                    ).scalars()
                )

    caplog.set_level(logging.INFO, logger="subscribers.worker")
    try:
        with SmtpTransport(smtp.host, smtp.port, connections=2, timeout=5) as transport:
            sender = Sender(new_session, Hooked(transport, terminate_backends), clock, batch=10)
            # Watched through connections of its own (NullPool): the test's engine is the
            # worker's, whose pooled connections the fault kills.
            watch = session_factory(admin)
            with worker_running(rt, sender, threads=2) as running:
                wait_until(lambda: sum(sent_rows(watch).values()) == MEMBERS, "campaign")
                assert running.is_alive()
        assert terminated and all(terminated)  # the worker's connections really went
        assert_each_mailed_once(emails, received(smtp), watch)
    finally:
        admin.dispose()
    trouble = warnings_about(caplog, "database unavailable")
    # psycopg words a terminated backend either way, depending on where the client was reading.
    said = ("terminat", "server closed the connection")
    assert len(trouble) == 1 and any(words in trouble[0] for words in said), trouble
    assert "Traceback" not in caplog.text


# -- a PostgreSQL server of the test's own, stopped and started again -----------------------------


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port: the shared server is never restarted."""

    pg_ctl: Path
    data: Path
    port: int
    user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            # -l: the server's output goes to a file, not to the pipes this call waits on.
            [*self.user, str(self.pg_ctl), "-D", str(self.data), "-l", str(self.data / "log")]
            + ["-o", options, "-w", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    pg_ctl = found[-1]
    # The server refuses to run as root: as root, run it as the postgres user.
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    if user:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    server = PrivatePostgres(pg_ctl, data, port, user)
    try:
        subprocess.run(
            [*user, str(pg_ctl.with_name("initdb")), "-D", str(data), "-A", "trust"]
            + ["-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server.ctl("start")
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.ctl("-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.mark.skipif(not on_postgres(), reason="a PostgreSQL server restart")
def test_postgresql_server_stopped_and_started_again_mid_campaign(
    rt: Runtime,
    private_postgres: PrivatePostgres,
    clock: FrozenClock,
    smtp: ScriptedSMTP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(private_postgres.url)
    metadata.create_all(engine)
    new_session = session_factory(engine)
    emails = addresses(MEMBERS)
    queue(new_session, clock, emails)
    down = threading.Event()

    def stop_server(n: int, _envelope: Envelope) -> None:
        if n == FAULT_AT:
            private_postgres.ctl("-m", "fast", "stop")  # every connection closed, nothing listens
            down.set()

    caplog.set_level(logging.INFO, logger="subscribers.worker")
    try:
        with SmtpTransport(smtp.host, smtp.port, connections=2, timeout=5) as transport:
            sender = Sender(new_session, Hooked(transport, stop_server), clock, batch=10)
            with worker_running(rt, sender, threads=2) as running:
                wait_until(down.is_set, "the server to stop")
                wait_until(lambda: warnings_about(caplog, "database unavailable"), "the error")
                assert running.is_alive()
                private_postgres.ctl("start")
                recovery = wait_until(
                    lambda: sum(sent_rows(new_session).values()) == MEMBERS, "the campaign"
                )
                assert running.is_alive()
        assert_each_mailed_once(emails, received(smtp), new_session)
    finally:
        engine.dispose()
    print(f"campaign finished {recovery:.2f}s after the server was back")  # noqa: T201
    trouble = warnings_about(caplog, "database unavailable")
    assert len(trouble) == 1, trouble
    assert "Traceback" not in caplog.text


# -- SQLite on a small disk of its own -----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs mounted inside the test's temp dir, to fill up.

    (Made read-only only while no file on it is open for writing: Linux refuses otherwise.)
    """
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr!r}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write until the disk is full; return the file to delete to free it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


@pytest.mark.skipif(on_postgres(), reason="a SQLite file on a disk of its own")
def test_sqlite_disk_full_mid_campaign(
    rt: Runtime,
    small_disk: Path,
    clock: FrozenClock,
    smtp: ScriptedSMTP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(f"sqlite:///{small_disk / 'newsletter.db'}")
    metadata.create_all(engine)
    new_session = session_factory(engine)
    emails = addresses(MEMBERS)
    queue(new_session, clock, emails)
    broken = threading.Event()
    filler: list[Path] = []

    def break_disk(n: int, _envelope: Envelope) -> None:
        if n == FAULT_AT:
            filler.append(fill(small_disk))
            broken.set()

    caplog.set_level(logging.INFO, logger="subscribers.worker")
    try:
        with SmtpTransport(smtp.host, smtp.port, connections=2, timeout=5) as transport:
            sender = Sender(new_session, Hooked(transport, break_disk), clock, batch=10)
            with worker_running(rt, sender, threads=2) as running:
                wait_until(lambda: warnings_about(caplog, "database unavailable"), "the error")
                # The worker keeps trying while the disk is broken, and keeps running.
                wait_until(lambda: broken.is_set() and running.is_alive(), "the worker")
                filler[0].unlink()
                wait_until(lambda: sum(sent_rows(new_session).values()) == MEMBERS, "campaign")
                assert running.is_alive()
        assert_each_mailed_once(emails, received(smtp), new_session)
    finally:
        engine.dispose()
    trouble = warnings_about(caplog, "database unavailable")
    assert len(trouble) == 1 and "database or disk is full" in trouble[0], trouble
    assert "Traceback" not in caplog.text


def remount(disk: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], check=True, capture_output=True)


@pytest.mark.skipif(on_postgres(), reason="a SQLite file on a disk of its own")
def test_sqlite_disk_read_only_when_the_worker_starts(
    rt: Runtime,
    small_disk: Path,
    clock: FrozenClock,
    smtp: ScriptedSMTP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A disk made read-only (a full root file system remounted, a snapshot): the worker says so,
    keeps trying, and sends everything once the disk is writable again.

    Linux refuses to make a disk read-only while a file on it is open for writing, so the disk
    goes read-only before the worker opens the database, not half-way through a batch.
    """
    engine = make_engine(f"sqlite:///{small_disk / 'newsletter.db'}")
    metadata.create_all(engine)
    new_session = session_factory(engine)
    emails = addresses(MEMBERS)
    queue(new_session, clock, emails)
    engine.dispose()
    remount(small_disk, "ro")
    caplog.set_level(logging.INFO, logger="subscribers.worker")
    try:
        with SmtpTransport(smtp.host, smtp.port, connections=2, timeout=5) as transport:
            sender = Sender(new_session, transport, clock, batch=10)
            with worker_running(rt, sender, threads=2) as running:
                wait_until(lambda: warnings_about(caplog, "database unavailable"), "the error")
                assert running.is_alive() and received(smtp) == Counter()
                remount(small_disk, "rw")
                wait_until(lambda: sum(sent_rows(new_session).values()) == MEMBERS, "campaign")
                assert running.is_alive()
        assert_each_mailed_once(emails, received(smtp), new_session)
    finally:
        remount(small_disk, "rw")
        engine.dispose()
    trouble = warnings_about(caplog, "database unavailable")
    # SQLite cannot create its journal next to the file: "unable to open database file".
    assert len(trouble) == 1 and "unable to open database file" in trouble[0], trouble
    assert "Traceback" not in caplog.text
