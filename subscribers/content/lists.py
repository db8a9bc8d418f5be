"""Mailing lists: create, look up and change their settings (web and CLI share these)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from mailer.message import Address, HeaderInjection
from mailer.zones import UnknownZone, known_zone
from subscribers.content import schedules
from subscribers.content.multilingual import language_code
from subscribers.core.errors import Conflict, InvalidInput, NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.i18n import pgettext
from subscribers.core.models import DEFAULT_ACCENT, MailingList
from subscribers.core.validation import clean_text, http_url

MAX_SLUG = 63
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # MAX_SLUG characters
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ListSpec:
    slug: str
    name: str
    from_address: str | None = None
    digest_cron: str | None = None
    timezone: str = "Europe/Lisbon"
    public: bool = True
    reply_to: str | None = None
    accent_color: str = DEFAULT_ACCENT
    logo_url: str | None = None
    footer: str = ""
    description: str = ""
    language: str = "en"
    # Clicks recorded per member (subscribers.insight.clicks): only where the consent text says so.
    record_clicks: bool = False


@dataclass(frozen=True)
class ListChange:
    """New values for a list's settings; None leaves a setting as it is, "" clears it."""

    name: str | None = None
    description: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    accent_color: str | None = None
    logo_url: str | None = None
    footer: str | None = None
    digest_cron: str | None = None
    timezone: str | None = None
    public: bool | None = None
    language: str | None = None
    record_clicks: bool | None = None

    def given(self) -> dict[str, Any]:
        """The settings to change, by name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


# -- checks: each returns the value to store, or raises InvalidInput naming the field --------


def check_name(raw: str) -> str:
    """A list's name: one line, not empty."""
    name = clean_text(raw, field="name", label=pgettext("of a list or token", "Name"))
    if not name:
        raise InvalidInput(_("Name: must not be empty."), field="name")
    return name


def check_description(raw: str) -> str:
    """Free text shown on the public archive page."""
    text = (raw or "").strip()
    if len(text) > 2000:
        raise InvalidInput(
            _("Description is too long (at most 2,000 characters)."), field="description"
        )
    return text


def check_address(raw: str | None, *, field: str) -> str | None:
    """``Name <addr>`` or a bare address, checked with email-validator; "" means none."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        parsed = Address.parse(text)
    except HeaderInjection as err:
        raise InvalidInput(
            _("not a valid address (%(reason)s)", reason=str(err)), field=field
        ) from None
    try:
        # Syntax only: a sender on a test or internal domain (news@network.test) is allowed.
        checked = validate_email(
            parsed.email,
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=True,
            allow_smtputf8=False,
        )
    except EmailNotValidError as err:
        raise InvalidInput(
            _("not a valid address: %(reason)s", reason=str(err)), field=field
        ) from None
    email = checked.ascii_email or checked.normalized
    name = clean_text(parsed.name, field=field, label=_("The name"))
    text = Address(email, name).as_text()
    if len(text) > 320:
        raise InvalidInput(_("The name is too long."), field=field)
    return text


def check_colour(raw: str) -> str:
    """``#rrggbb`` only: the value goes into the mail's CSS."""
    text = (raw or "").strip()
    if not _COLOUR.match(text):
        raise InvalidInput(_("expected a colour as #rrggbb, e.g. #1d4e89"), field="accent_color")
    return text.lower()


def check_url(raw: str | None, *, field: str) -> str | None:
    """An absolute http(s) URL (it goes into an ``src`` attribute); "" means none."""
    return http_url(raw, field=field, message=_("expected an http(s) URL"))


def check_timezone(raw: str) -> str:
    """An IANA zone name that zoneinfo knows ("Europe/Lisbon")."""
    try:
        return known_zone(raw).key
    except UnknownZone as err:
        if err.suggestions:
            message = _(
                "unknown time zone %(name)s; did you mean %(names)s?",
                name=err.shown,
                names=", ".join(err.suggestions),
            )
        else:
            message = _("unknown time zone %(name)s", name=err.shown)
        raise InvalidInput(message, field="timezone") from None


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": check_name,
    "description": check_description,
    "from_address": lambda v: check_address(v, field="from_address"),
    "reply_to": lambda v: check_address(v, field="reply_to"),
    "accent_color": check_colour,
    "logo_url": lambda v: check_url(v, field="logo_url"),
    "footer": lambda v: clean_text(v, field="footer", label=_("Footer"), limit=500),
    "digest_cron": schedules.check_cron,
    "timezone": check_timezone,
    "public": bool,
    "record_clicks": bool,
    "language": language_code,
}


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    checked, errors = {}, []
    for key, value in values.items():
        try:
            checked[key] = _CHECKS[key](value)
        except InvalidInput as err:
            errors.append(err)
    if errors:
        raise InvalidInput.all_of(errors)  # reads as the first; a form shows them all
    return checked


# -- the service ----------------------------------------------------------------------------


def create(session: Session, spec: ListSpec, *, now: datetime) -> MailingList:
    """Create a list; InvalidInput (naming the field) for a bad slug, sender, schedule or zone."""
    if not _SLUG.match(spec.slug):
        raise InvalidInput(
            _("use lowercase letters, digits and hyphens (at most 63)"), field="slug"
        )
    values = _checked({f.name: getattr(spec, f.name) for f in fields(spec) if f.name != "slug"})
    if session.execute(select(MailingList).where(col(MailingList.slug) == spec.slug)).first():
        raise Conflict(_("a list %(slug)s exists already", slug=repr(spec.slug)))
    lst = MailingList(slug=spec.slug, created_at=now, **values)
    session.add(lst)
    try:
        session.flush()
    except IntegrityError:  # created at the same moment elsewhere; the caller rolls back
        raise Conflict(_("a list %(slug)s exists already", slug=repr(spec.slug))) from None
    return lst


def update(session: Session, slug: str, change: ListChange) -> tuple[MailingList, list[str]]:
    """Change a list's settings; returns the list and the names of the settings that changed.

    Everything is checked before anything is set, so a bad value changes nothing.
    """
    lst = by_slug(session, slug)
    values = _checked(change.given())
    changed = [key for key, value in values.items() if getattr(lst, key) != value]
    for key in changed:
        setattr(lst, key, values[key])
    session.add(lst)
    session.flush()
    return lst, changed


def by_slug(session: Session, slug: str) -> MailingList:
    """The list with this slug, or NotFound."""
    lst: MailingList | None = session.execute(
        select(MailingList).where(col(MailingList.slug) == slug)
    ).scalar_one_or_none()
    if lst is None:
        raise no_such_list(slug)
    return lst


def no_such_list(slug: str) -> NotFound:
    """ "no list 'x'", quoting a slug within reason: a pasted novel is no slug, and the message
    stays one short line."""
    shown = slug if len(slug) <= MAX_SLUG else slug[:MAX_SLUG] + "…"
    return NotFound(_("no list %(slug)s", slug=repr(shown)))


def all_lists(session: Session) -> list[MailingList]:
    """Every list, by name."""
    return list(session.execute(select(MailingList).order_by(MailingList.name)).scalars())
