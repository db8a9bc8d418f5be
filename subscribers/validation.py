"""Checks shared by every way data comes in: forms, CSV imports and the command line."""

from __future__ import annotations

import re
from collections.abc import Mapping

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from subscribers.errors import InvalidInput

COUNTRIES = {
    "PT": "Portugal",
    "PL": "Poland",
    "ES": "Spain",
    "RO": "Romania",
    "SK": "Slovakia",
    "BA": "Bosnia and Herzegovina",
    "MD": "Moldova",
    "OT": "Other",
}
SECTORS = {
    "police": "Police and law enforcement",
    "prison": "Prison services",
    "probation": "Probation services",
    "research": "Research and academia",
    "ngo": "NGO and civil society",
    "public": "Public administration",
    "other": "Other",
}
LANGUAGES = {
    "en": "English",
    "pt": "Português",
    "pl": "Polski",
    "es": "Español",
    "ro": "Română",
    "sk": "Slovenčina",
    "bs": "Bosanski",
}
MAX_NAME = 200

# An RFC 2047 encoded word: harmless as text, but some parsers turn it into header content.
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?", re.ASCII)


def normalise_email(raw: str, *, check_deliverability: bool = False) -> str:
    """A checked, normalised, lowercased address, or InvalidInput with a reason to show."""
    text = (raw or "").strip()
    if not text:
        raise InvalidInput(_("Please enter your email address."), field="email")
    if len(text) > 254 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInput(_("This email address is not valid."), field="email")
    try:
        result = validate_email(
            text, check_deliverability=check_deliverability, allow_smtputf8=False
        )
    except EmailNotValidError as err:
        raise InvalidInput(
            _("This email address is not valid: %(reason)s", reason=str(err)), field="email"
        ) from None
    # An international domain is kept in its IDNA (ASCII) form: that is what SMTP carries.
    return (result.ascii_email or result.normalized).lower()


def clean_text(raw: str | None, *, field: str, label: str, limit: int = MAX_NAME) -> str:
    """A single line of user text: no control characters, no encoded words, within a limit."""
    text = (raw or "").strip()
    if len(text) > limit:
        raise InvalidInput(
            _("%(label)s is too long (at most %(limit)d characters).", label=label, limit=limit),
            field=field,
        )
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        raise InvalidInput(_("%(label)s must be a single line of text.", label=label), field=field)
    if _ENCODED_WORD.search(text):
        raise InvalidInput(
            _("%(label)s contains characters that are not allowed.", label=label), field=field
        )
    return text


def choice(raw: str | None, options: dict[str, str], *, field: str, label: str) -> str:
    value = (raw or "").strip()
    if value == "":
        return ""
    if value not in options:
        raise InvalidInput(
            _("%(label)s: please choose one of the options.", label=label), field=field
        )
    return value


def check_details(raw: Mapping[str, str | None]) -> dict[str, str]:
    """A member's details (name, organisation, country, sector, language), each checked.

    Only the keys given are checked and returned, so a partial edit changes only those; an
    empty choice means "not given" (and an empty language the default, English).
    """
    details: dict[str, str] = {}
    for key, value in raw.items():
        if key in ("name", "organisation"):
            details[key] = clean_text(value, field=key, label=_detail_label(key))
        elif key in _DETAIL_CHOICES:
            details[key] = choice(value, _DETAIL_CHOICES[key], field=key, label=_detail_label(key))
        else:
            raise InvalidInput(_("%(key)s is not a member detail.", key=key), field=key)
    if "language" in details:
        details["language"] = details["language"] or "en"
    return details


_DETAIL_CHOICES = {"country": COUNTRIES, "sector": SECTORS, "language": LANGUAGES}


def _detail_label(key: str) -> str:
    """How a detail is named in a message, in the reader's language."""
    labels = {
        "name": _("Name"),
        "organisation": _("Organisation"),
        "country": _("Country"),
        "sector": _("Sector"),
        "language": _("Language"),
    }
    return labels[key]
