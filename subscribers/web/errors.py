"""Every error a request can end in, answered once: friendly pages for a browser, problem+json
under /api/. The session is rolled back and no traceback is ever shown.

A service's refusal (``subscribers.core.errors``) is answered by the one table ``ANSWERS``: its
status, its problem type and the page a browser reads come from the same row, so the web and the
API cannot drift apart. Views let these errors propagate; a view catches one only to show it
where the user acted (beside a form field, or as a notice): see ``refusals``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from flask import Flask, Response, abort, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from subscribers.api import problems
from subscribers.core.errors import (
    Conflict,
    InvalidInput,
    NewsletterError,
    NotFound,
    Throttled,
    TokenError,
)
from subscribers.web.forms import ButtonForm

log = logging.getLogger(__name__)

Page = Callable[[NewsletterError], str]


@dataclass(frozen=True)
class Answer:
    """How one kind of refusal is answered, to a browser and to the API alike."""

    status: int
    page: Page  # the HTML a browser reads
    kind: str = ""  # the problem type under /api/v1/problems/ ("" names it after the status)
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def not_found_page(_err: object = None) -> str:
    """The one "nothing here" page: an unknown address and a missing object look the same (the
    service's message names ids and slugs, which a visitor has no use for)."""
    return render_template(
        "error.html", title=_("Page not found"), message=_("There is nothing at this address.")
    )


def bad_link_page(err: NewsletterError, *, resend_token: str | None = None) -> str:
    """A link from a mail that is forged, expired or no longer valid (a ``TokenError``);
    ``resend_token`` offers a new confirmation link instead of the registration form."""
    return render_template(
        "public/bad_link.html",
        message=str(err),
        resend_token=resend_token,
        form=None if resend_token is None else ButtonForm(),
    )


def _message_page(title: str) -> Page:
    """A page titled ``title`` (a lazy text, translated when shown) with the refusal's message."""
    return lambda err: render_template("error.html", title=str(title), message=str(err))


# The most specific class of a refusal picks its row (NewsletterError answers any other).
ANSWERS: Mapping[type[NewsletterError], Answer] = MappingProxyType(
    {
        InvalidInput: Answer(422, _message_page(_l("Bad request")), kind="invalid-input"),
        TokenError: Answer(400, bad_link_page),
        NotFound: Answer(404, not_found_page),
        Conflict: Answer(409, _message_page(_l("Error"))),
        Throttled: Answer(
            429, _message_page(_l("Too many requests")), headers={"Retry-After": "60"}
        ),
        NewsletterError: Answer(400, _message_page(_l("Bad request"))),
    }
)


def answer_for(err: NewsletterError) -> Answer:
    return next(ANSWERS[kind] for kind in type(err).__mro__ if kind in ANSWERS)


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

    @app.errorhandler(NewsletterError)
    def refused(err: NewsletterError) -> tuple[str, int, dict[str, str]] | Response:
        _rollback()
        answer = answer_for(err)
        headers = dict(answer.headers)
        if problems.wants_problem():
            return problems.refusal(err, answer.status, kind=answer.kind, headers=headers)
        return answer.page(err), answer.status, headers

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
    def http_error(err: HTTPException) -> tuple[str, int, dict[str, str]] | Response:
        _rollback()
        # What the error itself must carry (a 405's Allow), without its own Content-Type.
        headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
        if problems.wants_problem():
            return problems.response(err.code or 500, _api_detail(err), headers=headers)
        code = err.code or 500
        if code == 404:
            return not_found_page(), 404, headers
        titles = {
            403: _("Not allowed"),
            405: _("Not allowed"),
            400: _("Bad request"),
            413: _("Too large"),
            429: _("Too many requests"),
        }
        return (
            render_template(
                "error.html", title=titles.get(code, _("Error")), message=err.description
            ),
            code,
            headers,
        )

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
