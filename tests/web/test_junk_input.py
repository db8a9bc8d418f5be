"""Every form of the app, public and staff, filled with junk: a clear answer, never a 500.

The forms are found by crawling the app's own pages (each GET route of the URL map, with ids of
objects that exist), so a new form is covered without anyone remembering to add it here.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subscribers.content import news
from subscribers.core.db import transaction
from subscribers.invitations import events
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.insight.test_monitor import queue_announcement
from tests.invitations.helpers import spec
from tests.web.test_admin import login, make_staff, sample_path

JUNK = [
    "",
    "x" * 3000,
    "ana@example.org\r\nBcc: eve@example.org",
    "\x00\x1b<script>alert(1)</script>",
    "-1",
    "2027-02-30T25:61",
    '=HYPERLINK("http://evil.example")',
]
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
ACTION = re.compile(r'action="([^"]*)"')
METHOD = re.compile(r'method="([^"]*)"', re.I)
FIELD = re.compile(r'<(?:input|select|textarea)\b[^>]*\bname="([^"]+)"', re.I)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def get_paths(app: Flask, prefix: str) -> list[str]:
    """Every GET route under ``prefix``, its arguments filled with objects that exist."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or not rule.rule.startswith(prefix):
            continue
        if rule.endpoint in ("admin.logout", "static"):
            continue
        paths.append(sample_path(rule.rule))
    return sorted(set(paths))


def forms_on(client: FlaskClient, path: str) -> list[tuple[str, str, list[str], str]]:
    """(method, action, field names, csrf token) of each form on the page at ``path``."""
    page = client.get(path)
    if page.status_code != 200 or "text/html" not in page.content_type:
        return []
    found = []
    for attrs, body in FORM.findall(page.text):
        action = ACTION.search(attrs)
        method = METHOD.search(attrs)
        token = CSRF.search(body)
        fields = [name for name in FIELD.findall(body) if name != "csrf_token"]
        found.append(
            (
                (method.group(1) if method else "get").upper(),
                unescape(action.group(1)) if action and action.group(1) else path,
                fields,
                token.group(1) if token else "",
            )
        )
    return found


def fill_every_form_with_junk(client: FlaskClient, paths: list[str]) -> int:
    """Submit every form on ``paths`` with each junk value in every field; return how many."""
    submitted = 0
    for path in paths:
        for method, action, fields, token in forms_on(client, path):
            for junk in JUNK:
                data = {name: junk for name in fields}
                if token:
                    data["csrf_token"] = token
                if method == "GET":
                    response = client.get(action, query_string=data)
                else:
                    response = client.post(action, data=data)
                assert response.status_code < 500, (path, action, junk[:40])
                assert "Traceback" not in response.text
                submitted += 1
    return submitted


@pytest.fixture
def seeded(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    """One of everything a page can be about, each with id 1."""
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    with transaction(rt.new_session()) as s:
        news.add(s, "practitioners", title="Report", body="Text", link=None, now=rt.clock())
        events.create_event(s, rt.kit, spec(), now=rt.clock())
    queue_announcement(rt)


@pytest.mark.usefixtures("seeded")
def test_public_forms_answer_junk_without_a_server_error(app: Flask) -> None:
    client = app.test_client()
    public = [p for p in get_paths(app, "/") if not p.startswith("/admin")]
    assert fill_every_form_with_junk(client, public) >= len(JUNK)  # the registration form, at least


@pytest.mark.usefixtures("seeded")
def test_staff_forms_answer_junk_without_a_server_error(app: Flask, rt: Runtime) -> None:
    client = app.test_client()
    assert login(client, make_staff(rt, "admin")) == 302
    staff_pages = [p for p in get_paths(app, "/admin") if p != "/admin/login"]
    # Lists, news, announce, events, members, import, audit filters... dozens of forms.
    submitted = fill_every_form_with_junk(client, staff_pages)
    assert submitted >= 10 * len(JUNK)


# Query parameters the app's pages and JSON endpoints read (filters, paging, the live count).
QUERY_NAMES = (
    "page", "per_page", "q", "text", "list", "list_slug", "status", "actor", "action",
    "country", "sector", "language", "organisation", "segment", "answer", "next", "since",
)  # fmt: skip


@pytest.mark.usefixtures("seeded")
def test_every_get_route_answers_junk_query_parameters_without_a_server_error(
    app: Flask, rt: Runtime
) -> None:
    client = app.test_client()
    assert login(client, make_staff(rt, "admin")) == 302
    paths = [p for p in get_paths(app, "/") if p != "/admin/logout"]
    for path in paths:
        for junk in JUNK:
            response = client.get(path, query_string=dict.fromkeys(QUERY_NAMES, junk))
            assert response.status_code < 500, (path, junk[:40])


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    "path", ["/archive/practitioners%00", "/admin/audit?actor=%00", "/register?list=a%00b"]
)
def test_a_nul_character_anywhere_is_a_clear_400(app: Flask, rt: Runtime, path: str) -> None:
    client = app.test_client()
    assert login(client, make_staff(rt, "admin")) == 302
    response = client.get(path)
    assert response.status_code == 400
    assert "character that is not allowed" in response.text


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("number", ["99999999999999999999", str(2**31)])
def test_an_id_too_large_for_any_row_is_not_found_on_every_route(
    app: Flask, rt: Runtime, number: str
) -> None:
    # A number past the id column's range (past SQLite's 64 bits, past PostgreSQL's INTEGER)
    # cannot name a row: each route with an id answers 404 (or 405 where another route of the
    # same path takes the method), never a 500 from the database.
    client = app.test_client()
    assert login(client, make_staff(rt, "admin")) == 302
    token = csrf_token(client.get("/admin/").text)
    checked = 0
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule or rule.endpoint == "admin.logout":
            continue
        path = sample_path(re.sub(r"<int:\w+>", number, rule.rule))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={"csrf_token": token})
            assert response.status_code in (404, 405), (method, path, response.status_code)
            checked += 1
    assert checked >= 20
