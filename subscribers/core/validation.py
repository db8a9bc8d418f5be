"""Checks shared by every way data comes in: forms, CSV imports and the command line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

from subscribers import CATALOGUES
from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import LazyText
from subscribers.core.i18n import gettext as _
from subscribers.core.i18n import lazy_gettext as _l
from subscribers.core.i18n import lazy_pgettext as _lp

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
# The network's languages, each named in itself.
NETWORK_LANGUAGES = {
    "en": "English",
    "pt": "Português",
    "pl": "Polski",
    "es": "Español",
    "ro": "Română",
    "sk": "Slovenčina",
    "bs": "Bosanski",
}


def _with_added_catalogues(known: Mapping[str, str]) -> dict[str, str]:
    """The network's languages and any other a catalogue was started for (`make messages
    ADD=hr`), so that adding a language takes that one command."""
    found = {p.parent.parent.name for p in CATALOGUES.glob("*/LC_MESSAGES/messages.po")}
    added = {}
    for code in sorted(found - set(known)):
        try:
            name = Locale.parse(code).get_display_name(code)
        except (ValueError, UnknownLocaleError):
            continue  # a folder that names no language Babel knows is not offered
        if name is not None:
            added[code] = name.capitalize()
    return {**known, **added}


LANGUAGES = _with_added_catalogues(NETWORK_LANGUAGES)
MAX_NAME = 200
# A search or filter term: longer than any address, name or organisation (SQLite refuses LIKE
# patterns of 50,000 characters; no database should be asked to match a novel).
MAX_SEARCH = 200

# Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) reorder the
# text around them: "moc.elgoog" shown as "google.com", a greeting turned into a fake warning.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Line and paragraph separators break a line as CR/LF would, in mail and on pages.
_LINE_SEPARATORS = frozenset("\u2028\u2029")

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
        # strict: a local part over 64 characters (RFC 5321) is refused, not passed to SMTP.
        result = validate_email(
            text, check_deliverability=check_deliverability, allow_smtputf8=False, strict=True
        )
    except EmailNotValidError as err:
        raise InvalidInput(
            _("This email address is not valid: %(reason)s", reason=plain_reason(err)),
            field="email",
        ) from None
    # An international domain is kept in its IDNA (ASCII) form: that is what SMTP carries.
    return (result.ascii_email or result.normalized).lower()


def plain_reason(err: EmailNotValidError) -> str:
    """What email-validator found wrong, in the reader's language and in plain words.

    Its own messages are English and technical ("It should have a period"); they are told
    apart by the exception's kind and the part of the address its message names.
    """
    text = str(err).lower()
    if isinstance(err, EmailUndeliverableError):
        return _("the part after @ is a domain that does not exist or does not receive mail.")
    if "must have an @" in text:
        return _("an address needs an @ between the name and the domain, as in name@example.org.")
    if "something after the @" in text:
        return _("there is nothing after the @: add the domain, as in name@example.org.")
    if "something before the @" in text:
        return _("there is nothing before the @: add the name, as in name@example.org.")
    if "too long" in text:
        return _("the address is too long.")
    if "period" in text and "after the @" not in text:
        return _(
            "there is a dot in the wrong place (at the start or the end, next to the @, "
            "or two in a row)."
        )
    if "after the @" in text or "domain" in text:
        return _("the part after @ is not a domain that can receive mail.")
    if "before the @" in text:
        return _(
            "the part before @ contains characters an address cannot have (a space, a comma, "
            "brackets or accented letters)."
        )
    return _("please check it for typing mistakes.")


def clean_text(raw: str | None, *, field: str, label: str | LazyText, limit: int = MAX_NAME) -> str:
    """A single line of user text: no control characters, no encoded words, within a limit."""
    text = bounded(raw, field=field, label=label, limit=limit)
    if any(ord(c) < 32 or 127 <= ord(c) < 160 or c in _LINE_SEPARATORS for c in text):
        raise InvalidInput(_("%(label)s must be a single line of text.", label=label), field=field)
    if any(c in _BIDI_CONTROLS for c in text):
        raise InvalidInput(
            _(
                "%(label)s contains invisible characters that change the direction of text; "
                "please type it without them.",
                label=label,
            ),
            field=field,
        )
    if _ENCODED_WORD.search(text):
        raise InvalidInput(
            _("%(label)s contains characters that are not allowed.", label=label), field=field
        )
    return text


def bounded(raw: str | None, *, field: str, label: str | LazyText, limit: int = MAX_SEARCH) -> str:
    """Text stripped, or InvalidInput when longer than ``limit`` (search and filter terms are
    bounded by MAX_SEARCH)."""
    text = (raw or "").strip()
    if len(text) > limit:
        raise InvalidInput(
            _("%(label)s is too long (at most %(limit)d characters).", label=label, limit=limit),
            field=field,
        )
    return text


MAX_URL = 500


def http_url(raw: str | None, *, field: str, message: str) -> str | None:
    """An absolute http(s) URL that a mail or page can carry as it is (a link, a logo, an
    online meeting), stripped; None when empty; else InvalidInput(``message``).

    A space, control character, quote or angle bracket would end the link where a mail
    client or an attribute stops reading; a host or port that cannot be read ("http://[x",
    "http://host:abc") is no URL either.
    """
    text = (raw or "").strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (reading it checks the port: ValueError if not a number)
    except ValueError:
        raise InvalidInput(message, field=field) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(text) > MAX_URL
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c in "\"'<>" for c in text)
    ):
        raise InvalidInput(message, field=field)
    return text


def choice(raw: str | None, options: dict[str, str], *, field: str, label: str | LazyText) -> str:
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


# Lazy: translated only when a message names the detail (an error), not for every check.
_DETAIL_LABELS = {
    "name": _lp("of a person", "Name"),
    "organisation": _l("Organisation"),
    "country": _l("Country"),
    "sector": _l("Sector"),
    "language": _l("Language"),
}


def _detail_label(key: str) -> LazyText:
    """How a detail is named in a message, in the reader's language (when it is shown)."""
    return _DETAIL_LABELS[key]
