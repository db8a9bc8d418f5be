"""Where the templates live and the Jinja environments for mail (the web uses Flask's)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

# templates/ is shipped as the package ``newsletter_templates`` (a name that cannot clash with
# another project's ``templates`` in site-packages); in a checkout it is the top-level folder.
TEMPLATES = Path(str(files("newsletter_templates")))
# The catalogues `make messages` writes; the web app reads the same ones through Flask-Babel.
CATALOGUES = Path(__file__).resolve().parent / "translations"


def _mail_env(*, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
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
