"""NEWSLETTER_ENV=production refuses what a public instance must not run with."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from subscribers.core.db import make_engine
from subscribers.core.settings import SettingsError, key_strength, load

STRONG_KEY = "q3V9-xT2pLr8ZkWc1NbYh7Fs0DjMuA6eRtGi4OoE5Hn"


def production(tmp_path: Path, **values: str) -> dict[str, str]:
    return {
        "NEWSLETTER_ENV": "production",
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": STRONG_KEY,
        "NEWSLETTER_BASE_URL": "https://news.example.org",
        "NEWSLETTER_SMTP_URL": "smtp://relay.example.org:25",
        **values,
    }


def test_a_sound_production_setup_loads_and_creates_its_private_instance_folder(
    tmp_path: Path,
) -> None:
    settings = load(production(tmp_path), dotenv=None)
    assert settings.production
    instance = tmp_path / "instance"
    assert instance.is_dir() and stat.S_IMODE(instance.stat().st_mode) == 0o700


def test_production_refuses_plain_http_unless_explicitly_allowed(tmp_path: Path) -> None:
    env = production(tmp_path, NEWSLETTER_BASE_URL="http://news.example.org")
    with pytest.raises(SettingsError, match="^NEWSLETTER_BASE_URL: .*https://"):
        load(env, dotenv=None)
    allowed = load({**env, "NEWSLETTER_ALLOW_HTTP": "true"}, dotenv=None)
    assert allowed.base_url == "http://news.example.org"
    # Development keeps http:// for the local quick start.
    assert load({**env, "NEWSLETTER_ENV": "development"}, dotenv=None).base_url.startswith("http:")


def test_production_refuses_the_local_catch_all(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="^NEWSLETTER_SMTP_URL: capture://"):
        load(production(tmp_path, NEWSLETTER_SMTP_URL="capture://"), dotenv=None)


@pytest.mark.parametrize(
    "key",
    [
        "a" * 64,  # long, one letter
        "passwordpasswordpasswordpassword",  # long, few letters
        "0123456789abcdef" * 4,  # many letters, one repeated pattern
        "a-secret-key-long-enough",  # a sentence
    ],
)
def test_production_refuses_a_long_but_weak_key(tmp_path: Path, key: str) -> None:
    assert len(key) >= 16
    with pytest.raises(SettingsError, match="^NEWSLETTER_SECRET_KEY: too easy to guess") as err:
        load(production(tmp_path, NEWSLETTER_SECRET_KEY=key), dotenv=None)
    assert key not in str(err.value)  # the key is never echoed


def test_random_keys_are_strong_enough() -> None:
    import secrets

    for _ in range(50):
        assert key_strength(secrets.token_urlsafe(32)) >= 128
        assert key_strength(secrets.token_hex(32)) >= 128


def test_the_test_mode_is_gone(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="^NEWSLETTER_ENV: "):
        load(production(tmp_path, NEWSLETTER_ENV="test"), dotenv=None)


def test_the_sqlite_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "news.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    for made in (path, path.with_name("news.db-wal")):
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made
    engine.dispose()
