"""What bounces do: record each one, suppress hard-bounced addresses and repeat soft bouncers.

A hard bounce suppresses the address at once. Soft bounces (mailbox full, delayed) suppress it
only when SOFT_LIMIT of them arrive within SOFT_WINDOW, so one full mailbox does not cost a
member their subscription.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlmodel import Field, Session, SQLModel, col

from mailer import outbox
from mailer.bounces import BounceReport
from mailer.dbtypes import UTCDateTime
from mailer.outbox import Delivery

SOFT_LIMIT = 3
SOFT_WINDOW = timedelta(days=30)


class Bounce(SQLModel, table=True):
    """One bounce received for an address (kept as a hash) and, with VERP, its delivery."""

    __tablename__ = "bounce"

    id: int | None = Field(default=None, primary_key=True)
    address_hash: str = Field(max_length=64, index=True)
    delivery_id: int | None = Field(default=None, index=True)
    campaign_id: int | None = Field(default=None, index=True)
    kind: str = Field(max_length=8)  # hard | soft
    status: str | None = Field(default=None, max_length=16)
    diagnostic: str = Field(default="", max_length=300)
    at: datetime = Field(sa_type=UTCDateTime)


@dataclass(frozen=True)
class BounceOutcome:
    """What processing one bounce message did, as a line for the operator."""

    report: BounceReport
    addresses: tuple[str, ...]
    suppressed: tuple[str, ...]

    def describe(self) -> str:
        if self.report.kind == "none":
            return f"ignored: {self.report.reason}"
        parts = [f"{self.report.kind} bounce for {', '.join(self.addresses) or '(no address)'}"]
        if self.report.delivery_id is not None:
            parts.append(f"delivery {self.report.delivery_id}")
        if self.report.status:
            parts.append(f"status {self.report.status}")
        if self.suppressed:
            parts.append(f"suppressed {', '.join(self.suppressed)}")
        return "; ".join(parts)


def _addresses(session: Session, report: BounceReport) -> tuple[tuple[str, ...], Delivery | None]:
    delivery = session.get(Delivery, report.delivery_id) if report.delivery_id else None
    if delivery is not None and delivery.address:
        # VERP names the delivery exactly; trust it over addresses parsed from the text.
        return (delivery.address.lower(),), delivery
    return report.addresses, None


def record(session: Session, report: BounceReport, *, now: datetime) -> BounceOutcome:
    """Record a parsed bounce and suppress what must be; a non-bounce changes nothing."""
    if report.kind == "none":
        return BounceOutcome(report, (), ())
    addresses, delivery = _addresses(session, report)
    suppressed = []
    for address in addresses:
        key = outbox.address_hash(address)
        session.add(
            Bounce(
                address_hash=key,
                delivery_id=delivery.id if delivery else None,
                campaign_id=delivery.campaign_id if delivery else None,
                kind=report.kind,
                status=report.status,
                diagnostic=report.diagnostic,
                at=now,
            )
        )
        session.flush()
        if report.kind == "hard":
            outbox.suppress(
                session, address, reason="hard_bounce", now=now, detail=report.diagnostic
            )
            suppressed.append(address)
        elif _recent_soft(session, key, now=now) >= SOFT_LIMIT:
            outbox.suppress(
                session,
                address,
                reason="soft_bounces",
                now=now,
                detail=f"{SOFT_LIMIT} soft bounces within {SOFT_WINDOW.days} days",
            )
            suppressed.append(address)
    return BounceOutcome(report, addresses, tuple(suppressed))


def _recent_soft(session: Session, key: str, *, now: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Bounce)
            .where(
                col(Bounce.address_hash) == key,
                col(Bounce.kind) == "soft",
                col(Bounce.at) >= now - SOFT_WINDOW,
            )
        ).scalar_one()
    )


def _of_recipient(address: str | None, recipient_id: int) -> ColumnElement[bool]:
    """Bounces tied by VERP to one of a recipient's deliveries, or kept under their address."""
    own = select(col(Delivery.id)).where(col(Delivery.recipient_id) == recipient_id)
    matches: list[ColumnElement[bool]] = [col(Bounce.delivery_id).in_(own)]
    if address:
        matches.append(col(Bounce.address_hash) == outbox.address_hash(address))
    return or_(*matches)


def of_recipient(
    session: Session, address: str | None, recipient_id: int, *, limit: int | None = None
) -> list[Bounce]:
    """A recipient's bounces, newest first (after erasure only the VERP-tied ones are found)."""
    rows = session.execute(
        select(Bounce)
        .where(_of_recipient(address, recipient_id))
        .order_by(col(Bounce.at).desc(), col(Bounce.id).desc())
        .limit(limit)
    )
    return list(rows.scalars().all())


def forget(session: Session, address: str | None, recipient_id: int) -> None:
    """Blank the diagnostics of a recipient's bounces: the remote server's text quotes the
    address and often the name (``552 5.2.2 <ana@...> Ana Sousa mailbox full``).

    The rows stay (kind, status, time) so counts and soft-bounce limits still add up.
    """
    session.execute(
        update(Bounce)
        .where(_of_recipient(address, recipient_id))
        .values(diagnostic="")
        .execution_options(synchronize_session=False)
    )
