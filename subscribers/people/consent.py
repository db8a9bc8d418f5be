"""The consent wording: the exact words a person ticks, versioned and kept per language.

The registration form shows the current version in the page's language (English where that
version has no translation) and sends back which row it showed; the consent record points at
that row and repeats its words, so what is stored and exported is exactly what was ticked.
Staff changing the wording add a version; older records keep pointing at theirs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from babel.support import Translations
from sqlalchemy import Connection, Table, event, func, select
from sqlmodel import Session, col

from mailer.dbtypes import table_of
from subscribers import CATALOGUES
from subscribers.admin import audit
from subscribers.core import ids
from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import gettext as _
from subscribers.core.models import ConsentEvent, ConsentWording
from subscribers.core.validation import LANGUAGES, clean_text

FALLBACK = "en"  # every version has it
MAX_TEXT = 2000
# Version 1: the words the form recorded before versions existed. Its translations are the
# catalogues' (registration.CONSENT_TEXT marks it); migration 0019 stored the same rows.
VERSION_1 = (
    "I agree to receive the network's news, announcements and event invitations by email, and to "
    "the processing of the details I gave for that purpose, as described in the privacy notice. "
    "I can unsubscribe or erase my data at any time."
)


def version_1() -> dict[str, str]:
    """Version 1 in English and in every language the catalogues translate it into."""
    texts = {FALLBACK: VERSION_1}
    for language in LANGUAGES:
        if language != FALLBACK and (CATALOGUES / language).is_dir():
            translated = Translations.load(str(CATALOGUES), [language]).gettext(VERSION_1)
            if translated and translated != VERSION_1:
                texts[language] = translated
    return texts


@event.listens_for(table_of(ConsentWording), "after_create")
def seed(table: Table, connection: Connection, **_kw: object) -> None:
    """A database made from the models (tests, a first start) begins with version 1, as one
    made by the migrations does."""
    now = datetime.now(UTC)
    connection.execute(
        table.insert(),
        [
            {"version": 1, "language": lang, "text": text, "created_at": now}
            for lang, text in version_1().items()
        ],
    )


@dataclass(frozen=True)
class Wording:
    """One version of the wording in one language (a row of consent_wording)."""

    id: int
    version: int
    language: str
    text: str

    @classmethod
    def of(cls, row: ConsentWording) -> Wording:
        assert row.id is not None
        return cls(row.id, row.version, row.language, row.text)


def current(session: Session, language: str) -> Wording:
    """The newest version in ``language``, else in English."""
    newest = select(func.max(ConsentWording.version)).scalar_subquery()
    rows = session.execute(
        select(ConsentWording).where(
            col(ConsentWording.version) == newest,
            col(ConsentWording.language).in_((language, FALLBACK)),
        )
    ).scalars()
    by_language = {row.language: row for row in rows}
    return Wording.of(by_language.get(language) or by_language[FALLBACK])


def get(session: Session, wording_id: int) -> Wording | None:
    row = ids.get(session, ConsentWording, wording_id)
    return Wording.of(row) if row is not None else None


def versions(session: Session) -> dict[int, dict[str, str]]:
    """Every version, newest first: its text by language."""
    found: dict[int, dict[str, str]] = {}
    rows = session.execute(
        select(ConsentWording).order_by(
            col(ConsentWording.version).desc(),
            ConsentWording.language,
        )
    ).scalars()
    for row in rows:
        found.setdefault(row.version, {})[row.language] = row.text
    return found


def new_version(session: Session, texts: Mapping[str, str], *, actor: str, now: datetime) -> int:
    """Store a new wording (English required, other languages optional); audited.

    A language left out shows the English words, and records them as what was ticked.
    """
    cleaned: dict[str, str] = {}
    for language, text in texts.items():
        if language not in LANGUAGES:
            raise InvalidInput(_("Unknown language: %(code)s", code=language), field="language")
        label = LANGUAGES[language]
        words = clean_text(text or "", field=f"text_{language}", label=label, limit=MAX_TEXT)
        if words:
            cleaned[language] = words
    if FALLBACK not in cleaned:
        raise InvalidInput(
            _("The English wording is needed: it is shown where no translation is given."),
            field=f"text_{FALLBACK}",
        )
    version = (session.execute(select(func.max(ConsentWording.version))).scalar() or 0) + 1
    for language, words in cleaned.items():
        session.add(
            ConsentWording(
                version=version, language=language, text=words, created_at=now, created_by=actor
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="consent.wording",
        target=f"version {version}",
        detail="languages: " + ", ".join(sorted(cleaned)),
        now=now,
    )
    return version


def ticked_on_list(session: Session, list_id: int) -> dict[int, tuple[str, str]]:
    """The wording each member of a list last ticked for it: (version, words) by member id.

    Consent recorded without a wording (imports, records older than any wording) has none.
    """
    rows = session.execute(
        select(col(ConsentEvent.member_id), col(ConsentWording.version), col(ConsentWording.text))
        .join(ConsentWording, col(ConsentWording.id) == col(ConsentEvent.wording_id))
        .where(col(ConsentEvent.list_id) == list_id)
        .order_by(col(ConsentEvent.id))
    )
    return {member_id: (str(version), text) for member_id, version, text in rows}


def versions_of(session: Session, wording_ids: list[int]) -> dict[int, int]:
    """The version of each of these wordings, by id."""
    if not wording_ids:
        return {}
    rows = session.execute(
        select(col(ConsentWording.id), col(ConsentWording.version)).where(
            col(ConsentWording.id).in_(wording_ids)
        )
    )
    return {wording_id: version for wording_id, version in rows}
