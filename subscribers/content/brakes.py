"""Automatic brakes: a campaign pauses itself when too many of its mails bounce or are reported.

Providers judge a sender by its hard-bounce rate (a stale list) and complaint rate (unwanted
mail); Gmail and Yahoo throttle or block above 0.3 % complaints. Once a campaign has reached
enough servers to judge (``Limits.min_sent``), a rate above its limit pauses what is left to
send, records why on the campaign (the monitor shows it) and in the audit log. Staff who resume
it override that brake for the campaign.

Checked when a bounce or complaint arrives (``bounces process``) and by a scheduler job, which
also catches refusals at send time (a 5xx answer is a hard bounce that never comes back by mail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.outbox import Campaign, Delivery
from subscribers.admin import audit
from subscribers.core.models import Complaint

HARD_BOUNCES, COMPLAINTS, OVERRIDDEN = "hard_bounces", "complaints", "overridden"
ACTOR = "system (automatic brake)"
# Campaigns older than this are not watched by the job: their mail is long out.
WATCH_FOR = timedelta(days=7)


@dataclass(frozen=True)
class Limits:
    hard_bounce_rate: float = 5.0  # percent of mail that reached a server
    complaint_rate: float = 0.3
    min_sent: int = 100

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            settings.brake_hard_bounce_rate,
            settings.brake_complaint_rate,
            settings.brake_min_sent,
        )


@dataclass(frozen=True)
class Rates:
    """What a campaign's mail met so far: reached a server, bounced hard, drew complaints."""

    sent: int
    hard: int
    complaints: int

    def percent(self, count: int) -> float:
        return 100.0 * count / self.sent if self.sent else 0.0


def rates(session: Session, campaign_id: int) -> Rates:
    refused = (
        select(func.count())
        .select_from(Delivery)
        .where(
            col(Delivery.campaign_id) == campaign_id,
            col(Delivery.state) == outbox.FAILED,
            col(Delivery.last_code) >= 500,
        )
    )
    sent = (
        select(func.count())
        .select_from(Delivery)
        .where(col(Delivery.campaign_id) == campaign_id, col(Delivery.state) == outbox.SENT)
    )
    bounced = select(func.count(func.distinct(Bounce.address_hash))).where(
        col(Bounce.campaign_id) == campaign_id, col(Bounce.kind) == "hard"
    )
    complained = select(func.count(func.distinct(Complaint.address_hash))).where(
        col(Complaint.campaign_id) == campaign_id
    )
    n_refused = int(session.execute(refused).scalar_one())
    return Rates(
        sent=int(session.execute(sent).scalar_one()) + n_refused,
        hard=int(session.execute(bounced).scalar_one()) + n_refused,
        complaints=int(session.execute(complained).scalar_one()),
    )


def describe(brake: str, found: Rates, limits: Limits) -> str:
    """The audit log's line (English, like every audit detail)."""
    if brake == HARD_BOUNCES:
        what, count, limit = "hard bounces", found.hard, limits.hard_bounce_rate
    else:
        what, count, limit = "complaints", found.complaints, limits.complaint_rate
    return (
        f"paused itself: {count} {what} of {found.sent} sent "
        f"({found.percent(count):.2f} %) passed the limit of {limit:g} %"
    )


@dataclass(frozen=True)
class Explanation:
    """Why a campaign paused itself, with its figures as the monitor shows them."""

    kind: str  # hard_bounces | complaints
    count: int
    sent: int
    rate: str  # percent, e.g. "0.4"
    limit: str


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def explain(session: Session, campaign: Campaign, limits: Limits) -> Explanation | None:
    """The monitor's account of a brake that holds the campaign now (None if none does)."""
    if campaign.id is None or campaign.brake not in (HARD_BOUNCES, COMPLAINTS):
        return None
    found = rates(session, campaign.id)
    if campaign.brake == HARD_BOUNCES:
        count, limit = found.hard, limits.hard_bounce_rate
    else:
        count, limit = found.complaints, limits.complaint_rate
    return Explanation(
        campaign.brake, count, found.sent, _number(found.percent(count)), _number(limit)
    )


def check_delivery(
    session: Session, delivery_id: int | None, limits: Limits, *, now: datetime
) -> bool:
    """``check`` the campaign of a delivery a bounce or complaint was tied to."""
    delivery = session.get(Delivery, delivery_id) if delivery_id is not None else None
    return delivery is not None and check(session, delivery.campaign_id, limits, now=now)


def _tripped(found: Rates, limits: Limits) -> str | None:
    if found.sent < limits.min_sent:
        return None
    if found.percent(found.hard) > limits.hard_bounce_rate:
        return HARD_BOUNCES
    if found.percent(found.complaints) > limits.complaint_rate:
        return COMPLAINTS
    return None


def check(session: Session, campaign_id: int | None, limits: Limits, *, now: datetime) -> bool:
    """Pause the campaign if one of its rates passed its limit; True when it did just now."""
    if campaign_id is None:
        return False
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != outbox.ACTIVE or campaign.brake is not None:
        return False
    found = rates(session, campaign_id)
    brake = _tripped(found, limits)
    if brake is None or not _left_to_send(session, campaign_id):
        return False
    outbox.set_status(session, campaign_id, outbox.PAUSED)
    campaign.brake = brake
    session.add(campaign)
    audit.record(
        session,
        actor=ACTOR,
        action="campaign.auto_pause",
        target=f"campaign:{campaign_id}",
        detail=describe(brake, found, limits),
        now=now,
    )
    session.flush()
    return True


def _left_to_send(session: Session, campaign_id: int) -> bool:
    # A campaign with nothing left to send has nothing to stop; pausing it would only confuse.
    return (
        session.execute(
            select(col(Delivery.id))
            .where(
                col(Delivery.campaign_id) == campaign_id,
                col(Delivery.state).in_((outbox.QUEUED, outbox.SENDING)),
            )
            .limit(1)
        ).first()
        is not None
    )


def check_recent(session: Session, limits: Limits, *, now: datetime) -> list[int]:
    """``check`` every active campaign of the last days; the ids of those paused now."""
    ids = session.execute(
        select(col(Campaign.id)).where(
            col(Campaign.status) == outbox.ACTIVE,
            col(Campaign.brake).is_(None),
            col(Campaign.created_at) >= now - WATCH_FOR,
        )
    ).scalars()
    return [cid for cid in list(ids) if check(session, cid, limits, now=now)]


def overridden_on_resume(session: Session, campaign: Campaign) -> None:
    """Staff resumed a campaign that paused itself: that brake no longer stops it."""
    if campaign.brake is not None and campaign.status == outbox.ACTIVE:
        campaign.brake = OVERRIDDEN
        session.add(campaign)
        session.flush()
