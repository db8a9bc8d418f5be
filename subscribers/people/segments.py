"""The audience builder: a segment of a list's members, parsed and checked in one place.

Every send that picks an audience (the announce form, the event invitation form, the CLI's and
the API's ``--segment``/``segment``) builds its Segment here, so an unknown field or value gets
the same clear message everywhere. Values are matched against the known options by code or by
name, without regard to case or accents (``country=Poland``, ``country=pl`` and
``country=polska``'s near miss all end up as the stored code, or as an error that suggests the
closest option): a segment never silently matches nobody because of a spelling.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Select
from sqlmodel import col

from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import gettext as _
from subscribers.core.models import Member
from subscribers.core.textfold import fold
from subscribers.core.validation import COUNTRIES, LANGUAGES, SECTORS, bounded, clean_text

MAX_SEGMENT = 1000  # room for every country and sector at once, nothing near a novel
COLUMNS = {
    "country": col(Member.country),
    "sector": col(Member.sector),
    "language": col(Member.language),
    "organisation": col(Member.organisation),
}
# The fields whose values are one of a fixed set (stored code -> name shown).
OPTIONS: dict[str, dict[str, str]] = {
    "country": COUNTRIES,
    "sector": SECTORS,
    "language": LANGUAGES,
}


def field_label(key: str) -> str:
    """How a segment field is named in a message, in the reader's language."""
    labels = {
        "country": _("Country"),
        "sector": _("Sector"),
        "language": _("Language"),
        "organisation": _("Organisation"),
    }
    return labels[key]


def _named(key: str, code: str) -> str:
    return f"{OPTIONS[key][code]} ({code})"


def resolve(key: str, raw: str) -> str:
    """The stored code for ``raw`` (a code or a name, any case, with or without accents)."""
    options = OPTIONS[key]
    wanted = fold(raw)
    by_fold = {fold(code): code for code in options}
    by_fold.update({fold(name): code for code, name in options.items()})
    if wanted in by_fold:
        return by_fold[wanted]
    close = difflib.get_close_matches(wanted, list(by_fold), n=1, cutoff=0.8)
    if close:
        raise InvalidInput(
            _(
                "%(field)s: there is no “%(value)s”. Did you mean %(suggestion)s?",
                field=field_label(key),
                value=raw,
                suggestion=_named(key, by_fold[close[0]]),
            ),
            field=key,
        )
    raise InvalidInput(
        _(
            "%(field)s: there is no “%(value)s”. Choose from: %(options)s.",
            field=field_label(key),
            value=raw,
            options=", ".join(_named(key, code) for code in options),
        ),
        field=key,
    )


@dataclass(frozen=True)
class Segment:
    """Conditions on member fields: each field matches any of its values (``country=PT|PL``)."""

    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def build(cls, chosen: Mapping[str, Iterable[str]]) -> Segment:
        """A segment from values per field (codes or names); InvalidInput names what is wrong."""
        conditions = []
        for key, raw_values in chosen.items():
            if key not in COLUMNS:
                raise _unknown_field(key)
            values: list[str] = []
            for raw in raw_values:
                if key == "organisation":
                    value = clean_text(raw, field=key, label=field_label(key))
                else:
                    value = resolve(key, raw) if raw.strip() else ""
                if value and value not in values:
                    values.append(value)
            if values:
                conditions.append((key, tuple(values)))
        return cls(tuple(conditions))

    @classmethod
    def parse(cls, text: str | None) -> Segment:
        """Parse ``country=PT,sector=police`` (``|`` between values of one field)."""
        text = bounded(text, field="segment", label=_("Segment"), limit=MAX_SEGMENT)
        if not text:
            return cls()
        chosen: dict[str, list[str]] = {}
        for part in text.split(","):
            key, sep, value = part.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not value:
                raise InvalidInput(
                    _(
                        "segment: expected field=value with field one of %(fields)s, got %(part)s",
                        fields=", ".join(COLUMNS),
                        part=repr(part.strip()),
                    ),
                    field="segment",
                )
            if key not in COLUMNS:
                raise _unknown_field(key)
            chosen.setdefault(key, []).extend(v for v in value.split("|") if v.strip())
        return cls.build(chosen)

    def __bool__(self) -> bool:
        """False for the whole list (no condition), so ``segment or 'all'`` reads as meant."""
        return bool(self.conditions)

    def __str__(self) -> str:
        return ",".join(f"{k}={'|'.join(v)}" for k, v in self.conditions)

    def values(self, key: str) -> tuple[str, ...]:
        """The values chosen for one field (none: any)."""
        return next((values for k, values in self.conditions if k == key), ())

    def apply(self, stmt: Select[Member]) -> Select[Member]:
        for key, values in self.conditions:
            stmt = stmt.where(COLUMNS[key].in_(values))
        return stmt


def _unknown_field(key: str) -> InvalidInput:
    close = difflib.get_close_matches(key, list(COLUMNS), n=1, cutoff=0.6)
    if close:
        return InvalidInput(
            _(
                "segment: there is no field “%(field)s”. Did you mean %(suggestion)s?",
                field=key,
                suggestion=close[0],
            ),
            field="segment",
        )
    return InvalidInput(
        _(
            "segment: there is no field “%(field)s”. Use one of: %(fields)s.",
            field=key,
            fields=", ".join(COLUMNS),
        ),
        field="segment",
    )
