"""Checks a response against the OpenAPI document: its status is documented, its body fits."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from flask import Flask
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from subscribers.api.core import RULE_ARGUMENT


@cache
def _document(app_id: int, app: Flask) -> dict[str, Any]:
    with app.test_client() as client:
        return client.get("/api/v1/openapi.json").get_json()


def document(app: Flask) -> dict[str, Any]:
    return _document(id(app), app)


def openapi_path(rule: str) -> str:
    return re.sub(RULE_ARGUMENT, r"{\2}", rule)


def check(app: Flask, method: str, rule: str, response: TestResponse) -> None:
    """The status is documented for this operation and the body matches its schema."""
    doc = document(app)
    spec = doc["paths"][openapi_path(rule)][method.lower()]
    status = str(response.status_code)
    assert status in spec["responses"], (method, rule, status, response.text[:300])
    content = spec["responses"][status].get("content")
    if not content:
        assert not response.data, (method, rule, status)
        return
    media = response.mimetype
    assert media in content, (method, rule, status, media)
    schema = {**content[media]["schema"], "components": doc["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(response.get_json()), key=str)
    assert not errors, (method, rule, status, [e.message for e in errors[:3]])
