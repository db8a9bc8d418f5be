"""A service's refusal is answered once, from one table, for pages and the API alike.

Each domain error is raised from a throwaway route: a browser gets its page (translated, no
traceback), /api/ gets problem+json, and both carry the status of the error's one row in
``subscribers.web.errors.ANSWERS``. The last tests keep views from translating errors again
one by one: no ``except NotFound/TokenError/Conflict`` in ``subscribers/web`` beyond a short,
named list, and no ``_x_or_404`` helpers.
"""

from __future__ import annotations

import ast
import html
from pathlib import Path

import pytest
from flask import Flask, get_flashed_messages
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField

import subscribers.web
from subscribers.admin import api_tokens
from subscribers.core import errors
from subscribers.core.db import transaction
from subscribers.core.errors import (
    Conflict,
    InvalidInput,
    NewsletterError,
    NotFound,
    Throttled,
    TokenError,
)
from subscribers.core.models import MailingList
from subscribers.runtime import Runtime
from subscribers.web.context import db
from subscribers.web.errors import ANSWERS, answer_for
from subscribers.web.refusals import showing_refusals
from tests.web.test_admin import login, make_staff

NOWHERE = "There is nothing at this address."
# (the error raised, its status, the page's title, the text the page shows, the problem type)
REFUSALS = [
    (NotFound("no member 7"), 404, "Page not found", NOWHERE, "not-found"),
    (TokenError("Old.", expired=True), 400, "This link does not work", "Old.", "bad-request"),
    (Conflict("Cancelled already."), 409, "Error", "Cancelled already.", "conflict"),
    (InvalidInput("email: no", field="email"), 422, "Bad request", "email: no", "invalid-input"),
    (Throttled("Wait."), 429, "Too many requests", "Wait.", "too-many-requests"),
    (NewsletterError("Else."), 400, "Bad request", "Else.", "bad-request"),
]


def _raising(app: Flask, err: NewsletterError) -> FlaskClient:
    """The app with a page route and an API route that both raise ``err``."""

    def refuse() -> str:
        raise err

    app.add_url_rule("/refused", "refused_page", refuse)
    app.add_url_rule("/api/v1/refused", "refused_api", refuse)
    return app.test_client()


@pytest.mark.parametrize(("err", "status", "title", "text", "kind"), REFUSALS)
def test_a_refusal_is_a_page_for_a_browser_and_problem_json_for_the_api(
    app: Flask, err: NewsletterError, status: int, title: str, text: str, kind: str
) -> None:
    client = _raising(app, err)

    page = client.get("/refused")
    assert page.status_code == status == answer_for(err).status
    assert page.mimetype == "text/html"
    shown = html.unescape(page.text)
    assert f"<h1>{title}</h1>" in shown and text in shown
    assert "Traceback" not in page.text and "no member 7" not in page.text  # ids stay inside

    problem = client.get("/api/v1/refused")
    assert problem.status_code == status
    assert problem.mimetype == "application/problem+json"
    body = problem.get_json()
    assert body["status"] == status and body["detail"] == str(err)
    assert body["type"] == f"/api/v1/problems/{kind}"
    if isinstance(err, InvalidInput):
        assert body["errors"] == [{"field": "email", "message": "email: no"}]
    if isinstance(err, Throttled):
        assert page.headers["Retry-After"] == problem.headers["Retry-After"] == "60"


def test_every_error_a_service_raises_has_a_row() -> None:
    raised = {
        kind
        for kind in vars(errors).values()
        if isinstance(kind, type) and issubclass(kind, NewsletterError)
    }
    assert raised == set(ANSWERS)
    assert {type(err) for err, *_rest in REFUSALS} == raised


def test_the_page_of_a_refusal_is_in_the_readers_language(app: Flask) -> None:
    client = _raising(app, NotFound("no member 7"))
    page = client.get("/refused?lang=pt")
    with app.test_request_context(), force_locale("pt"):
        title = gettext("Page not found")
    assert page.status_code == 404 and '<html lang="pt"' in page.text
    assert title != "Page not found" and f"<h1>{html.escape(title)}</h1>" in page.text


