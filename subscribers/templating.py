"""Where the templates live and the Jinja environments for mail (the web uses Flask's)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from babel.support import Translations
from jinja2 import (
    BytecodeCache,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from jinja2.bccache import Bucket

# templates/ is shipped as the package ``newsletter_templates`` (a name that cannot clash with
# another project's ``templates`` in site-packages); in a checkout it is the top-level folder.
TEMPLATES = Path(str(files("newsletter_templates")))
# The catalogues `make messages` writes; the web app reads the same ones through Flask-Babel.
CATALOGUES = Path(__file__).resolve().parent / "translations"


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


def _mail_env(*, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=shared_bytecode_cache("mail-html" if html else "mail-text"),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # English catalogue first; mail in a member's own language will pick that catalogue here.
    catalogue = Translations.load(str(CATALOGUES), ["en"])
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    return env


def mail_environments() -> tuple[Environment, Environment]:
    """(html_env, text_env) for ``templates/email``: HTML autoescaped, text not."""
    return _mail_env(html=True), _mail_env(html=False)
