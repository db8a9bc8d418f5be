"""The role matrix over every API route, from the URL map, with each role and with no, bogus,
expired and revoked tokens; every answer checked against the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from subscribers.admin import api_tokens, staff
from subscribers.content import news
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.api import contract
from tests.api.conftest import Api, expired_token, make_token
from tests.factories import make_list, make_member

PUBLIC = {"api.openapi_json", "api.docs"}


def api_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every route under /api/, from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule, rule.endpoint))
    return routes


def sample_path(rule: str) -> str:
    values = {"slug": "practitioners", "ref": "ana@example.org"}
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), rule)


@pytest.fixture
def content(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    with transaction(rt.new_session()) as s:
        news.add(s, "practitioners", title="Report", body="Text.", link=None, now=rt.clock())


def test_every_api_route_declares_a_role_or_is_public(app: Flask) -> None:
    for _method, _rule, endpoint in api_routes(app):
        view = app.view_functions[endpoint]
        assert endpoint in PUBLIC or view.required_role in staff.ROLES, endpoint


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_role_matrix(app: Flask, rt: Runtime, content: None, role: str) -> None:
    api = Api(app.test_client(), make_token(rt, role))
    for method, rule, endpoint in api_routes(app):
        needed = getattr(app.view_functions[endpoint], "required_role", None)
        # An empty object: a route that takes a body answers 422 when allowed, 403 when not.
        response = api(method, sample_path(rule), json={})
        if needed is None or staff.role_allows(role, needed):
            assert response.status_code not in (401, 403), (role, method, rule)
            assert response.status_code < 500, (role, method, rule, response.text)
        else:
            assert response.status_code == 403, (role, method, rule)
            assert response.mimetype == "application/problem+json"
        if endpoint != "api.docs":
            contract.check(app, method, rule, response)


@pytest.mark.parametrize("kind", ["none", "bogus", "expired", "revoked", "other scheme"])
def test_without_a_working_token_every_route_answers_401(
    app: Flask, rt: Runtime, content: None, kind: str
) -> None:
    secret = {
        "none": None,
        "bogus": "nlt_not-a-token",
        "expired": expired_token(rt) if kind == "expired" else None,
        "revoked": make_token(rt, "admin", name="revoked") if kind == "revoked" else None,
        "other scheme": None,
    }[kind]
    if kind == "revoked":
        with transaction(rt.new_session()) as s:
            api_tokens.revoke(s, api_tokens.by_name(s, "revoked"), now=rt.clock())
    api = Api(app.test_client(), secret)
    headers = {"Authorization": "Basic YWRtaW46YWRtaW4="} if kind == "other scheme" else {}
    for method, rule, endpoint in api_routes(app):
        if endpoint in PUBLIC:
            continue
        response = api(method, sample_path(rule), json={}, headers=headers)
        assert response.status_code == 401, (kind, method, rule)
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        contract.check(app, method, rule, response)


def test_last_use_is_recorded(app: Flask, rt: Runtime, content: None) -> None:
    secret = make_token(rt, "viewer", name="crm")
    rt.clock.advance(minutes=5)
    assert Api(app.test_client(), secret).get("/api/v1/lists").status_code == 200
    with rt.new_session() as s:
        assert api_tokens.by_name(s, "crm").last_used_at == rt.clock()


def test_rate_limit_per_token_answers_429_with_retry_after(
    app: Flask, rt: Runtime, content: None
) -> None:
    app.config["API_RATE_LIMIT"] = 3
    busy = Api(app.test_client(), make_token(rt, "viewer", name="busy"))
    calm = Api(app.test_client(), make_token(rt, "viewer", name="calm"))
    assert [busy.get("/api/v1/lists").status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = busy.get("/api/v1/lists")
    assert refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert calm.get("/api/v1/lists").status_code == 200  # another token has its own count
    rt.clock.advance(seconds=61)
    assert busy.get("/api/v1/lists").status_code == 200
