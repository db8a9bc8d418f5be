"""Staff pages: login, lock-out, the role matrix over every admin route, digest-now, outbox."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.outbox import Campaign
from subscribers.admin import staff
from subscribers.content import news
from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry
from subscribers.runtime import Runtime
from tests.conftest import confirm, csrf_token
from tests.factories import make_list, make_member

PASSWORD = "correct horse battery"


def make_staff(rt: Runtime, role: str) -> str:
    email = f"{role}@example.org"
    with transaction(rt.new_session()) as s:
        staff.create(s, email, PASSWORD, role, now=rt.clock())
    return email


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> int:
    page = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page.text), "email": email, "password": password},
    ).status_code


def sample_path(rule: str) -> str:
    """A URL rule with its arguments filled: list "practitioners", token junk, any id 1."""
    values = {"slug": "practitioners", "token": "junk.token"}
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), rule)


def admin_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, path, endpoint) of every staff route, from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        # By path, not blueprint name: a staff page in any blueprint is covered without anyone
        # remembering to add it here.
        if not rule.rule.startswith("/admin") or rule.endpoint in (
            "admin.login",
            "admin.logout",
        ):
            continue
        path = sample_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, path, rule.endpoint))
    return routes


def test_every_staff_route_declares_a_role(app: Flask) -> None:
    for _method, _path, endpoint in admin_routes(app):
        assert hasattr(app.view_functions[endpoint], "required_role"), endpoint


@pytest.mark.parametrize("role", [None, "viewer", "editor", "admin"])
def test_role_matrix(app: Flask, rt: Runtime, session, role: str | None) -> None:
    make_list(session, rt.clock(), digest_cron="0 9 * * mon")
    client = app.test_client()
    if role:
        assert login(client, make_staff(rt, role)) == 302
    token = csrf_token(client.get("/admin/login").text)
    for method, path, endpoint in admin_routes(app):
        needed = app.view_functions[endpoint].required_role
        response = client.open(path, method=method, data={"csrf_token": token})
        if role is None:
            assert response.status_code == 302 and "/admin/login" in response.location, path
            assert "Frontline Practitioners Network" not in response.text  # no staff data
        elif staff.role_allows(role, needed):
            assert response.status_code in (200, 302, 404), (role, method, path)
        else:
            assert response.status_code == 403, (role, method, path)


def test_login_locks_out_after_five_failures(client: FlaskClient, rt: Runtime) -> None:
    email = make_staff(rt, "admin")
    for _ in range(5):
        assert login(client, email, "wrong password") == 401
    assert login(client, email) == 429  # locked, even with the right password
    rt.clock.advance(minutes=16)
    assert login(client, email) == 302


def test_unknown_staff_and_wrong_password_look_alike(client: FlaskClient, rt: Runtime) -> None:
    make_staff(rt, "admin")
    assert login(client, "nobody@example.org") == login(client, "admin@example.org", "nope")


def test_login_redirects_only_to_local_pages(client: FlaskClient, rt: Runtime) -> None:
    email = make_staff(rt, "viewer")
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login?next=//evil.example/x",
        data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD},
    )
    assert response.location == "/admin/"


def test_send_digest_now_from_the_workspace(client: FlaskClient, rt: Runtime, session) -> None:
    lst = make_list(session, rt.clock(), digest_cron="0 9 * * mon")
    make_member(session, rt.clock(), lists_=(lst,))
    with transaction(rt.new_session()) as s:
        news.add(
            s,
            "practitioners",
            title="Workshop report",
            body="Close to 40 took part.",
            link=None,
            now=rt.clock(),
        )
    login(client, make_staff(rt, "editor"))
    home = client.get("/admin/")
    assert "Send digest now" in home.text and "Mon, Nov 30, 2026, 9:00\u202fAM" in home.text
    asked = client.post(
        "/admin/lists/practitioners/digest", data={"csrf_token": csrf_token(home.text)}
    )
    assert (
        "Send to 1 member of Frontline Practitioners Network now? "
        "The mail goes out in 1 language." in asked.text
    )
    done = confirm(client, asked, follow_redirects=True)
    assert "Digest queued for 1 member with 1 item." in done.text
    with rt.new_session() as s:
        assert s.execute(select(Campaign.kind)).scalars().all() == ["digest"]
        entry = s.execute(select(AuditEntry)).scalar_one()
        assert (entry.actor, entry.action) == ("editor@example.org", "digest.send")


def test_caught_mail_is_readable_in_the_outbox(tmp_path, settings, clock, engine) -> None:  # type: ignore[no-untyped-def]
    from subscribers.web import create_app

    rt = Runtime.build(settings, clock=clock, engine=engine)  # capture:// by default
    client = create_app(settings, runtime=rt).test_client()
    with transaction(rt.new_session()) as s:
        lst = make_list(s, clock())
        make_member(s, clock(), lists_=(lst,), name="Ana <i>Sousa</i>")
    from tests.web.test_journey import announce

    announce(rt)
    rt.sender.drain()
    login(client, make_staff(rt, "editor"))
    listing = client.get("/admin/outbox")
    assert "Second transnational workshop" in listing.text
    name = re.search(r"/admin/outbox/([\d-]+\.eml)", listing.text).group(1)
    page = client.get(f"/admin/outbox/{name}")
    assert "Ana &lt;i&gt;Sousa&lt;/i&gt;" in page.text  # the To header, escaped
    html = client.get(f"/admin/outbox/{name}/html")
    assert "sandbox" in html.headers["Content-Security-Policy"]
    assert '<base target="_blank">' in html.text
    assert client.get("/admin/outbox/../../etc/passwd").status_code == 404
