"""Engine, sessions and the transaction boundary owned by each edge (web, CLI, worker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

import mailer.bounce_log  # noqa: F401 - registers the bounce table
import mailer.outbox  # noqa: F401 - registers the outbox tables in SQLModel.metadata
import mailer.pacing  # noqa: F401 - registers the domain_pause table
import mailer.workers  # noqa: F401 - registers the worker table
import subscribers.core.models  # noqa: F401 - registers the domain tables
import subscribers.people.consent  # noqa: F401 - a new database starts with version 1 of the consent wording
from mailer.engine import is_postgres, make_engine, readers

__all__ = ["make_engine", "session_factory", "transaction", "metadata", "refresh_statistics"]

metadata = SQLModel.metadata


def session_factory(engine: Engine, *, read_only: bool = False) -> Callable[[], Session]:
    """Sessions that keep loaded values after commit (views render after the commit).

    ``read_only`` sessions start their transactions without the write lock (``readers``); one
    that writes after all still works, but may meet "database is locked" under contention.
    """
    bind = readers(engine) if read_only else engine

    def new_session() -> Session:
        return Session(bind, expire_on_commit=False)

    return new_session


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit when the block ends, roll back if it raises; services never commit themselves."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def refresh_statistics(session: Session, *tables: str) -> None:
    """Tell PostgreSQL's planner how big these tables have grown.

    A bulk write that starts on empty tables would otherwise keep the plans made when they were
    empty (sequential scans, cached by prepared statements) until autovacuum's next ANALYZE, if
    autovacuum runs at all: 95,000 imported members took ten minutes instead of one. SQLite's
    planner needs no statistics to prefer an index, so there is nothing to do there.
    """
    if is_postgres(session):
        session.execute(text("ANALYZE " + ", ".join(tables)))
