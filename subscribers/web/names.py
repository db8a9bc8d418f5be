"""Codes as staff read them: the one place a stored code becomes a name on a page.

The database keeps codes (``rsvp_confirmation``, ``probation``, ``pl``, ``PT``, ``queued``);
tables in the workspace show what they mean, in the workspace language. Countries and
languages are named by Babel (CLDR), the rest by this module's translated names. A code this
module does not know is shown as it is rather than hidden.

Registered once as Jinja filters (``install``): ``kind_name``, ``state_name``, ``role_name``,
``sector_name``, ``country_name``, ``language_name``, ``action_name``, ``source_name``.
"""

from __future__ import annotations

from functools import partial

from babel import Locale, UnknownLocaleError
from flask import Flask
from flask_babel import get_locale, lazy_pgettext
from flask_babel import lazy_gettext as _l

from subscribers.core import validation
from subscribers.core.i18n import LazyText
from subscribers.core.validation import LANGUAGES

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
# What a consent record says happened (ConsentEvent.action) and where it came from.
CONSENT_ACTIONS = {
    "given": _l("Consent given"),
    "confirmed": _l("Address confirmed"),
    "withdrawn": _l("Consent withdrawn"),
    "changed": _l("Choices changed"),
    "imported": _l("Imported with consent"),
}
SOURCES = {
    "web": _l("Public form"),
    "staff": _l("Workspace"),
    "import": _l("Import"),
    "api": _l("API"),
    "cli": _l("Command line"),
    "mail": _l("Link in a mail"),
}
# What staff (or the system) did, as the audit log records it (AuditEntry.action).
AUDIT_ACTIONS = {
    "announce.schedule": _l("Announcement scheduled"),
    "announce.send": _l("Announcement sent"),
    "announce.test": _l("Test announcement sent"),
    "bounce.hard": _l("Address bounced"),
    "campaign.auto_pause": _l("Campaign paused itself"),
    "campaign.finished": _l("Campaign finished"),
    "digest.send": _l("Digest sent"),
    "event.cancel": _l("Event cancelled"),
    "event.create": _l("Event created"),
    "event.invite": _l("Invitations sent"),
    "event.join_link": _l("Join link sent again"),
    "event.rsvps_export": _l("Answers exported"),
    "event.seat_release": _l("Seat released"),
    "event.translate": _l("Event translated"),
    "event.update": _l("Event changed"),
    "list.create": _l("List created"),
    "list.edit": _l("List changed"),
    "member.confirmed": _l("Member confirmed"),
    "member.edit": _l("Member details changed"),
    "member.erase": _l("Member erased"),
    "member.erased": _l("Member erased"),
    "member.export": _l("Member's data exported"),
    "member.lists": _l("Member's lists changed"),
    "member.subscribed": _l("Member subscribed"),
    "member.unsubscribe": _l("Member unsubscribed"),
    "member.unsubscribed": _l("Member unsubscribed"),
    "members.export": _l("Members exported"),
    "members.import": _l("Members imported"),
    "news.add": _l("News added"),
    "news.edit": _l("News changed"),
    "news.translate": _l("News translated"),
    "news.withdraw": _l("News withdrawn"),
    "rsvp.changed": _l("Answer changed"),
    "staff.create": _l("Staff account created"),
    "staff.language": _l("Workspace language changed"),
    "staff.password": _l("Password changed"),
    "staff.remove": _l("Staff account removed"),
    "staff.role": _l("Role changed"),
    "staff.unlock": _l("Account unlocked"),
    "suppression.lift": _l("Suppression lifted"),
    "token.create": _l("API token created"),
    "token.revoke": _l("API token revoked"),
    "webhook.add": _l("Webhook added"),
    "webhook.remove": _l("Webhook removed"),
    "webhook.replay": _l("Webhook call sent again"),
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


def action_name(code: str | None) -> str:
    """A consent record's or an audit entry's action in words ("list.edit" -> "List changed")."""
    return _named({**CONSENT_ACTIONS, **AUDIT_ACTIONS}, code)  # type: ignore[arg-type]


def source_name(code: str | None) -> str:
    return _named(SOURCES, code)  # type: ignore[arg-type]


def _locale() -> Locale:
    return Locale.parse(str(get_locale() or "en"))


def country_name(code: str | None) -> str:
    """ "PL" -> "Poland" ("Polónia" in Portuguese); "OT", the form's "other", -> "Other"."""
    if not code:
        return NOTHING
    if code == "OT":
        return str(lazy_pgettext("country", "Other"))
    return _locale().territories.get(code.upper(), code)


# The form choices: each country named in the page's language when the form is shown.
COUNTRIES = {code: LazyText(partial(country_name, code)) for code in validation.COUNTRIES}


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
    "action_name": action_name,
    "source_name": source_name,
    "country_name": country_name,
    "language_name": language_name,
}


def install(app: Flask) -> None:
    app.jinja_env.filters.update(FILTERS)
