"""A writer waiting for SQLite's write lock tries again often, so it is not starved (issue 11).

While a campaign drains, the worker commits hundreds of short transactions a second. With
SQLite's own busy handler a waiting registration slept up to 100 ms between two tries and kept
missing the gaps between the worker's commits (p99 839 ms); ``mailer.engine.begin_immediate``
tries again within a millisecond. The clock and the sleeps are injected: nothing here waits.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer import engine as engine_module
from mailer import lock_log
from mailer.engine import LOCK_RETRY_MOST, make_engine, readers


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "lock.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (n INTEGER)")
    return path


def hold_write_lock(path: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_waiting_writer_tries_again_within_a_millisecond(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = hold_write_lock(database)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 8:
            holder.execute("COMMIT")  # the other writer is done: the next try must succeed

    monkeypatch.setattr(engine_module, "_sleep", sleep)
    engine = make_engine(f"sqlite:///{database}", busy_timeout=30)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert len(slept) == 8
    assert max(slept) <= LOCK_RETRY_MOST <= 0.001
    with engine.connect() as conn:
        # Inside the transaction SQLite's own handler is back (readers, statements).
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    engine.dispose()
    holder.close()


def test_a_writer_gives_up_after_the_busy_timeout_with_the_usual_error(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = hold_write_lock(database)
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += 0.5  # each try "takes" half a second on this clock

    monkeypatch.setattr(engine_module, "_sleep", sleep)
    monkeypatch.setattr(engine_module, "_monotonic", lambda: now[0])
    engine = make_engine(f"sqlite:///{database}", busy_timeout=2)
    with pytest.raises(OperationalError, match="database is locked"), engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert 1002.0 <= now[0] <= 1003.0
    holder.execute("ROLLBACK")
    # The connection is fine afterwards, its busy_timeout as configured.
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 2000
    engine.dispose()
    holder.close()


def test_readers_do_not_wait_for_the_write_lock(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = hold_write_lock(database)
    monkeypatch.setattr(engine_module, "_sleep", lambda _s: pytest.fail("a reader waited"))
    engine = make_engine(f"sqlite:///{database}")
    with readers(engine).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    engine.dispose()
    holder.execute("ROLLBACK")
    holder.close()


def test_the_lock_log_measures_write_transactions_only(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/serve_while_draining.py reads these lines (mailer.lock_log) to say how long the
    web app and the worker waited for the write lock and held it."""
    log = tmp_path / "locks.log"
    monkeypatch.setenv(lock_log.ENV, str(log))
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with readers(engine).connect() as conn:
        conn.execute(text("SELECT count(*) FROM t")).scalar_one()
    engine.dispose()
    found = lock_log.summary(log)
    assert sorted(found) == [(os.getpid(), "hold"), (os.getpid(), "wait")]
    assert all(len(values) == 1 and values[0] >= 0 for values in found.values())
    assert "n=1" in lock_log.describe(found[(os.getpid(), "hold")])
