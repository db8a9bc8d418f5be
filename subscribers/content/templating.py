"""Where the templates live and the Jinja environments for mail (the web uses Flask's)."""

from __future__ import annotations

import functools
from datetime import date, datetime
from importlib.resources import files
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.bccache import Bucket

from subscribers import CATALOGUES
from subscribers.core.models import DEFAULT_ACCENT
from subscribers.core.validation import LANGUAGES

# templates/ is shipped as the package ``newsletter_templates`` (a name that cannot clash with
# another project's ``templates`` in site-packages); in a checkout it is the top-level folder.
TEMPLATES = Path(str(files("newsletter_templates")))


class SharedBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for every environment of one kind in this process.

    Each Flask app and each mail kit has an environment of its own, and each would compile the
    same templates again: the worker and the web app in one process, the test suite hundreds of
    times. Jinja checks every entry against its template's source checksum, so an edited
    template is compiled afresh. Environments that compile differently (options, extensions)
    must not share one: ``shared_bytecode_cache`` keeps one per kind.
    """

    def __init__(self) -> None:
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


_CACHES: dict[str, SharedBytecodeCache] = {}


def shared_bytecode_cache(kind: str) -> SharedBytecodeCache:
    """The process-wide cache for environments of ``kind`` ("web", "mail-html", "mail-text")."""
    return _CACHES.setdefault(kind, SharedBytecodeCache())


@functools.cache
def available_languages() -> tuple[str, ...]:
    """English and every language whose compiled catalogue ships, in the order of LANGUAGES.

    A language without its catalogue is never claimed: mail and pages fall back to English and
    say so in ``lang``, rather than English text marked as, say, Polish for a screen reader.
    """
    return tuple(
        code
        for code in LANGUAGES
        if code == "en" or (CATALOGUES / code / "LC_MESSAGES" / "messages.mo").is_file()
    )


def supported_language(code: str | None) -> str | None:
    """``code`` (``pt``, ``pt-BR``, ``PT``) as one of ``available_languages``, or None."""
    base = (code or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in available_languages() else None


def mail_language(code: str | None) -> str:
    """The language mail to someone who chose ``code`` is written in (English as a fallback)."""
    return supported_language(code) or "en"


def locale_formatters(language: str) -> dict[str, object]:
    """Babel (CLDR) formatting bound to one locale: the Jinja filters of mail in ``language``."""

    def dateformat(value: date | datetime, format: str = "long") -> str:
        return format_date(value, format, locale=language)

    def datetimeformat(value: datetime, format: str = "long") -> str:
        # A time is shown in the zone it carries (the event's, the member's), not converted.
        return format_datetime(value, format, tzinfo=value.tzinfo, locale=language)

    def numberformat(value: float) -> str:
        return format_decimal(value, locale=language)

    return {
        "dateformat": dateformat,
        "datetimeformat": datetimeformat,
        "numberformat": numberformat,
    }


def _mail_env(language: str, *, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        # The compiled code does not depend on the language (gettext is looked up at run time),
        # so every language's environments share one cache per kind.
        bytecode_cache=shared_bytecode_cache("mail-html" if html else "mail-text"),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    catalogue = Translations.load(str(CATALOGUES), [language, "en"])
    # jinja2.ext.i18n adds this method to the environment when it loads; no type declares it.
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(locale_formatters(language))
    env.globals["language"] = language
    env.globals["default_accent"] = DEFAULT_ACCENT
    return env


@functools.cache
def mail_environments(language: str = "en") -> tuple[Environment, Environment]:
    """(html_env, text_env) for ``templates/email`` in ``language``: HTML autoescaped, text not.

    Built once per language and process: a campaign to seven languages renders seven times
    with environments that already exist.
    """
    language = mail_language(language)
    return _mail_env(language, html=True), _mail_env(language, html=False)
