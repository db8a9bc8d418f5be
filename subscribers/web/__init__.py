"""The Flask application: ``create_app`` is the one composition root of the web edge."""

from __future__ import annotations

from flask import Flask
from flask_babel import Babel
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from mailer.clock import Clock, system_clock
from mailer.transport import Transport
from subscribers import CATALOGUES, api
from subscribers.content.templating import TEMPLATES, shared_bytecode_cache
from subscribers.core import ids
from subscribers.core.settings import Settings, load
from subscribers.runtime import Runtime
from subscribers.web import (
    admin,
    admin_api,
    admin_content,
    admin_events,
    admin_imports,
    admin_members,
    admin_staff,
    context,
    dates,
    errors,
    headers,
    language,
    names,
    public,
    rsvp,
)
from subscribers.web.context import csrf


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
    errors.register(app)
    context.close_sessions_at_teardown(app)
    headers.register(app)
    return app


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number past any row id does not match, so it is a 404
    like any unknown id, and never reaches the database (which overflows on it: a 500)."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, max=ids.LARGEST)


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = RowIdConverter  # before any rule is built with it
    for module in (
        public,
        rsvp,
        admin,
        admin_content,
        admin_members,
        admin_imports,
        admin_events,
        admin_staff,
        admin_api,
    ):
        app.register_blueprint(module.bp)
    api.register(app, csrf)
