"""Friendly error pages; the session is rolled back and no traceback is ever shown."""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from subscribers.api import problems

log = logging.getLogger(__name__)


def _rollback() -> None:
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def register(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters() -> None:
        # Nothing a person types contains NUL (only bots and probes send it), and PostgreSQL
        # refuses it in any text value: a path, query or form value with one is answered 400
        # before it can reach a query, whichever field or filter it came in.
        values = [request.path, *request.args.values(), *request.form.values()]
        if any("\x00" in value for value in values):
            abort(
                400,
                description=_(
                    "The request contained a character that is not allowed. Nothing was changed."
                ),
            )

    @app.errorhandler(CSRFError)
    def csrf_error(_err: CSRFError) -> tuple[str, int]:
        _rollback()
        return render_template(
            "error.html",
            title=_("Please try again"),
            message=_(
                "The form expired or was sent from another page. Please reload it and try again."
            ),
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> tuple[str, int] | Response:
        _rollback()
        if problems.wants_problem():
            return problems.response(err.code or 500, _api_detail(err))
        titles = {
            404: _("Page not found"),
            403: _("Not allowed"),
            405: _("Not allowed"),
            400: _("Bad request"),
            413: _("Too large"),
            429: _("Too many requests"),
        }
        code = err.code or 500
        return render_template(
            "error.html",
            title=titles.get(code, _("Error")),
            message=err.description if code != 404 else _("There is nothing at this address."),
        ), code

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> tuple[str, int] | Response:
        _rollback()
        log.exception("unexpected error", exc_info=err)
        if problems.wants_problem():
            return problems.response(500, "The request failed; nothing was changed.")
        return render_template(
            "error.html",
            title=_("Something went wrong"),
            message=_(
                "We could not complete your request. Nothing was changed. Please try again later."
            ),
        ), 500


def _api_detail(err: HTTPException) -> str:
    """Werkzeug's own description, except for a 404 (which would suggest checking spelling)."""
    if err.code == 404:
        return "There is nothing at this address."
    if err.code == 405:
        return "This address does not take this method."
    return err.description or ""
