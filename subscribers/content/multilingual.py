"""Content staff write in several languages: a news item, an event or an announcement.

Each has its original (title and body in the language it was written in) and any number of
translations. A reader gets their language when it is written, otherwise the original with a
note in their own language that no translation exists (``Reading.untranslated``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlmodel import Session, col

from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import format_number
from subscribers.core.i18n import gettext as _
from subscribers.core.models import Translation
from subscribers.core.validation import LANGUAGES, clean_text

MAX_TITLE = 300


@dataclass(frozen=True)
class Text:
    """A title and a body (Markdown) in one language."""

    language: str
    title: str
    body: str = ""


@dataclass(frozen=True)
class Reading:
    """What a reader of one language reads, and whether it is an untranslated original."""

    text: Text
    untranslated: bool


@dataclass(frozen=True)
class Written:
    """Content in its original language and the translations staff wrote."""

    original: Text
    translations: Mapping[str, Text] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        """The languages it is written in, the original's first."""
        others = sorted(code for code in self.translations if code != self.original.language)
        return [self.original.language, *others]

    def for_reader(self, language: str) -> Reading:
        if language == self.original.language:
            return Reading(self.original, untranslated=False)
        if language in self.translations:
            return Reading(self.translations[language], untranslated=False)
        return Reading(self.original, untranslated=True)


def language_code(value: str | None, *, field: str = "language") -> str:
    """One of the network's language codes, or InvalidInput naming the field and the choices."""
    code = (value or "").strip().lower()
    if code not in LANGUAGES:
        raise InvalidInput(
            _(
                "%(field)s: expected one of %(choices)s, got %(value)s",
                field=field,
                choices=", ".join(LANGUAGES),
                value=repr(value or ""),
            ),
            field=field,
        )
    return code


def checked(text: Text, *, body_limit: int, body_required: bool = True) -> Text:
    """A translation as staff typed it, checked like the original is."""
    language = language_code(text.language)
    title = clean_text(text.title, field="title", label=_("title"), limit=MAX_TITLE)
    if not title:
        raise InvalidInput(_("title: must not be empty"), field="title")
    body = (text.body or "").strip()
    if (body_required and not body) or len(body) > body_limit:
        raise InvalidInput(
            _(
                "body: must not be empty (and at most %(limit)s characters)",
                limit=format_number(body_limit),
            ),
            field="body",
        )
    return Text(language, title, body)


def translations(session: Session, owner: str, owner_id: int) -> dict[str, Text]:
    """The translations of one news item or event, by language."""
    return translations_of(session, owner, [owner_id]).get(owner_id, {})


def translations_of(
    session: Session, owner: str, owner_ids: Iterable[int]
) -> dict[int, dict[str, Text]]:
    """The translations of several items at once (a digest's), in one query."""
    ids = list(owner_ids)
    found: dict[int, dict[str, Text]] = {owner_id: {} for owner_id in ids}
    if not ids:
        return found
    rows = session.execute(
        select(Translation).where(
            col(Translation.owner) == owner,
            col(Translation.owner_id).in_(ids),
        )
    ).scalars()
    for row in rows:
        found[row.owner_id][row.language] = Text(row.language, row.title, row.body)
    return found


def save(session: Session, owner: str, owner_id: int, text: Text) -> None:
    """Write (or rewrite) the translation into ``text.language``; the caller checked it."""
    row = session.get(Translation, (owner, owner_id, text.language))
    if row is None:
        row = Translation(owner=owner, owner_id=owner_id, language=text.language, title="")
    row.title, row.body = text.title, text.body
    session.add(row)
    session.flush()


def remove(session: Session, owner: str, owner_id: int, language: str | None = None) -> None:
    """Drop one translation, or all of an item's when ``language`` is None."""
    stmt = delete(Translation).where(
        col(Translation.owner) == owner, col(Translation.owner_id) == owner_id
    )
    if language is not None:
        stmt = stmt.where(col(Translation.language) == language)
    session.execute(stmt)
