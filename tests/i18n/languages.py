"""What the language tests share: the languages, the skip until a catalogue lands, and the check
that a text holds no English fixed text.

The check reads the catalogue itself: every English msgid is cut at its placeholders into
fragments of two words or more; a fragment found in a mail or page of another language is
English that should have been translated. A fragment the translation keeps as it is (a proper
name such as "Google Calendar", "Outlook") is not counted.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from subscribers.content.templating import available_languages
from subscribers.core.models import MailingList, Member
from subscribers.core.validation import LANGUAGES
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member

CATALOGUES = Path(__file__).resolve().parents[2] / "subscribers" / "translations"
# Every language of the network but English, the source language.
TRANSLATED = [code for code in LANGUAGES if code != "en"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%[sdf]")
WORD = re.compile(r"[^\W\d_]{2,}")
TAG = re.compile(r"<(style|head)\b.*?</\1>|<[^>]+>", re.S | re.I)


# A country per language, so that a member's own time zone goes with their language.
COUNTRY = {"en": "PT", "pt": "PT", "pl": "PL", "es": "ES", "ro": "RO", "sk": "SK", "bs": "BA"}


def member_of(rt: Runtime, language: str) -> tuple[MailingList, Member]:
    """The list "aurora" and one active member on it who reads ``language``."""
    with rt.new_session() as s:
        lst = make_list(s, rt.clock(), slug="aurora", name="Aurora")
        member = make_member(
            s,
            rt.clock(),
            lists_=(lst,),
            email=f"{language}@example.org",
            name="Ana",
            country=COUNTRY[language],
            language=language,
        )
        s.expunge_all()
    return lst, member


def need_catalogue(language: str) -> None:
    """Skip, naming the missing catalogue, until the language's .po is on main."""
    if language not in available_languages():
        pytest.skip(
            f"no {language} catalogue yet "
            f"(subscribers/translations/{language}/LC_MESSAGES/messages.po is not on main)"
        )


def _texts(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if v]


@functools.cache
def english_fragments(language: str) -> tuple[str, ...]:
    """The pieces of English fixed text that must not appear in ``language``."""
    with (CATALOGUES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale=language)
    found: set[str] = set()
    for message in catalogue:
        if not message.id:
            continue
        translated = " ".join(_texts(message.string))
        for english in _texts(message.id):
            for fragment in PLACEHOLDER.split(english):
                fragment = " ".join(fragment.split()).strip(" .,:;·()→-")
                if len(WORD.findall(fragment)) >= 2 and fragment not in translated:
                    found.add(fragment)
    return tuple(sorted(found, key=len, reverse=True))


def visible_text(markup: str) -> str:
    """What a reader sees of an HTML page or mail: no tags, no styles, entities decoded."""
    return " ".join(html.unescape(TAG.sub(" ", markup)).split())


def english_left(text: str, language: str) -> list[str]:
    """English fixed texts found in ``text`` (a mail or page in ``language``)."""
    flat = " ".join(text.split())
    return [fragment for fragment in english_fragments(language) if fragment in flat]


def html_lang(markup: str) -> str | None:
    found = re.search(r'<html[^>]*\blang="([^"]+)"', markup)
    return found.group(1) if found else None
