"""`newsletter tokens create/list/revoke`: shown once, stored hashed, revocable, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from subscribers.core.models import ApiToken, AuditEntry
from subscribers.runtime import Runtime
from tests.api.conftest import Api
from tests.cli.test_imports import run


@pytest.fixture
def env(tmp_path: Path, database_url: str, rt: Runtime) -> dict[str, str]:
    return {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }


def test_create_list_revoke(env: dict[str, str], app: Flask, rt: Runtime) -> None:
    made = run(env, "tokens", "create", "website signup", "--role", "editor")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("nlt_") and "not shown again" in made.stderr
    with rt.new_session() as s:
        row = s.execute(select(ApiToken)).scalar_one()
        assert secret not in (row.token_hash, row.name) and len(row.token_hash) == 64
    api = Api(app.test_client(), secret)
    assert api.get("/api/v1/lists").status_code == 200
    listed = run(env, "tokens", "list").stdout
    assert listed.startswith("website signup\teditor\tactive") and secret not in listed
    assert run(env, "tokens", "create", "website signup", "--role", "viewer").exit_code != 0
    revoked = run(env, "tokens", "revoke", "website signup")
    assert revoked.stdout.strip() == "revoked website signup"
    assert api.get("/api/v1/lists").status_code == 401
    assert "\trevoked\t" in run(env, "tokens", "list").stdout
    with rt.new_session() as s:
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
    assert actions == ["token.create", "token.revoke"]


def test_bad_input_is_one_line(env: dict[str, str], rt: Runtime) -> None:
    past = run(env, "tokens", "create", "x", "--role", "viewer", "--expires", "2020-01-01T00:00")
    assert past.exit_code != 0 and "future" in past.stderr
    junk = run(env, "tokens", "create", "x", "--role", "viewer", "--expires", "soon")
    assert junk.exit_code != 0 and "--expires" in junk.stderr
    assert run(env, "tokens", "create", "\x1b[31m", "--role", "viewer").exit_code != 0
    assert run(env, "tokens", "revoke", "nobody").exit_code != 0
