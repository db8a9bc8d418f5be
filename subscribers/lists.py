"""Mailing lists: create and look up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlmodel import Session

from mailer.message import Address, HeaderInjection
from subscribers.errors import Conflict, InvalidInput, NotFound
from subscribers.models import MailingList
from subscribers.validation import clean_text

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class ListSpec:
    slug: str
    name: str
    from_address: str | None = None
    digest_cron: str | None = None
    timezone: str = "Europe/Lisbon"
    public: bool = True


def _check_cron(expr: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expr)
    except ValueError as err:
        raise InvalidInput(f"--digest-cron: not a valid cron expression ({err})") from None


def create(session: Session, spec: ListSpec, *, now: datetime) -> MailingList:
    """Create a list; InvalidInput for a bad slug, sender, schedule or zone."""
    if not _SLUG.match(spec.slug):
        raise InvalidInput("slug: use lowercase letters, digits and hyphens (at most 63)")
    name = clean_text(spec.name, field="name", label="name")
    if not name:
        raise InvalidInput("name: must not be empty")
    if spec.from_address:
        try:
            Address.parse(spec.from_address)
        except HeaderInjection as err:
            raise InvalidInput(f"--from: {err}") from None
    if spec.digest_cron:
        _check_cron(spec.digest_cron)
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"--timezone: unknown time zone {spec.timezone!r}") from None
    if session.execute(select(MailingList).where(MailingList.slug == spec.slug)).first():
        raise Conflict(f"a list {spec.slug!r} exists already")
    lst = MailingList(
        slug=spec.slug,
        name=name,
        from_address=spec.from_address,
        digest_cron=spec.digest_cron,
        timezone=spec.timezone,
        public=spec.public,
        created_at=now,
    )
    session.add(lst)
    session.flush()
    return lst


def by_slug(session: Session, slug: str) -> MailingList:
    lst = session.execute(select(MailingList).where(MailingList.slug == slug)).scalar_one_or_none()
    if lst is None:
        raise NotFound(f"no list {slug!r}")
    return lst
