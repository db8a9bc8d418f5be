"""Every language catalogue is complete: no untranslated or fuzzy message, placeholders kept.

A sentence added in English ships in every catalogue the same day (`make messages`, then the
translation of each new msgid in every `.po`); this test is what holds that rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

CATALOGUES = Path(__file__).resolve().parents[2] / "subscribers" / "translations"
LANGUAGES = sorted(
    p.parent.parent.name
    for p in CATALOGUES.glob("*/LC_MESSAGES/messages.po")
    if p.parent.parent.name != "en"
)
# %(name)s, %s, %d and Jinja's {name}-less forms; "%%" is a literal percent sign.
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdfr]|%[sdfr]")


def load(lang: str) -> Catalog:
    with (CATALOGUES / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=lang)


def texts(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_and_not_fuzzy(lang: str) -> None:
    catalogue = load(lang)
    missing = [
        m.id for m in catalogue if m.id and (m.fuzzy or not all(s.strip() for s in texts(m.string)))
    ]
    assert missing == [], f"{lang}: {len(missing)} untranslated or fuzzy, e.g. {missing[:5]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_every_placeholder(lang: str) -> None:
    catalogue = load(lang)
    wrong = []
    for message in catalogue:
        if not message.id:
            continue
        wanted = set(PLACEHOLDER.findall(texts(message.id)[-1]))
        for translated in texts(message.string):
            if translated and set(PLACEHOLDER.findall(translated)) != wanted:
                wrong.append((message.id, translated))
    assert wrong == [], f"{lang}: placeholders dropped or renamed: {wrong[:5]}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_catalogue_holds_every_message_of_the_template(lang: str) -> None:
    with (CATALOGUES / "messages.pot").open("rb") as pot:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(pot) if m.id}
    have = {m.id if isinstance(m.id, str) else m.id[0] for m in load(lang) if m.id}
    assert sorted(template - have) == [], "run `make messages` and translate what it adds"


def test_the_checker_sees_a_dropped_placeholder() -> None:
    assert set(PLACEHOLDER.findall("Hello %(name)s")) != set(PLACEHOLDER.findall("Olá %(nome)s"))