def test_a_refusal_rolls_back_what_the_request_wrote(app: Flask, rt: Runtime) -> None:
    def write_then_refuse() -> str:
        db().add(MailingList(slug="half", name="Half made", created_at=rt.clock()))
        db().flush()
        raise Conflict("Not now.")

    app.add_url_rule("/refused-write", "refused_write", write_then_refuse, methods=["POST"])
    app.config["WTF_CSRF_ENABLED"] = False
    assert app.test_client().post("/refused-write").status_code == 409
    with rt.new_session() as s:
        assert s.execute(select(MailingList)).first() is None


def test_a_refusal_shown_on_a_form_sits_beside_its_field_and_keeps_what_was_typed(
    app: Flask,
) -> None:
    class Form(FlaskForm):
        slug = StringField()
        name = StringField()

    typed = {"slug": "taken", "name": "Typed by hand"}
    with app.test_request_context("/", method="POST", data=typed):
        form = Form(meta={"csrf": False})
        with showing_refusals(form, also={Conflict: "slug"}) as attempt:
            raise Conflict("exists already")
        assert attempt.on_form and form.slug.errors == ["exists already"]
        with showing_refusals(form) as attempt:  # InvalidInput names its own fields
            raise InvalidInput("too long", field="name", others=[InvalidInput("and more")])
        assert form.name.errors == ["too long"] and form.form_errors == ["and more"]
        assert (form.slug.data, form.name.data) == ("taken", "Typed by hand")
        with showing_refusals() as attempt:  # no form: a notice above the next page
            raise Conflict("Cancelled already.")
        assert attempt.noticed and get_flashed_messages() == ["Cancelled already."]
        with pytest.raises(NotFound), showing_refusals(form):  # not shown here: the handler's
            raise NotFound("no list 'x'")


# -- through real routes ---------------------------------------------------------------------


def test_through_real_routes_an_unknown_object_is_the_404_page_or_its_problem(
    client: FlaskClient, rt: Runtime
) -> None:
    assert login(client, make_staff(rt, "admin")) == 302
    for path in (
        "/admin/members/999",
        "/admin/events/999",
        "/admin/news/999",
        "/admin/campaigns/999",
        "/admin/campaigns/999/progress",
        "/admin/imports/999",
        "/admin/lists/nowhere/edit",
        "/archive/nowhere",
    ):
        page = client.get(path)
        assert page.status_code == 404, path
        assert NOWHERE in page.text, path
    rsvp = client.get("/events/999/rsvp/forged")
    assert rsvp.status_code == 400 and "This link does not work" in rsvp.text
    with transaction(rt.new_session()) as s:
        _token, secret = api_tokens.create(s, "reader", "viewer", now=rt.clock())
    problem = client.get("/api/v1/lists/nowhere", headers={"Authorization": f"Bearer {secret}"})
    assert problem.status_code == 404 and problem.mimetype == "application/problem+json"
    assert "nowhere" in problem.get_json()["detail"]  # the API says the service's own words


# -- the views translate no error themselves -------------------------------------------------

WEB = Path(subscribers.web.__file__).parent
TRANSLATED_ONCE = {"NotFound", "TokenError", "Conflict"}

# (module, function, error) -> why this view catches it instead of the app's handler
ALLOWED = {
    ("public", "confirm", "TokenError"): "an expired confirmation link offers a new one",
    ("rsvp", "answer", "Conflict"): "a full or closed event: its page again, saying why (409)",
    ("admin_content", "announce_count", "NotFound"): "the audience builder's script reads JSON",
}


def _caught() -> set[tuple[str, str, str]]:
    """(module, function, error) of each ``except`` in subscribers/web naming such an error."""
    found = set()
    for path in sorted(WEB.glob("*.py")):
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ExceptHandler) and node.type is not None:
                    for name in ast.walk(node.type):
                        if isinstance(name, ast.Name) and name.id in TRANSLATED_ONCE:
                            found.add((path.stem, function.name, name.id))
    return found


def test_views_let_domain_errors_reach_the_one_handler() -> None:
    assert _caught() == set(ALLOWED)


def test_no_view_has_its_own_or_404_helper() -> None:
    helpers = [
        (path.name, node.name)
        for path in WEB.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.endswith("_or_404")
    ]
    assert helpers == []
