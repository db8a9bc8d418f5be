"""The durable outbox: every mail, transactional or bulk, is a row here before it is sent.

A campaign is rendered once and fanned out as one ``Delivery`` per recipient, unique on
(campaign, recipient), in the caller's transaction. States::

    queued -> sending -> sent | failed | skipped
               |  ^
               v  |  (4xx / connection error: back to queued with a later next_attempt_at)

A worker claims due rows by moving them to ``sending`` with a lease in one statement (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite serialises writers). A row whose lease expires (its worker
died) is claimable again, so a crash repeats at most the messages that were in flight.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import insert as sa_insert
from sqlmodel import Field, Session, SQLModel

from mailer.compose import RenderedMail
from mailer.dbtypes import UTCDateTime

QUEUED, SENDING, SENT, FAILED, SKIPPED = "queued", "sending", "sent", "failed", "skipped"
STATES = (QUEUED, SENDING, SENT, FAILED, SKIPPED)
ACTIVE, PAUSED, CANCELLED = "active", "paused", "cancelled"

MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
FANOUT_CHUNK = 1000


class Campaign(SQLModel, table=True):
    """One rendered mail and its sending state; its recipients are its deliveries."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    # Plain ids: the outbox knows nothing of lists or members, only what to send to whom.
    list_id: int | None = Field(default=None, index=True)
    ref: str | None = Field(default=None, max_length=200, unique=True)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    sender: str = Field(max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    list_header: str | None = Field(default=None, max_length=400)
    bulk: bool = True
    calendar: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    calendar_method: str | None = Field(default=None, max_length=16)
    status: str = Field(default=ACTIVE, max_length=16, index=True)
    send_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=320)
    total: int = 0

    def rendered(self) -> RenderedMail:
        return RenderedMail(kind=self.kind, subject=self.subject, html=self.html, text=self.text)


class Delivery(SQLModel, table=True):
    """One recipient of one campaign, with its personal values and its sending state."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("campaign_id", "recipient_id", name="uq_delivery_campaign_recipient"),
        Index("ix_delivery_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    recipient_id: int = Field(index=True)
    address: str = Field(max_length=320)
    name: str = Field(default="", max_length=400)
    personal: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=QUEUED, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    last_code: int | None = None
    message_id: str | None = Field(default=None, max_length=300)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Suppression(SQLModel, table=True):
    """Addresses never to be mailed, kept only as a hash (erased members leave nothing else)."""

    __tablename__ = "suppression"

    address_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=32)  # erased | hard_bounce | soft_bounces | complaint | staff
    detail: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)


def address_hash(address: str) -> str:
    """The stable hash under which an address is suppressed."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who gets a delivery, and the personal values filled into their copy."""

    id: int
    email: str
    name: str = ""
    personal: Mapping[str, str] = field(default_factory=dict)


def create_campaign(
    session: Session,
    *,
    rendered: RenderedMail,
    sender: str,
    now: datetime,
    list_id: int | None = None,
    list_header: str | None = None,
    reply_to: str | None = None,
    bulk: bool = True,
    ref: str | None = None,
    send_after: datetime | None = None,
    calendar: bytes | None = None,
    calendar_method: str | None = None,
    created_by: str | None = None,
) -> Campaign:
    """Store a rendered campaign (not yet any recipients) in the caller's transaction."""
    campaign = Campaign(
        kind=rendered.kind,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender=sender,
        reply_to=reply_to,
        list_id=list_id,
        list_header=list_header,
        bulk=bulk,
        ref=ref,
        send_after=send_after,
        calendar=calendar,
        calendar_method=calendar_method,
        created_at=now,
        created_by=created_by,
    )
    session.add(campaign)
    session.flush()
    return campaign


def enqueue(
    session: Session, campaign: Campaign, recipients: Iterable[Recipient], *, now: datetime
) -> int:
    """Fan a campaign out to recipients, in chunks so that a large audience is streamed.

    Runs in the caller's transaction: the campaign and all its deliveries commit together, or
    none do. Returns how many deliveries were created.
    """
    assert campaign.id is not None
    due = campaign.send_after or now
    count = 0
    for chunk in _chunks(recipients, FANOUT_CHUNK):
        rows = [
            {
                "campaign_id": campaign.id,
                "recipient_id": r.id,
                "address": r.email,
                "name": r.name,
                "personal": dict(r.personal),
                "state": QUEUED,
                "attempts": 0,
                "next_attempt_at": due,
            }
            for r in chunk
        ]
        session.execute(sa_insert(Delivery), rows)
        count += len(rows)
    campaign.total += count
    session.add(campaign)
    session.flush()
    return count


