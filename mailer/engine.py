"""Database engines that behave alike on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from mailer.lock_log import from_environment as lock_log_from_environment


def make_engine(url: str, *, busy_timeout: float = 30.0, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite turn on WAL, foreign keys, a busy timeout and write locks.

    SQLite transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and
    then writes can fail at once with "database is locked" when another connection writes,
    whereas an immediate one waits its turn (up to ``busy_timeout``, see ``begin_immediate``).
    This is how several sender threads and the web app share one SQLite file safely.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": busy_timeout})
    if parsed.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database cannot be shared; use a file path")
    _create_private(Path(parsed.database))
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event emit BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()
        # SQLite's lower() folds ASCII only; as PostgreSQL's, it must fold "NÚÑEZ" to "núñez"
        # so that a case-insensitive search works the same on both.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    lock_log = lock_log_from_environment()  # None unless a benchmark measures (mailer.lock_log)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A reader (see ``readers``) starts deferred: in WAL mode it reads its snapshot while
        # a writer holds the lock, instead of queueing behind it.
        if connection.get_execution_options().get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
        elif lock_log is None:
            begin_immediate(connection, busy_timeout)
        else:
            began = time.perf_counter()
            begin_immediate(connection, busy_timeout)
            lock_log.waited(connection, began)

    if lock_log is not None:
        event.listen(engine, "commit", lock_log.ended)
        event.listen(engine, "rollback", lock_log.ended)
    return engine


READ_ONLY = "newsletter_read_only"

# A writer waiting for SQLite's write lock tries again after 0.1 ms, then 0.2, 0.4... at most
# this far apart (mailer.outbox.SentMarker waits the same way, up to 2 ms).
LOCK_RETRY_FIRST, LOCK_RETRY_MOST = 0.0001, 0.001
_sleep, _monotonic = time.sleep, time.monotonic  # tests replace them


def begin_immediate(connection: Any, busy_timeout: float) -> None:
    """``BEGIN IMMEDIATE`` on a SQLAlchemy connection, trying again every millisecond or less
    while another connection holds SQLite's write lock, for up to ``busy_timeout`` seconds.

    SQLite's own busy handler (busy_timeout) sleeps 1, 2, 5, 10, 15, 20, 25 ms... and then
    100 ms between two tries. While a campaign drains, the worker commits hundreds of short
    transactions a second and its marker retries within 2 ms, so a registration that had waited
    a little kept sleeping through the gaps between the worker's commits and waited up to
    seconds (p99 839 ms, issue 11). Trying as often as the worker does, the web app gets the
    lock within a millisecond of its release. The connection's busy_timeout is 0 for these
    tries only: statements inside the transaction, and readers, keep SQLite's handler.
    """
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA busy_timeout = 0")
    try:
        delay, deadline = LOCK_RETRY_FIRST, 0.0
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                if getattr(err, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    break
                now = _monotonic()
                if not deadline:
                    deadline = now + busy_timeout
                elif now >= deadline:
                    break
            _sleep(delay)
            delay = min(delay * 2, LOCK_RETRY_MOST)
        # Once more through SQLAlchemy: what fails now fails as it always did (OperationalError).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        driver.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")


def readers(engine: Engine) -> Engine:
    """The same database for transactions that only read: on SQLite they never take the
    write lock, so a long write (an import chunk) never makes a page or /healthz wait."""
    return engine.execution_options(**{READ_ONLY: True})


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (SQLite would use the umask, often
    world-readable); its -wal and -shm files take the same mode from it."""
    if path.parent.is_dir():
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def is_postgres(bound: Any) -> bool:
    """Whether an engine, connection or session talks to PostgreSQL (the one dialect check)."""
    if hasattr(bound, "get_bind"):  # a Session
        bound = bound.get_bind()
    return bool(bound.dialect.name == "postgresql")
