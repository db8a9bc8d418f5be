"""Bounce figures for the workspace: hard and soft bounces, complaints and suppressions, per
campaign and per list, week by week.

Bounces and complaints carry their campaign (VERP ties them), and a campaign its list; a
suppression is counted for the campaign (and list) whose bounce or complaint caused it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.outbox import Campaign, Suppression
from subscribers.core.models import Complaint, MailingList

WEEKS = 12
KINDS = ("hard", "soft", "complaints", "suppressed")
_CAUSES = ("hard_bounce", "soft_bounces", "complaint")


@dataclass
class Figures:
    sent: int = 0
    hard: int = 0
    soft: int = 0
    complaints: int = 0
    suppressed: int = 0

    def add(self, kind: str, n: int = 1) -> None:
        setattr(self, kind, getattr(self, kind) + n)


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    figures: Figures


@dataclass
class ListWeeks:
    mailing_list: MailingList | None  # None: mail sent in no list's name
    weeks: dict[datetime, Figures] = field(default_factory=dict)


def _week(at: datetime) -> datetime:
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _events(
    session: Session, since: datetime, campaign_ids: list[int] | None = None
) -> list[tuple[int | None, str, datetime]]:
    """(campaign id, kind, when) of every bounce, complaint and suppression since ``since``."""
    found: list[tuple[int | None, str, datetime]] = []
    bounces = select(col(Bounce.campaign_id), col(Bounce.kind), col(Bounce.at)).where(
        col(Bounce.at) >= since
    )
    complaints = select(col(Complaint.campaign_id), col(Complaint.at)).where(
        col(Complaint.at) >= since
    )
    # The bounce or complaint that caused a suppression names its campaign.
    causes = (
        select(col(Suppression.address_hash), col(Suppression.created_at), col(Suppression.reason))
        .where(col(Suppression.created_at) >= since)
        .where(col(Suppression.reason).in_(_CAUSES))
    )
    if campaign_ids is not None:
        bounces = bounces.where(col(Bounce.campaign_id).in_(campaign_ids))
        complaints = complaints.where(col(Complaint.campaign_id).in_(campaign_ids))
    for cid, kind, at in session.execute(bounces):
        found.append((cid, kind, at))
    for cid, at in session.execute(complaints):
        found.append((cid, "complaints", at))
    suppressions = list(session.execute(causes))
    keys = [row[0] for row in suppressions]
    origin: dict[str, int | None] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        for table in (Bounce, Complaint):
            rows = session.execute(
                select(col(table.address_hash), func.max(col(table.campaign_id)))
                .where(col(table.address_hash).in_(chunk))
                .group_by(col(table.address_hash))
            )
            for key, cid in rows:
                origin.setdefault(key, cid)
    for key, at, _reason in suppressions:
        cid = origin.get(key)
        if campaign_ids is None or cid in campaign_ids:
            found.append((cid, "suppressed", at))
    return found


def per_campaign(session: Session, *, now: datetime, limit: int = 50) -> list[CampaignRow]:
    """The latest list campaigns, newest first, with what their mail met."""
    campaigns = list(
        session.execute(
            select(Campaign)
            .where(col(Campaign.list_id).is_not(None))
            .order_by(col(Campaign.id).desc())
            .limit(limit)
        ).scalars()
    )
    ids = [c.id for c in campaigns if c.id is not None]
    figures = {cid: Figures() for cid in ids}
    if ids:
        # Through outbox.counts: it adds the rows folded away after the retention period.
        for cid, by_state in outbox.counts(session, campaign_ids=ids).items():
            figures[cid].sent = by_state[outbox.SENT]
        oldest = min(c.created_at for c in campaigns)
        for of_campaign, kind, _at in _events(session, oldest, ids):
            if of_campaign is not None and of_campaign in figures and kind in (*KINDS,):
                figures[of_campaign].add(kind)
    return [CampaignRow(c, figures[c.id]) for c in campaigns if c.id is not None]


def per_list(session: Session, *, now: datetime, weeks: int = WEEKS) -> list[ListWeeks]:
    """Per list, week by week (Mondays, newest first): bounces, complaints, suppressions."""
    since = _week(now) - timedelta(weeks=weeks - 1)
    lists = {lst.id: lst for lst in session.execute(select(MailingList)).scalars()}
    list_of = dict(session.execute(select(col(Campaign.id), col(Campaign.list_id))).all())
    result: dict[int | None, ListWeeks] = defaultdict(lambda: ListWeeks(None))
    for lid, lst in lists.items():
        result[lid] = ListWeeks(lst)
    for cid, kind, at in _events(session, since):
        if kind not in KINDS:
            continue
        lid = list_of.get(cid) if cid is not None else None
        row = result[lid]
        row.weeks.setdefault(_week(at), Figures()).add(kind)
    return [
        row
        for lid, row in sorted(result.items(), key=lambda item: (item[0] is None, item[0] or 0))
        if row.weeks or row.mailing_list is not None
    ]


def week_starts(now: datetime, weeks: int = WEEKS) -> list[datetime]:
    """The Mondays of the weeks shown, newest first."""
    return [_week(now) - timedelta(weeks=n) for n in range(weeks)]
