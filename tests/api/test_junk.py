"""Junk bodies, parameters and paths on every API route: problem+json 4xx, never a 5xx."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subscribers.runtime import Runtime
from tests.api import contract
from tests.api.conftest import Api, make_token
from tests.api.test_access import api_routes, content, sample_path  # noqa: F401 - fixture

JUNK_VALUES = [
    "",
    "x" * 20_000,
    "\x00",
    "a\r\nBcc: victim@example.org",
    -1,
    2**70,
    1e308,
    None,
    [],
    {},
    [{"x": 1}],
    True,
    "2026-13-45T99:99",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "' OR 1=1 --",
    "ünïcødé ☃ \U0001f600",
]
JUNK_BODIES = [
    (b"not json", "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"text"', "application/json"),
    (b'{"a": ', "application/json"),
    (b"\xff\xfe\x00", "application/json"),
    (b'{"email": "a@example.org"}', "text/plain"),
    (b"email=a@example.org", "application/x-www-form-urlencoded"),
]
JUNK_QUERY = [
    "limit=abc",
    "limit=0",
    "limit=100000",
    "limit=-5",
    "cursor=junk",
    "cursor=aWQ6LTE",  # "id:-1"
    "cursor=aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    "status=nope",
    "list=%00",
    "list=" + "x" * 5000,
    "segment=country",
    "segment=nosuch=1",
    "email=not-an-address",
    "email=",
]
# "#²" and "①": digits to isdigit(), not numbers to int() (a 500 before).
JUNK_PATHS = {
    "ref": ["x" * 3000, "%00", "..", "99999999999999999999", "#1", "#\u00b2", "\u2460"],
    "id": ["0"],
}


def _field_names(app: Flask, method: str, rule: str) -> list[str]:
    doc = contract.document(app)
    spec = doc["paths"].get(contract.openapi_path(rule), {}).get(method.lower(), {})
    body = spec.get("requestBody")
    if not body:
        return []
    name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return list(doc["components"]["schemas"][name].get("properties", {}))


def _ok(app: Flask, method: str, rule: str, response, what: object) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, (method, rule, what, response.text[:300])
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", (method, rule, what)
        assert "Traceback" not in response.text
    if rule.startswith("/api/v1/") and not rule.endswith("openapi.json"):
        contract.check(app, method, rule, response)


@pytest.fixture
def api(app: Flask, rt: Runtime, content: None) -> Api:  # noqa: F811
    app.config["API_RATE_LIMIT"] = 1_000_000
    return Api(app.test_client(), make_token(rt, "admin"))


def test_junk_in_every_body_field(app: Flask, api: Api) -> None:
    for method, rule, _endpoint in api_routes(app):
        for value in JUNK_VALUES:
            fields = _field_names(app, method, rule)
            if not fields:
                continue
            response = api(method, sample_path(rule), json=dict.fromkeys(fields, value))
            _ok(app, method, rule, response, value)
            for field in fields:  # one junk field among otherwise absent ones
                response = api(method, sample_path(rule), json={field: value})
                _ok(app, method, rule, response, (field, value))


def test_junk_bodies(app: Flask, api: Api) -> None:
    for method, rule, _endpoint in api_routes(app):
        if method == "GET":
            continue
        for raw, media in JUNK_BODIES:
            response = api(method, sample_path(rule), data=raw, content_type=media)
            _ok(app, method, rule, response, raw)


def test_junk_query_parameters(app: Flask, api: Api) -> None:
    for method, rule, _endpoint in api_routes(app):
        if method != "GET":
            continue
        for query in JUNK_QUERY:
            response = api(method, f"{sample_path(rule)}?{query}")
            _ok(app, method, rule, response, query)


def test_junk_in_paths(app: Flask, api: Api) -> None:
    for method, rule, _endpoint in api_routes(app):
        if "<" not in rule:
            continue
        for value in [*JUNK_PATHS["ref"], *JUNK_PATHS["id"]]:
            path = sample_path(rule).replace("ana@example.org", value).replace("/1", f"/{value}")
            response = api(method, path, json={})
            assert response.status_code < 500, (method, path, response.text[:300])
            assert response.mimetype == "application/problem+json" or response.status_code < 400


def test_a_body_too_large_is_413(api: Api) -> None:
    big = json.dumps({"email": "a@example.org", "name": "x" * (6 * 1024 * 1024)})
    response = api.post("/api/v1/members", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_unknown_address_and_wrong_method_are_problems(api: Api) -> None:
    missing = api.get("/api/v1/nowhere")
    assert (missing.status_code, missing.mimetype) == (404, "application/problem+json")
    assert missing.get_json()["status"] == 404
    wrong = api("PUT", "/api/v1/lists")
    assert (wrong.status_code, wrong.mimetype) == (405, "application/problem+json")


def test_a_wrong_method_names_the_allowed_ones(api: Api, client: FlaskClient) -> None:
    """RFC 9110 15.5.6: a 405 carries Allow, in the API's problem and on the web's page."""
    wrong = api("PUT", "/api/v1/lists")
    assert wrong.status_code == 405
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
    page = client.delete("/register")
    assert page.status_code == 405 and "POST" in page.headers["Allow"]
