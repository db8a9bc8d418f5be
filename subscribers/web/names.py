"""Codes as staff read them: the one place a stored code becomes a name on a page.

The database keeps codes (``rsvp_confirmation``, ``probation``, ``pl``, ``PT``, ``queued``);
tables in the workspace show what they mean, in the workspace language. Countries and
languages are named by Babel (CLDR), the rest by this module's translated names. A code this
module does not know is shown as it is rather than hidden.

Registered once as Jinja filters (``install``): ``kind_name``, ``state_name``, ``role_name``,
``sector_name``, ``country_name``, ``language_name``.
"""

from __future__ import annotations

from babel import Locale, UnknownLocaleError
from flask import Flask
from flask_babel import get_locale, lazy_pgettext
from flask_babel import lazy_gettext as _l

from subscribers.validation import LANGUAGES

NOTHING = "—"

# What a campaign (a mail) is for: Campaign.kind, Delivery's kind.
KINDS = {
    "confirm": _l("Confirmation request"),
    "welcome": _l("Welcome"),
    "already_member": _l("Already a member"),
    "announcement": _l("Announcement"),
    "digest": _l("Digest"),
    "invitation": _l("Event invitation"),
    "event_update": _l("Event update"),
    "event_cancel": _l("Event cancellation"),
    "reminder": _l("Event reminder"),
    "rsvp_confirmation": _l("Answer to an invitation"),
    "test": _l("Test mail"),  # audience.STAFF_TEST: an announcement staff sent themselves
    "hard": _l("Hard bounce (the address does not exist)"),
    "soft": _l("Soft bounce (a passing problem)"),
}
# States of deliveries, campaigns, webhook deliveries, events, imports and invitations.
STATES = {
    "queued": lazy_pgettext("state", "Queued"),
    "sending": lazy_pgettext("state", "Sending"),
    "sent": lazy_pgettext("state", "Sent"),
    "failed": lazy_pgettext("state", "Failed"),
    "skipped": lazy_pgettext("state", "Skipped"),
    "active": lazy_pgettext("state", "Active"),
    "paused": lazy_pgettext("state", "Paused"),
    "cancelled": lazy_pgettext("state", "Cancelled"),
    "scheduled": lazy_pgettext("state", "Scheduled"),
    "running": lazy_pgettext("state", "Running"),
    "done": lazy_pgettext("state", "Done"),
    "revoked": lazy_pgettext("state", "Revoked"),
    "expired": lazy_pgettext("state", "Expired"),
    "invited": lazy_pgettext("answer to an invitation", "No answer yet"),
    "yes": lazy_pgettext("answer to an invitation", "Attending"),
    "waiting": lazy_pgettext("answer to an invitation", "On the waiting list"),
    "no": lazy_pgettext("answer to an invitation", "Not attending"),
    "maybe": lazy_pgettext("answer to an invitation", "Maybe"),
}
ROLES = {
    "admin": lazy_pgettext("staff role", "Administrator"),
    "editor": lazy_pgettext("staff role", "Editor"),
    "viewer": lazy_pgettext("staff role", "Viewer"),
}
SECTORS = {
    "police": _l("Police and law enforcement"),
    "prison": _l("Prison services"),
    "probation": _l("Probation services"),
    "research": _l("Research and academia"),
    "ngo": _l("NGO and civil society"),
    "public": _l("Public administration"),
    "other": lazy_pgettext("sector", "Other"),
}


def _named(names: dict[str, object], code: str | None) -> str:
    if not code:
        return NOTHING
    return str(names.get(code, code))


def kind_name(code: str | None) -> str:
    return _named(KINDS, code)  # type: ignore[arg-type]


def state_name(code: str | None) -> str:
    return _named(STATES, code)  # type: ignore[arg-type]


def role_name(code: str | None) -> str:
    return _named(ROLES, code)  # type: ignore[arg-type]


def sector_name(code: str | None) -> str:
    return _named(SECTORS, code)  # type: ignore[arg-type]


def _locale() -> Locale:
    return Locale.parse(str(get_locale() or "en"))


def country_name(code: str | None) -> str:
    """ "PL" -> "Poland" ("Polónia" in Portuguese); "OT", the form's "other", -> "Other"."""
    if not code:
        return NOTHING
    if code == "OT":
        return str(lazy_pgettext("country", "Other"))
    return _locale().territories.get(code.upper(), code)


def language_name(code: str | None) -> str:
    """A language named in itself ("pl" -> "Polski"), as the language switcher names it."""
    if not code:
        return NOTHING
    if code in LANGUAGES:
        return LANGUAGES[code]
    try:
        return Locale.parse(code).get_display_name(code).capitalize()
    except (ValueError, UnknownLocaleError):
        return code


FILTERS = {
    "kind_name": kind_name,
    "state_name": state_name,
    "role_name": role_name,
    "sector_name": sector_name,
    "country_name": country_name,
    "language_name": language_name,
}


def install(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
