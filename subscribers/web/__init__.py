"""The Flask application: ``create_app`` is the one composition root of the web edge."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlmodel import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from mailer.clock import Clock, system_clock
from mailer.transport import Transport
from subscribers import CATALOGUES
from subscribers.content.templating import TEMPLATES, shared_bytecode_cache
from subscribers.core.settings import Settings, load
from subscribers.runtime import Runtime
from subscribers.web import dates, language, names

csrf = CSRFProtect()


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = system_clock,
    transport: Transport | None = None,
    runtime: Runtime | None = None,
) -> Flask:
    """Build the app: settings, runtime (engine, mail kit, transport, clock), blueprints."""
    settings = settings or load()
    app = Flask(
        __name__,
        template_folder=str(TEMPLATES / "web"),
        static_folder=str(TEMPLATES / "web" / "static"),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # a registration form left open for hours still submits
        # Pages reached from mail send no Referer (their token must not leak), not even with
        # their own form; the signed CSRF token and the SameSite cookie protect the form.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        BABEL_DEFAULT_LOCALE="en",
        # The catalogues `make messages` writes (next to the package, shipped with it).
        BABEL_TRANSLATION_DIRECTORIES=str(CATALOGUES),
    )
    app.jinja_env.bytecode_cache = shared_bytecode_cache("web")
    app.extensions["newsletter"] = runtime or Runtime.build(
        settings, clock=clock, transport=transport
    )
    if settings.trusted_proxies:
        # The address and scheme the last N proxies saw, so each visitor has their own rate-limit
        # bucket; with 0 the headers are ignored (a visitor could forge them).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    csrf.init_app(app)
    Babel(app, locale_selector=language.select)
    language.install_translator()
    language.install(app)
    dates.install(app)
    names.install(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_session_teardown(app)
    register_security_headers(app)
    return app


def register_blueprints(app: Flask) -> None:
    from subscribers.web import (
        admin,
        admin_api,
        admin_content,
        admin_events,
        admin_members,
        admin_staff,
        public,
        rsvp,
    )

    for module in (
        public,
        rsvp,
        admin,
        admin_content,
        admin_members,
        admin_events,
        admin_staff,
        admin_api,
    ):
        app.register_blueprint(module.bp)
    from subscribers import api

    api.register(app, csrf)


def register_errorhandlers(app: Flask) -> None:
    from subscribers.web.errors import register

    register(app)


def register_security_headers(app: Flask) -> None:
    from subscribers.web.headers import register

    register(app)


def register_session_teardown(app: Flask) -> None:
    @app.teardown_appcontext
    def close_session(_exc: BaseException | None) -> None:
        for name in ("db_session", "db_reader"):
            session: Session | None = g.pop(name, None)
            if session is not None:
                session.close()


def runtime() -> Runtime:
    """The current app's runtime."""
    from flask import current_app

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


def template_globals() -> dict[str, Any]:
    return {}
