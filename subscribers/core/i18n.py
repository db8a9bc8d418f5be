"""Translation for the services, without Flask.

Services mark their texts with the usual names (``_``, ``ngettext``, ``pgettext``, ``_l``...), so
``make messages`` finds them, and call the translator an edge installed: the web app installs
Flask-Babel's (the language of the page being served); with none installed (the CLI, the worker,
a test calling a service directly) texts stay in English, as Flask-Babel does outside a request.
Lazy texts (form labels, module-level constants) are translated each time they are shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import escape


def _english_gettext(text: str, /, **variables: Any) -> str:
    return text % variables if variables else text


def _english_ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> str:
    variables.setdefault("num", num)
    return (singular if num == 1 else plural) % variables


def _english_pgettext(context: str, text: str, /, **variables: Any) -> str:
    return _english_gettext(text, **variables)


def _english_number(number: int | float) -> str:
    return f"{number:,}"


@dataclass(frozen=True)
class Translator:
    """What an edge provides: Flask-Babel's functions have exactly these signatures."""

    gettext: Callable[..., str] = _english_gettext
    ngettext: Callable[..., str] = _english_ngettext
    pgettext: Callable[..., str] = _english_pgettext
    format_number: Callable[[int | float], str] = _english_number
    language: Callable[[], str] = lambda: "en"


_translator = Translator()


def install(translator: Translator) -> None:
    """Called once by an edge's composition root (``subscribers.web.create_app``)."""
    global _translator
    _translator = translator


def gettext(text: str, /, **variables: Any) -> str:
    return _translator.gettext(text, **variables)


def ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> str:
    return _translator.ngettext(singular, plural, num, **variables)


def pgettext(context: str, text: str, /, **variables: Any) -> str:
    return _translator.pgettext(context, text, **variables)


def format_number(number: int | float) -> str:
    return _translator.format_number(number)


def current_language() -> str:
    """The language texts are being translated into now (a page's, or English)."""
    return _translator.language()


_ = gettext


class LazyText:
    """A text translated when it is shown, not when the module defining it is imported."""

    __slots__ = ("_translate",)

    def __init__(self, translate: Callable[[], str]) -> None:
        self._translate = translate

    def __str__(self) -> str:
        return self._translate()

    def __html__(self) -> str:
        # Jinja escapes what it prints: a label is plain text, never markup.
        return str(escape(str(self)))

    def __repr__(self) -> str:
        return f"LazyText({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, LazyText | str) else other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __len__(self) -> int:
        return len(str(self))

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mod__(self, other: Any) -> str:
        formatted: str = str(self) % other
        return formatted

    def __getattr__(self, name: str) -> Any:
        # Everything else a str does (lower, format, startswith...), on the translated text.
        return getattr(str(self), name)


def lazy_gettext(text: str, /, **variables: Any) -> LazyText:
    return LazyText(lambda: gettext(text, **variables))


def lazy_pgettext(context: str, text: str, /, **variables: Any) -> LazyText:
    return LazyText(lambda: pgettext(context, text, **variables))


_l = lazy_gettext
_lp = lazy_pgettext
