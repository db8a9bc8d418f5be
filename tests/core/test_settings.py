"""Settings: every bad value stops start-up with one message naming its variable."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from subscribers.core.settings import Settings, SettingsError, load

NEWSLETTER = Path(sys.executable).parent / "newsletter"
KEY = "a-secret-key-long-enough"
STRONG_KEY = "q3V9-xT2pLr8ZkWc1NbYh7Fs0DjMuA6eRtGi4OoE5Hn"  # a token_urlsafe(32), ~215 bits


@pytest.fixture
def base(tmp_path: Path) -> dict[str, str]:
    """A valid environment that writes nothing outside tmp_path."""
    return {
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": KEY,
    }


def load_with(base: dict[str, str], **values: str) -> Settings:
    return load({**base, **values}, dotenv=None)


BAD = [
    ("NEWSLETTER_SEND_RATE", "fast"),
    ("NEWSLETTER_SEND_RATE", "0"),
    ("NEWSLETTER_SEND_RATE", "-1"),
    ("NEWSLETTER_SEND_RATE", "nan"),
    ("NEWSLETTER_SEND_RATE", "inf"),
    ("NEWSLETTER_SEND_RATE", "1e400"),
    ("NEWSLETTER_SEND_RATE", "50/s"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "0"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "abc"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "-1"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "1.5"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "65"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "99999999999999999999999"),
    ("NEWSLETTER_SMTP_CONNECTIONS", "\u00b2"),  # isdigit(), but int() refuses it
    ("NEWSLETTER_SMTP_URL", "http://x"),
    ("NEWSLETTER_SMTP_URL", "smtp://"),
    ("NEWSLETTER_SMTP_URL", "smtp://:25"),
    ("NEWSLETTER_SMTP_URL", "smtp://relay.example.org:port"),
    ("NEWSLETTER_SMTP_URL", "smtp://relay.example.org:99999"),
    ("NEWSLETTER_SMTP_URL", "relay.example.org:25"),
    ("NEWSLETTER_SMTP_URL", "smtp://[relay.example.org:25"),  # urlsplit's ValueError, unnamed
    ("NEWSLETTER_BASE_URL", "ftp://x"),
    ("NEWSLETTER_BASE_URL", "newsletter.example.org"),
    ("NEWSLETTER_BASE_URL", "http://"),
    ("NEWSLETTER_BASE_URL", "javascript:alert(1)"),
    ("NEWSLETTER_BASE_URL", "https://[news.example.org"),
    ("NEWSLETTER_BASE_URL", "https://news.example.org:port"),
    ("NEWSLETTER_TIMEZONE", "Mars/Olympus"),
    ("NEWSLETTER_TIMEZONE", "../../etc/passwd"),
    ("NEWSLETTER_TIMEZONE", "Europe/"),
    ("NEWSLETTER_DATABASE_URL", "mysql://"),
    ("NEWSLETTER_DATABASE_URL", "mysql://user@db.example.org/newsletter"),
    ("NEWSLETTER_DATABASE_URL", "newsletter.db"),
    ("NEWSLETTER_SECRET_KEY", "short"),
    ("NEWSLETTER_SECRET_KEY", "x" * 15),
    ("NEWSLETTER_ENV", "staging"),
    ("NEWSLETTER_MAIL_FROM", "News\r\nBcc: eve@example.org"),
    ("NEWSLETTER_MAIL_FROM", "not an address"),
    ("NEWSLETTER_BOUNCE_ADDRESS", "bounces\n@example.org"),
    ("NEWSLETTER_CHECK_DELIVERABILITY", "maybe"),
    # Read only in production before, so a typo passed unseen until the day it mattered.
    ("NEWSLETTER_ALLOW_HTTP", "maybe"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_value_names_its_variable(base: dict[str, str], name: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_with(base, **{name: value})
    message = str(err.value)
    assert message.startswith(f"{name}: "), message
    assert "\n" not in message.strip()


def test_production_needs_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        load(
            {"NEWSLETTER_ENV": "production", "NEWSLETTER_INSTANCE_PATH": str(tmp_path)},
            dotenv=None,
        )
    assert str(err.value).startswith("NEWSLETTER_SECRET_KEY: ")
    assert not (tmp_path / "secret_key").exists()  # no key invented in production


def test_production_ignores_a_development_key_file(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("k" * 40)
    with pytest.raises(SettingsError, match="^NEWSLETTER_SECRET_KEY: "):
        load(
            {"NEWSLETTER_ENV": "Production", "NEWSLETTER_INSTANCE_PATH": str(tmp_path)},
            dotenv=None,
        )


def test_a_short_key_is_not_echoed(base: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as err:
        load_with(base, NEWSLETTER_SECRET_KEY="tiny-secret")
    assert str(err.value).startswith("NEWSLETTER_SECRET_KEY: ")
    assert "tiny-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSLETTER_SMTP_URL", "smtp://apikey:s3cr3t-passw0rd@relay.example.org:58x"),
        ("NEWSLETTER_SMTP_URL", "http://apikey:s3cr3t-passw0rd@relay.example.org"),
        ("NEWSLETTER_DATABASE_URL", "mysql://newsletter:s3cr3t-passw0rd@db.example.org/news"),
    ],
)
def test_a_bad_url_does_not_print_its_password(base: dict[str, str], name: str, value: str) -> None:
    """The one line goes to stderr and from there into logs: no credentials in it."""
    with pytest.raises(SettingsError) as err:
        load_with(base, **{name: value})
    assert str(err.value).startswith(f"{name}: ")
    assert "s3cr3t-passw0rd" not in str(err.value), str(err.value)


def test_dkim_key_without_selector(base: dict[str, str], tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(SettingsError) as err:
        load_with(base, NEWSLETTER_DKIM_KEY_FILE=str(key))
    assert str(err.value).startswith("NEWSLETTER_DKIM_SELECTOR: ")
    assert "NEWSLETTER_DKIM_KEY_FILE" in str(err.value)


def test_dkim_selector_without_key(base: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="^NEWSLETTER_DKIM_KEY_FILE: "):
        load_with(base, NEWSLETTER_DKIM_SELECTOR="news2026")


def test_dkim_key_file_missing(base: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(SettingsError) as err:
        load_with(base, NEWSLETTER_DKIM_KEY_FILE=str(missing), NEWSLETTER_DKIM_SELECTOR="s1")
    assert str(err.value).startswith("NEWSLETTER_DKIM_KEY_FILE: ")
    assert "nope.pem" in str(err.value)


def test_dkim_key_file_that_is_a_directory(base: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="^NEWSLETTER_DKIM_KEY_FILE: "):
        load_with(base, NEWSLETTER_DKIM_KEY_FILE=str(tmp_path), NEWSLETTER_DKIM_SELECTOR="s1")


def test_an_unusable_instance_path_for_the_development_key(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match="^NEWSLETTER_SECRET_KEY: "):
        load({"NEWSLETTER_INSTANCE_PATH": str(blocker / "instance")}, dotenv=None)


# -- good values ---------------------------------------------------------------------------


def test_defaults(tmp_path: Path) -> None:
    settings = load({"NEWSLETTER_INSTANCE_PATH": str(tmp_path / "inst")}, dotenv=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'inst' / 'newsletter.db'}"
    assert settings.smtp_url == "capture://"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.send_rate == 50.0 and settings.smtp_connections == 4
    assert settings.timezone == "Europe/Lisbon" and settings.env == "development"
    assert settings.check_deliverability is False
    assert settings.bounce_address is None and settings.dkim_key_file is None
    assert not settings.production and not settings.secure_cookies


def test_the_development_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    env = {"NEWSLETTER_INSTANCE_PATH": str(tmp_path / "inst")}
    first = load(env, dotenv=None).secret_key
    assert len(first) >= 32
    assert load(env, dotenv=None).secret_key == first
    mode = stat.S_IMODE((tmp_path / "inst" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_good_values_are_parsed(base: dict[str, str], tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    key.write_text("pem")
    settings = load_with(
        base,
        NEWSLETTER_SEND_RATE=" 2.5 ",
        NEWSLETTER_SMTP_CONNECTIONS="64",
        NEWSLETTER_SMTP_URL="smtps://user:pw@relay.example.org:465",
        NEWSLETTER_BASE_URL="https://news.example.org/",
        NEWSLETTER_TIMEZONE="Europe/Chisinau",
        NEWSLETTER_DATABASE_URL="postgresql://newsletter@db.example.org/news",
        NEWSLETTER_DKIM_KEY_FILE=str(key),
        NEWSLETTER_DKIM_SELECTOR="news2026",
        NEWSLETTER_CHECK_DELIVERABILITY="yes",
        NEWSLETTER_BOUNCE_ADDRESS="bounces+{token}@example.org",
        NEWSLETTER_ENV="production",
        NEWSLETTER_SECRET_KEY=STRONG_KEY,
    )
    assert settings.send_rate == 2.5 and settings.smtp_connections == 64
    assert settings.base_url == "https://news.example.org" and settings.secure_cookies
    assert settings.database_url == "postgresql+psycopg://newsletter@db.example.org/news"
    assert settings.timezone == "Europe/Chisinau"
    assert settings.check_deliverability is True and settings.production
    assert settings.dkim_selector == "news2026"
    assert settings.bounce_address == "bounces+{token}@example.org"


def test_other_postgres_drivers_are_switched_to_psycopg(base: dict[str, str]) -> None:
    url = "postgresql+psycopg2://u@h/db"
    assert load_with(base, NEWSLETTER_DATABASE_URL=url).database_url == (
        "postgresql+psycopg://u@h/db"
    )


def test_blank_values_mean_the_default(base: dict[str, str]) -> None:
    settings = load_with(base, NEWSLETTER_SEND_RATE="  ", NEWSLETTER_TIMEZONE="")
    assert settings.send_rate == 50.0 and settings.timezone == "Europe/Lisbon"


def test_a_dotenv_file_is_read_and_the_environment_wins(
    base: dict[str, str], tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("NEWSLETTER_SEND_RATE=7\nNEWSLETTER_TIMEZONE=Europe/Warsaw\n")
    settings = load({**base, "NEWSLETTER_TIMEZONE": "Europe/Madrid"}, dotenv=str(dotenv))
    assert settings.send_rate == 7.0 and settings.timezone == "Europe/Madrid"
    dotenv.write_text("NEWSLETTER_SEND_RATE=fast\n")
    with pytest.raises(SettingsError, match="^NEWSLETTER_SEND_RATE: "):
        load(base, dotenv=str(dotenv))
    assert load(base, dotenv=None).send_rate == 50.0  # dotenv=None reads no file


def test_a_dotenv_line_that_cannot_be_read_stops_start_up_naming_it(
    base: dict[str, str], tmp_path: Path
) -> None:
    """python-dotenv skips such a line with a logged warning: the relay named on it was never
    used and mail stayed in capture://, silently."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        'NEWSLETTER_SEND_RATE=7\n\nNEWSLETTER_SMTP_URL="smtp://relay.example.org:25\n'
    )
    with pytest.raises(SettingsError) as err:
        load(base, dotenv=str(dotenv))
    assert str(err.value) == f"{dotenv}: line 3 (NEWSLETTER_SMTP_URL) cannot be read"
    dotenv.write_bytes(b"\xff\xfeNEWSLETTER_SEND_RATE=7\n")
    with pytest.raises(SettingsError, match=f"^{re.escape(str(dotenv))}: not UTF-8 text$"):
        load(base, dotenv=str(dotenv))


