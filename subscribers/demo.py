"""Demo content for `make run`: a list and a staff login, only in an empty database."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from subscribers import lists, staff
from subscribers.models import MailingList, StaffUser

DEMO_STAFF = "comms@example.org"


def seed_if_empty(session: Session, *, now: datetime) -> tuple[str, str] | None:
    """Create the demo list and an admin; returns the new login, or None if not empty."""
    if session.execute(select(MailingList)).first() or session.execute(select(StaffUser)).first():
        return None
    practitioners = lists.create(
        session,
        lists.ListSpec(
            slug="practitioners",
            name="Frontline Practitioners Network",
            digest_cron="0 9 * * mon",
            timezone="Europe/Lisbon",
        ),
        now=now,
    )
    practitioners.description = (
        "Workshop reports, announcements and members-only invitations for police, prison and "
        "probation staff, researchers and NGOs working on refugee inclusion and the prevention "
        "of radicalisation in Portugal, Poland, Spain, Romania, Slovakia, Bosnia and Herzegovina "
        "and Moldova."
    )
    practitioners.footer = (
        "Frontline Practitioners Network · a cross-sector exchange in seven countries"
    )
    session.add(practitioners)
    lists.create(
        session,
        lists.ListSpec(slug="events", name="Members-only events", timezone="Europe/Lisbon"),
        now=now,
    )
    password = secrets.token_urlsafe(12)
    staff.create(session, DEMO_STAFF, password, "admin", now=now)
    return DEMO_STAFF, password
