"""What a view reaches while it serves a request: the app's runtime, the request's database
sessions, the visitor's address, and the CSRF extension the app and its forms share."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from sqlmodel import Session

from subscribers.runtime import Runtime

csrf = CSRFProtect()


def close_sessions_at_teardown(app: Flask) -> None:
    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        for name in ("db_session", "db_reader"):
            session: Session | None = g.pop(name, None)
            if session is not None:
                session.close()


def runtime() -> Runtime:
    """The current app's runtime."""
    rt: Runtime = current_app.extensions["newsletter"]
    return rt


def db() -> Session:
    """The request's database session (opened on first use, closed at teardown).

    GET and HEAD only read (the few that write, write a little), so on SQLite they do not take
    the write lock and never wait for an import or the sender.
    """
    if "db_session" not in g:
        rt = runtime()
        reading = request.method in ("GET", "HEAD")
        g.db_session = rt.new_read_session() if reading else rt.new_session()
    session: Session = g.db_session
    return session


def reader() -> Session:
    """A session for what a request only reads, even a POST: on SQLite it never takes the
    write lock, so what a POST reads and checks before it writes (the registration form and
    its lists) is not done while holding the lock that every other writer waits for."""
    if request.method in ("GET", "HEAD"):
        return db()
    if "db_reader" not in g:
        g.db_reader = runtime().new_read_session()
    session: Session = g.db_reader
    return session


def client_ip() -> str:
    return request.remote_addr or ""
