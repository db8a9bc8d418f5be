"""Settings from the environment (and a ``.env`` file), parsed once and validated at start-up."""

from __future__ import annotations

import io
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from mailer.message import Address, HeaderInjection
from mailer.pacing import DEFAULT_LIMITS, DomainLimit, parse_limits
from mailer.zones import known_zone


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    smtp_url: str
    base_url: str
    secret_key: str
    mail_from: str
    bounce_address: str | None
    send_rate: float
    smtp_connections: int
    dkim_key_file: str | None
    dkim_selector: str | None
    timezone: str
    env: str
    check_deliverability: bool
    instance_path: str
    trusted_proxies: int = 0
    # Webhook targets on loopback, private or link-local addresses (SSRF): refused unless set.
    webhook_allow_private: bool = False
    # Per recipient domain: messages on the wire at once and a minute (mailer.pacing).
    domain_limits: Mapping[str, DomainLimit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    # A campaign pauses itself above these rates (percent of its sent mail), once it has sent
    # brake_min_sent messages (subscribers.content.brakes).
    brake_hard_bounce_rate: float = 5.0
    brake_complaint_rate: float = 0.3
    brake_min_sent: int = 100
    # Delivery rows (addresses, personal values) of finished campaigns older than this are
    # folded into per-campaign figures (mailer.outbox.fold_old); 0 keeps them for ever.
    delivery_retention_days: int = 180

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def _get(environ: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _positive_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a positive number, got {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise SettingsError(f"{name}: expected a positive number, got {raw!r}")
    return value


def _whole_number(
    environ: Mapping[str, str], name: str, default: int, *, least: int = 1, most: int
) -> int:
    raw = _get(environ, name)
    if raw is None:
        return default
    if not raw.isdecimal() or not least <= int(raw) <= most:
        raise SettingsError(f"{name}: expected a whole number from {least} to {most}, got {raw!r}")
    return int(raw)


def _percent(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(environ, name)
    if raw is None:
        return default
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        value = math.nan
    if not 0 < value <= 100:
        raise SettingsError(f"{name}: expected a percentage above 0 and at most 100, got {raw!r}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(environ, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _database_url(environ: Mapping[str, str], instance: Path) -> str:
    default = f"sqlite:///{instance / 'newsletter.db'}"
    url = _get(environ, "NEWSLETTER_DATABASE_URL", default) or default
    scheme = url.split(":", 1)[0]
    if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
        raise SettingsError(
            "NEWSLETTER_DATABASE_URL: expected sqlite:///path or postgresql+psycopg://..., "
            f"got {_redact(url)!r}"
        )
    if scheme.startswith("postgresql") and scheme != "postgresql+psycopg":
        url = "postgresql+psycopg" + url[len(scheme) :]
    return url


def _smtp_url(environ: Mapping[str, str]) -> str:
    url = _get(environ, "NEWSLETTER_SMTP_URL", "capture://") or "capture://"
    parts = _split(url)
    if parts is not None and parts.scheme == "capture":
        return url
    if parts is None or parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(
            "NEWSLETTER_SMTP_URL: expected smtp://host:port, smtps://host:port or capture://, "
            f"got {_redact(url)!r}"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise SettingsError("NEWSLETTER_SMTP_URL: bad port") from None
    return url


def _base_url(environ: Mapping[str, str]) -> str:
    url = _get(environ, "NEWSLETTER_BASE_URL", "http://127.0.0.1:5000") or ""
    parts = _split(url)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"NEWSLETTER_BASE_URL: expected an http(s) URL, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise SettingsError("NEWSLETTER_BASE_URL: bad port") from None
    return url.rstrip("/")


def _split(url: str) -> SplitResult | None:
    """The URL's parts, or None when urlsplit cannot read it ("http://[host", a bracket)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _address(environ: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = _get(environ, name, default)
    if raw is None:
        return None
    try:
        Address.parse(raw.replace("{token}", "token"))
    except HeaderInjection:
        raise SettingsError(f"{name}: expected Name <address> or an address, got {raw!r}") from None
    return raw


def _timezone(environ: Mapping[str, str]) -> str:
    name = _get(environ, "NEWSLETTER_TIMEZONE", "Europe/Lisbon") or "Europe/Lisbon"
    try:
        return known_zone(name).key
    except ValueError as err:
        raise SettingsError(f"NEWSLETTER_TIMEZONE: {err}") from None


# A production key must be at least this hard to guess (see ``key_strength``).
STRONG_KEY_BITS = 128


def key_strength(key: str) -> float:
    """A cautious estimate of the key's entropy in bits: its letter-by-letter Shannon entropy
    over the shortest piece it repeats, so neither a long run of few letters ("aaaa...",
    "passwordpassword...") nor a repeated pattern passes for a random key."""
    if not key:
        return 0.0
    counts = Counter(key)
    per_letter = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    period = next(p for p in range(1, len(key) + 1) if key == (key[:p] * len(key))[: len(key)])
    return per_letter * period


def _secret_key(environ: Mapping[str, str], instance: Path, production: bool) -> str:
    key = _get(environ, "NEWSLETTER_SECRET_KEY")
    if key is not None:
        if len(key) < 16:
            raise SettingsError("NEWSLETTER_SECRET_KEY: must be at least 16 characters long")
        if production and key_strength(key) < STRONG_KEY_BITS:
            raise SettingsError(
                "NEWSLETTER_SECRET_KEY: too easy to guess for production; use a random key, "
                "for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return key
    if production:
        raise SettingsError("NEWSLETTER_SECRET_KEY: required when NEWSLETTER_ENV=production")
    # Development: a random key kept in instance/ so sessions and links survive restarts.
    path = instance / "secret_key"
    try:
        if path.exists():
            return path.read_text().strip()
        instance.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key
    except OSError as err:
        raise SettingsError(
            f"NEWSLETTER_SECRET_KEY: not set and {path} cannot be used ({err})"
        ) from None


def _production_checks(settings: Settings, *, allow_http: bool) -> None:
    """What a public instance must not run with: links and cookies over plain HTTP (unless the
    operator says the HTTPS ends before this host), and mail that never leaves the machine."""
    if settings.base_url.startswith("http://") and not allow_http:
        raise SettingsError(
            "NEWSLETTER_BASE_URL: must start with https:// when NEWSLETTER_ENV=production "
            "(set NEWSLETTER_ALLOW_HTTP=true to allow http://)"
        )
    if settings.smtp_url.startswith("capture:"):
        raise SettingsError(
            "NEWSLETTER_SMTP_URL: capture:// keeps mail on this machine; set a real relay "
            "when NEWSLETTER_ENV=production"
        )


def _instance(environ: Mapping[str, str], production: bool) -> Path:
    instance = Path(_get(environ, "NEWSLETTER_INSTANCE_PATH", "instance") or "instance").resolve()
    if production:
        # Made here, private, so the SQLite file and uploads have a home before anything runs.
        try:
            instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise SettingsError(
                f"NEWSLETTER_INSTANCE_PATH: cannot create {instance} ({err})"
            ) from None
    return instance


def _dkim(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    key_file = _get(environ, "NEWSLETTER_DKIM_KEY_FILE")
    selector = _get(environ, "NEWSLETTER_DKIM_SELECTOR")
    if key_file and not selector:
        raise SettingsError("NEWSLETTER_DKIM_SELECTOR: required with NEWSLETTER_DKIM_KEY_FILE")
    if selector and not key_file:
        raise SettingsError("NEWSLETTER_DKIM_KEY_FILE: required with NEWSLETTER_DKIM_SELECTOR")
    if key_file and not Path(key_file).is_file():
        raise SettingsError(f"NEWSLETTER_DKIM_KEY_FILE: no such file {key_file!r}")
    return key_file, selector


def _domain_limits(environ: Mapping[str, str]) -> dict[str, DomainLimit]:
    try:
        return parse_limits(_get(environ, "NEWSLETTER_DOMAIN_LIMITS"))
    except ValueError as err:
        raise SettingsError(f"NEWSLETTER_DOMAIN_LIMITS: {err}") from None


def _dotenv(path: str) -> dict[str, str]:
    """The variables of a ``.env`` file. A line it cannot read stops start-up, naming the line:
    python-dotenv would skip it with a logged warning, and the setting on it (a relay, a key)
    would silently fall back to its default."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise SettingsError(f"{path}: {err.strerror or err}") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            original = binding.original.string
            # The blank lines before it come with it: count them. Its value is not shown (it
            # may be a password), only the name it sets, when there is one.
            blank = original.count("\n", 0, len(original) - len(original.lstrip()))
            name, equals, _value = original.strip().partition("=")
            setting = f" ({name.strip()})" if equals else ""
            raise SettingsError(
                f"{path}: line {binding.original.line + blank}{setting} cannot be read"
            )
    values = dotenv_values(stream=io.StringIO(text))
    return {k: v for k, v in values.items() if v is not None}


def load(environ: Mapping[str, str] | None = None, *, dotenv: str | None = ".env") -> Settings:
    """Read every setting; raise SettingsError naming the first bad variable."""
    env: dict[str, str] = {}
    if dotenv and Path(dotenv).is_file():
        env.update(_dotenv(dotenv))
    env.update(os.environ if environ is None else environ)
    mode = (_get(env, "NEWSLETTER_ENV", "development") or "development").lower()
    if mode not in ("development", "production"):
        raise SettingsError(f"NEWSLETTER_ENV: expected development or production, got {mode!r}")
    instance = _instance(env, mode == "production")
    dkim_key_file, dkim_selector = _dkim(env)
    settings = Settings(
        database_url=_database_url(env, instance),
        smtp_url=_smtp_url(env),
        base_url=_base_url(env),
        secret_key=_secret_key(env, instance, mode == "production"),
        mail_from=_address(env, "NEWSLETTER_MAIL_FROM", "Newsletter <newsletter@localhost>") or "",
        bounce_address=_address(env, "NEWSLETTER_BOUNCE_ADDRESS", None),
        send_rate=_positive_float(env, "NEWSLETTER_SEND_RATE", 50.0),
        smtp_connections=_whole_number(env, "NEWSLETTER_SMTP_CONNECTIONS", 4, most=64),
        dkim_key_file=dkim_key_file,
        dkim_selector=dkim_selector,
        timezone=_timezone(env),
        env=mode,
        check_deliverability=_bool(env, "NEWSLETTER_CHECK_DELIVERABILITY", False),
        instance_path=str(instance),
        trusted_proxies=_whole_number(env, "NEWSLETTER_TRUSTED_PROXIES", 0, least=0, most=5),
        webhook_allow_private=_bool(env, "NEWSLETTER_WEBHOOK_ALLOW_PRIVATE", False),
        domain_limits=_domain_limits(env),
        brake_hard_bounce_rate=_percent(env, "NEWSLETTER_BRAKE_HARD_BOUNCE_RATE", 5.0),
        brake_complaint_rate=_percent(env, "NEWSLETTER_BRAKE_COMPLAINT_RATE", 0.3),
        brake_min_sent=_whole_number(env, "NEWSLETTER_BRAKE_MIN_SENT", 100, most=10_000_000),
        delivery_retention_days=_whole_number(
            env, "NEWSLETTER_DELIVERY_RETENTION_DAYS", 180, least=0, most=36_500
        ),
    )
    # Checked in every mode, so that a bad value stops start-up before production needs it.
    allow_http = _bool(env, "NEWSLETTER_ALLOW_HTTP", False)
    if settings.production:
        _production_checks(settings, allow_http=allow_http)
    return settings
