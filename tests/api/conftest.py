"""API fixtures: a token per role, and a client that sends it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from subscribers.admin import api_tokens
from subscribers.core.db import transaction
from subscribers.runtime import Runtime

ROLES = ("viewer", "editor", "admin")


class Api:
    """The Flask test client with a bearer token (real HTTP handling, no session, no CSRF)."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client, self.token = client, token

    def __call__(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> TestResponse:
        return self("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self("DELETE", path, **kwargs)


def make_token(rt: Runtime, role: str, *, name: str | None = None, **options: Any) -> str:
    with transaction(rt.new_session()) as s:
        _token, secret = api_tokens.create(
            s, name or f"{role} tool", role, now=rt.clock(), **options
        )
    return secret


@pytest.fixture
def tokens(rt: Runtime) -> dict[str, str]:
    return {role: make_token(rt, role) for role in ROLES}


@pytest.fixture
def as_role(app: Flask, tokens: dict[str, str]):  # type: ignore[no-untyped-def]
    def client_for(role: str | None) -> Api:
        return Api(app.test_client(), tokens[role] if role else None)

    return client_for


@pytest.fixture
def admin_api(as_role) -> Api:  # type: ignore[no-untyped-def]
    return as_role("admin")


@pytest.fixture
def editor_api(as_role) -> Api:  # type: ignore[no-untyped-def]
    return as_role("editor")


def expired_token(rt: Runtime) -> str:
    secret = make_token(rt, "admin", name="short-lived", expires_at=rt.clock() + timedelta(hours=1))
    rt.clock.advance(hours=2)
    return secret
