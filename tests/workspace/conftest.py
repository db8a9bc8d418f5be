"""Signed-in staff clients for the content workspace tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.admin import staff
from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry
from subscribers.runtime import Runtime
from tests.conftest import csrf_token

PASSWORD = "correct horse battery"


@pytest.fixture
def sign_in(app: Flask, rt: Runtime) -> Callable[[str], FlaskClient]:
    """A client signed in as a new staff user of the given role (``<role>@example.org``)."""

    def make(role: str) -> FlaskClient:
        email = f"{role}@example.org"
        with transaction(rt.new_session()) as s:
            staff.create(s, email, PASSWORD, role, now=rt.clock())
        client = app.test_client()
        page = client.get("/admin/login")
        answer = client.post(
            "/admin/login",
            data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD},
        )
        assert answer.status_code == 302
        return client

    return make


@pytest.fixture
def editor(sign_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return sign_in("editor")


@pytest.fixture
def admin(sign_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return sign_in("admin")


@pytest.fixture
def viewer(sign_in: Callable[[str], FlaskClient]) -> FlaskClient:
    return sign_in("viewer")


def post_form(client: FlaskClient, url: str, data: dict[str, object], *, page: str | None = None):  # type: ignore[no-untyped-def]
    """POST a form with the CSRF token of the page it is on (fetched from ``page`` or ``url``)."""
    token = csrf_token(client.get(page or url).text)
    return client.post(url, data={"csrf_token": token, **data})


def audit_actions(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.new_session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        # "cli (<os user>)" is "cli" here: the user running the tests varies.
        return [(e.actor.split(" ")[0], e.action, e.target) for e in rows]
