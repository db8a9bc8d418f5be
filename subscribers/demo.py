"""Demo content for `make run`: lists, members, news, an event and a staff login, only in an
empty database."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from subscribers.admin import staff
from subscribers.content import lists, news
from subscribers.content.mails import MailKit
from subscribers.core.models import MailingList, StaffUser
from subscribers.invitations import events
from subscribers.people import imports

DEMO_STAFF = "comms@example.org"


def seed_if_empty(session: Session, kit: MailKit, *, now: datetime) -> tuple[str, str] | None:
    """Create demo lists, content and an admin; returns the new login, or None if not empty."""
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
    _demo_content(session, kit, now=now)
    _demo_members(session, now=now)
    return DEMO_STAFF, password


# Made-up members at reserved example domains, one per country of the network, so that a
# newcomer can send an announcement or invite to the event and read the mail that is caught.
DEMO_MEMBERS = b"""email,name,organisation,country,sector,language
ana.sousa@example.org,Ana Sousa,IPS Innovative Prison Systems,PT,research,pt
piotr.nowak@example.org,Piotr Nowak,Probation service,PL,probation,pl
lucia.garcia@example.org,Luc\xc3\xada Garc\xc3\xada,Local police,ES,police,es
andrei.popescu@example.org,Andrei Popescu,Penitentiary administration,RO,prison,ro
jana.kovacova@example.org,Jana Kov\xc3\xa1\xc4\x8dov\xc3\xa1,Refugee support NGO,SK,ngo,sk
amir.hodzic@example.org,Amir Hod\xc5\xbei\xc4\x87,University of Sarajevo,BA,research,bs
ion.rusu@example.org,Ion Rusu,Probation inspectorate,MD,probation,ro
"""


def _demo_members(session: Session, *, now: datetime) -> None:
    for slug in ("practitioners", "events"):
        imports.import_members(
            session, slug, DEMO_MEMBERS, consent_note="demo data for make run", now=now
        )


def _demo_content(session: Session, kit: MailKit, *, now: datetime) -> None:
    """A queued news item and an event not yet announced, so every page has something on it."""
    news.add(
        session,
        "practitioners",
        title="First transnational workshop: what the breakout rooms found",
        body=(
            "Close to forty researchers and frontline practitioners met online on "
            "6 November 2024 for the network's first transnational workshop, hosted by IPS "
            "Innovative Prison Systems.\n\n"
            "In small breakout rooms, police officers, prison and probation staff, researchers "
            "and NGO workers compared how their organisations could work towards the network's "
            "goals. The common thread: **no sector prevents radicalisation alone**, and refugees "
            "are best supported when their expertise is combined."
        ),
        link=None,
        now=now,
        created_by=DEMO_STAFF,
    )
    lisbon = ZoneInfo("Europe/Lisbon")
    start = (now.astimezone(lisbon) + timedelta(days=35)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    events.create_event(
        session,
        kit,
        events.EventSpec(
            list_slug="events",
            title="Transnational workshop: cross-sector cooperation in practice",
            start=start,
            end=start + timedelta(hours=3),
            timezone="Europe/Lisbon",
            description=(
                "An online workshop for network members: short case presentations from "
                "Portugal, Poland and Moldova, then breakout rooms of six practitioners from "
                "different sectors, and a closing plenary."
            ),
            online_url="https://meet.example.org/network-workshop",
            capacity=40,
        ),
        now=now,
        created_by=DEMO_STAFF,
    )
