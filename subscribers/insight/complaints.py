"""What a complaint does: the member leaves every list at once and the address is suppressed.

A feedback-loop report (mailer.arf) means the member told their provider our mail is spam.
Mailing them again would cost the whole network's reputation, so one complaint is enough: the
member is unsubscribed from everything (consent withdrawn, source "complaint"), the address is
suppressed (shown to staff as "complained"), the campaign counts it, and the ``complaint``
webhook fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.arf import FeedbackReport
from mailer.outbox import Campaign, Delivery
from subscribers.admin import webhooks
from subscribers.core.models import ERASED, Complaint, Member
from subscribers.people import preferences
from subscribers.people.audience import STAFF_TEST

SOURCE = "complaint"


@dataclass(frozen=True)
class ComplaintOutcome:
    """What processing one feedback report did, as a line for the operator."""

    report: FeedbackReport
    address: str | None
    delivery_id: int | None
    member_id: int | None

    def describe(self) -> str:
        agent = f" from {self.report.user_agent}" if self.report.user_agent else ""
        head = f"{self.report.feedback_type} feedback report{agent}"
        if not self.report.complaint:
            return f"ignored: {head}, not a complaint"
        if self.address is None:
            return f"{head}: tied to no delivery or member (the provider redacted it)"
        parts = [f"complaint for {self.address}"]
        if self.delivery_id is not None:
            parts.append(f"delivery {self.delivery_id}")
        if self.member_id is not None:
            parts.append(f"member {self.member_id} unsubscribed")
        parts.append("suppressed")
        return f"{head}: " + "; ".join(parts)


def _delivery(session: Session, report: FeedbackReport) -> Delivery | None:
    """The delivery the report is about: by VERP, else by the original's Message-ID."""
    if report.delivery_id is not None:
        found = session.get(Delivery, report.delivery_id)
        if found is not None:
            return found
    if report.message_id:
        return session.execute(
            select(Delivery).where(col(Delivery.message_id) == report.message_id).limit(1)
        ).scalar_one_or_none()
    return None


def _latest_delivery(session: Session, address: str) -> Delivery | None:
    """The last mail sent to an address, when the report names only the address."""
    return session.execute(
        select(Delivery)
        .where(func.lower(col(Delivery.address)) == address, col(Delivery.state) == outbox.SENT)
        .order_by(col(Delivery.sent_at).desc(), col(Delivery.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def _member(session: Session, address: str, delivery: Delivery | None) -> Member | None:
    member = None
    if delivery is not None:
        campaign = session.get(Campaign, delivery.campaign_id)
        # A staff test mail's recipient id is a staff account's, not a member's.
        if campaign is not None and campaign.kind != STAFF_TEST:
            member = session.get(Member, delivery.recipient_id)
    if member is None or (member.email or "").lower() != address:
        member = session.execute(
            select(Member).where(func.lower(Member.email) == address)
        ).scalar_one_or_none()
    return None if member is None or member.status == ERASED else member


def record(session: Session, report: FeedbackReport, *, now: datetime) -> ComplaintOutcome:
    """Act on a feedback report in the caller's transaction; a non-complaint changes nothing."""
    if not report.complaint:
        return ComplaintOutcome(report, None, None, None)
    delivery = _delivery(session, report)
    address = delivery.address.lower() if delivery is not None and delivery.address else None
    if delivery is None:
        for candidate in report.addresses:
            delivery = _latest_delivery(session, candidate)
            if delivery is not None:
                address = candidate
                break
    if address is None:
        # Neither VERP nor Message-ID matched and no delivery went to the named address: the
        # address may still be a member's (mail sent before the outbox kept addresses).
        address = next((a for a in report.addresses if _member(session, a, None) is not None), None)
    if address is None:
        return ComplaintOutcome(report, None, delivery.id if delivery else None, None)
    session.add(
        Complaint(
            address_hash=outbox.address_hash(address),
            delivery_id=delivery.id if delivery else None,
            campaign_id=delivery.campaign_id if delivery else None,
            feedback_type=report.feedback_type[:16],
            user_agent=report.user_agent[:100],
            at=now,
        )
    )
    detail = f"{report.feedback_type} report" + (
        f" from {report.user_agent}" if report.user_agent else ""
    )
    outbox.suppress(session, address, reason="complaint", now=now, detail=detail)
    member = _member(session, address, delivery)
    if member is not None:
        preferences.unsubscribe(session, member, now=now, source=SOURCE)
    session.flush()
    webhooks.emit(
        session,
        "complaint",
        {
            "email": address,
            "address_hash": outbox.address_hash(address),
            "member_id": member.id if member else None,
            "delivery_id": delivery.id if delivery else None,
            "campaign_id": delivery.campaign_id if delivery else None,
            "feedback_type": report.feedback_type,
            "user_agent": report.user_agent,
        },
        now=now,
    )
    return ComplaintOutcome(
        report, address, delivery.id if delivery else None, member.id if member else None
    )
