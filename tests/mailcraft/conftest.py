"""One real message of every kind of mail, made by the services and received over SMTP."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from mailer.outbox import Campaign, Delivery
from subscribers.content import campaigns, digests, news
from subscribers.content.campaigns import Announcement
from subscribers.core.db import transaction
from subscribers.core.models import Member
from subscribers.core.settings import Settings
from subscribers.invitations import events, reminders
from subscribers.people import registration
from subscribers.runtime import Runtime
from tests.invitations.helpers import LISBON, answer, create, invite, network, spec
from tests.smtp_server import ScriptedSMTP

KINDS = (
    "confirm",
    "already_member",
    "welcome",
    "announcement",
    "digest",
    "invitation",
    "reminder",
    "event_update",
    "event_cancel",
    "rsvp_confirmation",
)
# Mail to one member that is not about a list: no List-* headers, no Precedence.
TRANSACTIONAL = ("confirm", "already_member", "welcome", "rsvp_confirmation")


@dataclass(frozen=True)
class Received:
    kind: str
    data: bytes


def _register(rt: Runtime, email: str) -> None:
    request = registration.RegistrationRequest(
        email, "Rui Costa", "PSP", "PT", "police", "en", ("practitioners",), True
    )
    with transaction(rt.new_session()) as s:
        registration.register(s, rt.kit, request, now=rt.clock())


def _confirm(rt: Runtime, email: str) -> None:
    with rt.new_session() as s:
        member = s.execute(select(Member).where(Member.email == email)).scalar_one()
        token = rt.kit.signer.sign("confirm", member.id or 0, member.nonce)
    with transaction(rt.new_session()) as s:
        registration.confirm(s, rt.kit, token, now=rt.clock())


def make_every_kind(rt: Runtime, session, smtp: ScriptedSMTP) -> dict[str, Received]:  # type: ignore[no-untyped-def]
    """Each kind of mail once, through the same services the app and the CLI call."""
    rt.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=LISBON))
    _lst, [ana] = network(session, rt, "ana")
    _register(rt, "rui@example.org")
    _confirm(rt, "rui@example.org")
    rt.clock.advance(minutes=11)
    _register(rt, "rui@example.org")
    with transaction(rt.new_session()) as s:
        campaigns.create_announcement(
            s,
            rt.kit,
            Announcement("practitioners", "Second workshop", "We meet on **6 November**."),
            now=rt.clock(),
        )
        news.add(
            s,
            "practitioners",
            title="New handbook",
            body="The handbook on radicalisation in prisons is out.",
            link="https://network.test/handbook",
            now=rt.clock(),
        )
        digests.create_digest(s, rt.kit, "practitioners", now=rt.clock())
    start = datetime(2026, 12, 10, 14, 0, tzinfo=LISBON)
    event_id = create(rt, start=start, location="Rua Augusta 10, Lisboa")
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    rt.sender.drain()  # cancelling stops the event's mail not yet sent
    rt.clock.set(start - timedelta(hours=3))
    with transaction(rt.new_session()) as s:
        reminders.send_due_reminders(s, rt.clock(), kit=rt.kit)
    rt.sender.drain()
    with transaction(rt.new_session()) as s:
        changed = spec(start=start + timedelta(hours=1), location="Rua Augusta 12, Lisboa")
        events.update_event(s, rt.kit, event_id, changed, now=rt.clock())
    rt.sender.drain()
    with transaction(rt.new_session()) as s:
        events.cancel_event(s, rt.kit, event_id, now=rt.clock(), reason="The venue closed.")
    rt.sender.drain()
    with rt.new_session() as s:
        rows = s.execute(
            select(Delivery.id, Campaign.kind).join(Campaign, Campaign.id == Delivery.campaign_id)
        )
        kind_of = {delivery_id: kind for delivery_id, kind in rows}
    found: dict[str, Received] = {}
    for message in smtp.messages:
        # By the delivery id the Message-ID starts with (mailer.mime.make_message_id): on a
        # loaded machine a send may time out after the server took it, and the retry gets a
        # new Message-ID, so the server holds a copy the table no longer names.
        delivery_id = int(str(message.message["Message-ID"]).strip("<").split(".", 1)[0])
        kind = kind_of[delivery_id]
        found.setdefault(kind, Received(kind, message.data))
    missing = set(KINDS) - set(found)
    assert not missing, f"no mail of kind {sorted(missing)}"
    return found


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with VERP on, as the README recommends for production."""
    return replace(settings, bounce_address="bounces+{token}@network.test")


@pytest.fixture
def every_kind(rt: Runtime, session, smtp: ScriptedSMTP) -> dict[str, Received]:  # type: ignore[no-untyped-def]
    return make_every_kind(rt, session, smtp)
