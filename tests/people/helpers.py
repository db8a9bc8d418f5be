"""Builders and a signed-in client for the members workspace tests."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from mailer.bounce_log import Bounce
from mailer.compose import RenderedMail
from mailer.outbox import Delivery, address_hash, create_campaign
from subscribers.core.models import ConsentEvent, Member
from subscribers.runtime import Runtime
from tests.web.test_admin import login, make_staff


def signed_in(app: Flask, rt: Runtime, role: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, make_staff(rt, role)) == 302
    return client


def consent(
    session: Session, member: Member, action: str, at: datetime, **fields: object
) -> ConsentEvent:
    assert member.id is not None
    event = ConsentEvent(member_id=member.id, action=action, at=at, **fields)  # type: ignore[arg-type]
    session.add(event)
    session.commit()
    return event


def delivery(
    session: Session,
    member: Member,
    now: datetime,
    *,
    subject: str = "Workshop in Lisbon",
    state: str = "sent",
    error: str | None = None,
) -> Delivery:
    campaign = create_campaign(
        session,
        rendered=RenderedMail(kind="announcement", subject=subject, html="<p>x</p>", text="x"),
        sender="news@network.test",
        now=now,
    )
    assert campaign.id is not None and member.id is not None
    row = Delivery(
        campaign_id=campaign.id,
        recipient_id=member.id,
        address=member.email or "",
        state=state,
        attempts=1,
        next_attempt_at=now,
        last_error=error,
        sent_at=now if state == "sent" else None,
    )
    session.add(row)
    session.commit()
    return row


def bounce(
    session: Session, address: str, now: datetime, *, delivery_id: int | None = None
) -> Bounce:
    row = Bounce(
        address_hash=address_hash(address),
        delivery_id=delivery_id,
        kind="hard",
        status="5.1.1",
        diagnostic="550 5.1.1 user unknown",
        at=now,
    )
    session.add(row)
    session.commit()
    return row
