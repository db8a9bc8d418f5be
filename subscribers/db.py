"""Engine, sessions and the transaction boundary owned by each edge (web, CLI, worker)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import mailer.bounce_log  # noqa: F401 - registers the bounce table
import mailer.outbox  # noqa: F401 - registers the outbox tables in SQLModel.metadata
import subscribers.models  # noqa: F401 - registers the domain tables
from mailer.engine import make_engine

__all__ = ["make_engine", "session_factory", "transaction", "metadata"]

metadata = SQLModel.metadata


def session_factory(engine: Engine) -> Callable[[], Session]:
    """Sessions that keep loaded values after commit (views render after the commit)."""

    def new_session() -> Session:
        return Session(engine, expire_on_commit=False)

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