def _chunks(items: Iterable[Recipient], size: int) -> Iterator[list[Recipient]]:
    chunk: list[Recipient] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed by this worker, with what is needed to send it."""

    id: int
    campaign_id: int
    recipient_id: int
    address: str
    name: str
    personal: dict[str, str]
    attempts: int


def claim(
    session: Session, *, now: datetime, lease: timedelta, limit: int, after_id: int = 0
) -> list[Claimed]:
    """Move up to ``limit`` due deliveries to ``sending`` with a lease, and return them.

    Due means queued with ``next_attempt_at`` reached, or sending with an expired lease (its
    worker died). Only active campaigns whose ``send_after`` has come are drained. ``after_id``
    lets a worker move forward through a large campaign instead of rescanning from the first row.
    The caller commits right away so the lease is visible to other workers.
    """
    due = (
        select(Delivery.id)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.id > after_id,
            Campaign.status == ACTIVE,
            or_(Campaign.send_after.is_(None), Campaign.send_after <= now),
            or_(
                (Delivery.state == QUEUED) & (Delivery.next_attempt_at <= now),
                (Delivery.state == SENDING) & (Delivery.lease_until < now),
            ),
        )
        .order_by(Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)
    )
    stmt = (
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(state=SENDING, lease_until=now + lease)
        .returning(
            Delivery.id,
            Delivery.campaign_id,
            Delivery.recipient_id,
            Delivery.address,
            Delivery.name,
            Delivery.personal,
            Delivery.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(stmt).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def _finish(session: Session, delivery_id: int, values: dict[str, Any]) -> None:
    # "state == sending" guards against a worker whose lease expired and whose row was taken
    # over: its late result must not overwrite the new holder's.
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def mark_sent(
    session: Session, delivery_id: int, *, now: datetime, message_id: str, attempts: int
) -> None:
    _finish(
        session,
        delivery_id,
        {
            "state": SENT,
            "sent_at": now,
            "message_id": message_id,
            "attempts": attempts + 1,
            "lease_until": None,
            "last_error": None,
            "last_code": 250,
        },
    )


def mark_retry(
    session: Session,
    delivery_id: int,
    *,
    now: datetime,
    attempts: int,
    code: int | None,
    error: str,
    rng: random.Random | None = None,
) -> str:
    """Queue again with back-off, or fail for good after MAX_ATTEMPTS. Returns the new state."""
    tried = attempts + 1
    if tried >= MAX_ATTEMPTS:
        mark_failed(session, delivery_id, now=now, attempts=attempts, code=code, error=error)
        return FAILED
    _finish(
        session,
        delivery_id,
        {
            "state": QUEUED,
            "attempts": tried,
            "lease_until": None,
            "last_code": code,
            "last_error": error[:500],
            "next_attempt_at": now + next_delay(tried, rng),
        },
    )
    return QUEUED


def mark_failed(
    session: Session,
    delivery_id: int,
    *,
    now: datetime,
    attempts: int,
    code: int | None,
    error: str,
) -> None:
    _finish(
        session,
        delivery_id,
        {
            "state": FAILED,
            "attempts": attempts + 1,
            "lease_until": None,
            "last_code": code,
            "last_error": error[:500],
        },
    )


def mark_skipped(session: Session, delivery_ids: Sequence[int], *, reason: str) -> None:
    if not delivery_ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)), Delivery.state == SENDING)
        .values(state=SKIPPED, lease_until=None, last_error=reason[:500])
        .execution_options(synchronize_session=False)
    )


def next_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential back-off with jitter: about 1, 2, 4 ... minutes, at most 6 hours."""
    base = min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)
    jitter = (rng or random).uniform(0.5, 1.5)
    return base * jitter


def set_status(session: Session, campaign_id: int, status: str) -> Campaign:
    """Pause, resume or cancel a campaign; cancelling skips every row not yet sent."""
    if status not in (ACTIVE, PAUSED, CANCELLED):
        raise ValueError(f"unknown campaign status {status!r}")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    if campaign.status == CANCELLED and status != CANCELLED:
        raise ValueError(f"campaign {campaign_id} is cancelled and cannot be resumed")
    campaign.status = status
    session.add(campaign)
    if status == CANCELLED:
        # Rows in flight (sending) finish on their own; everything still waiting is skipped.
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.state == QUEUED)
            .values(state=SKIPPED, last_error="campaign cancelled")
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return campaign


def counts(session: Session, campaign_id: int | None = None) -> dict[int, dict[str, int]]:
    """Deliveries by campaign and state."""
    stmt = select(Delivery.campaign_id, Delivery.state, func.count()).group_by(
        Delivery.campaign_id, Delivery.state
    )
    if campaign_id is not None:
        stmt = stmt.where(Delivery.campaign_id == campaign_id)
    result: dict[int, dict[str, int]] = {}
    for cid, state, n in session.execute(stmt):
        result.setdefault(cid, dict.fromkeys(STATES, 0))[state] = n
    return result


def suppressed(session: Session, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses (lowercased) are on the suppression list."""
    by_hash = {address_hash(a): a.strip().lower() for a in addresses}
    if not by_hash:
        return set()
    rows = session.execute(
        select(Suppression.address_hash).where(Suppression.address_hash.in_(list(by_hash)))
    ).scalars()
    return {by_hash[h] for h in rows}


def suppress(
    session: Session, address: str, *, reason: str, now: datetime, detail: str = ""
) -> None:
    """Add an address to the suppression list (idempotent; the first reason is kept)."""
    key = address_hash(address)
    if session.get(Suppression, key) is None:
        session.add(
            Suppression(address_hash=key, reason=reason, detail=detail[:500], created_at=now)
        )
        session.flush()


def unsuppress(session: Session, address: str, *, reasons: Sequence[str]) -> bool:
    """Lift a suppression of one of the given reasons (e.g. an erased member registering again)."""
    row = session.get(Suppression, address_hash(address))
    if row is not None and row.reason in reasons:
        session.delete(row)
        session.flush()
        return True
    return False


def forget_recipients(session: Session, recipient_ids: Sequence[int]) -> None:
    """Blank the personal data of these recipients' deliveries; skip what is still queued.

    Rows in flight (``sending``) are left to finish; their worker's re-check sees the member gone.
    """
    if not recipient_ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.recipient_id.in_(list(recipient_ids)), Delivery.state != SENDING)
        .values(
            address="",
            name="",
            personal={},
            state=case((Delivery.state == QUEUED, SKIPPED), else_=Delivery.state),
        )
        .execution_options(synchronize_session=False)
    )
