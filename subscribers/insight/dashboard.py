"""Figures for the staff workspace."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.outbox import Campaign
from subscribers.core.models import ACTIVE, SUB_ACTIVE, MailingList, Member, Subscription
from subscribers.people import suppressions


@dataclass(frozen=True)
class ListCount:
    mailing_list: MailingList
    by_status: dict[str, int]


def list_counts(session: Session) -> list[ListCount]:
    """Subscribers of each list by status."""
    lists = session.execute(select(MailingList).order_by(MailingList.name)).scalars().all()
    rows = session.execute(
        select(col(Subscription.list_id), col(Subscription.status), func.count()).group_by(
            col(Subscription.list_id), col(Subscription.status)
        )
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for list_id, status, n in rows:
        counts.setdefault(list_id, {})[status] = n
    for list_id, n in _suppressed_active(session).items():
        by_status = counts.setdefault(list_id, {})
        by_status["active"] = by_status.get("active", 0) - n
        by_status["suppressed"] = n
    return [
        ListCount(
            lst,
            {
                "active": 0,
                "pending": 0,
                "unsubscribed": 0,
                "suppressed": 0,
                **counts.get(lst.id or 0, {}),
            },
        )
        for lst in lists
    ]


def _suppressed_active(session: Session) -> dict[int, int]:
    """Active subscribers per list whose address is suppressed (they get no mail)."""
    rows = session.execute(
        select(col(Subscription.list_id), col(Member.email))
        .join(Member, col(Member.id) == col(Subscription.member_id))
        .where(col(Subscription.status) == SUB_ACTIVE, col(Member.status) == ACTIVE)
    ).all()
    blocked = suppressions.of_addresses(session, {email for _id, email in rows if email})
    found: dict[int, int] = {}
    for list_id, email in rows:
        if email and email.strip().lower() in blocked:
            found[list_id] = found.get(list_id, 0) + 1
    return found


def latest_campaigns(session: Session, limit: int = 20) -> list[tuple[Campaign, dict[str, int]]]:
    campaigns = (
        session.execute(select(Campaign).order_by(col(Campaign.id).desc()).limit(limit))
        .scalars()
        .all()
    )
    # Only these campaigns are counted, not the whole outbox.
    counts = outbox.counts(session, campaign_ids=[c.id for c in campaigns if c.id is not None])
    return [(c, counts[c.id]) for c in campaigns if c.id is not None]