# -- through the command line --------------------------------------------------------------


def cli_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_INSTANCE_PATH"] = str(tmp_path / "instance")
    env.update(values)
    return env


def run_cli(tmp_path: Path, *args: str, **values: str) -> subprocess.CompletedProcess[str]:
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [str(NEWSLETTER), *args],
        cwd=cwd,
        env=cli_env(tmp_path, **values),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess[str], name: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_bad_send_rate_is_one_line_on_stderr(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "lists", "show", NEWSLETTER_SEND_RATE="fast")
    assert_one_line_naming(result, "NEWSLETTER_SEND_RATE")
    assert "'fast'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSLETTER_SMTP_CONNECTIONS", "abc"),
        ("NEWSLETTER_TIMEZONE", "Mars/Olympus"),
        ("NEWSLETTER_DATABASE_URL", "mysql://"),
        ("NEWSLETTER_BASE_URL", "ftp://x"),
    ],
)
def test_cli_other_bad_values_are_one_line(tmp_path: Path, name: str, value: str) -> None:
    assert_one_line_naming(run_cli(tmp_path, "outbox", "status", **{name: value}), name)


def test_cli_production_without_a_key_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "db", "upgrade", NEWSLETTER_ENV="production")
    assert_one_line_naming(result, "NEWSLETTER_SECRET_KEY")


def test_cli_reads_a_bad_value_from_dotenv_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / ".env").write_text("NEWSLETTER_SEND_RATE=-1\n")
    assert_one_line_naming(run_cli(tmp_path, "lists", "show"), "NEWSLETTER_SEND_RATE")
