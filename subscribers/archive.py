"""The public archive: sent digests and announcements of a list, with an Atom feed."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import or_, select
from sqlmodel import Session

from mailer import outbox
from mailer.compose import Pieces
from mailer.outbox import Campaign
from subscribers import lists
from subscribers.errors import NotFound
from subscribers.mails import MailKit
from subscribers.models import MailingList

ARCHIVED_KINDS = ("digest", "announcement")


def _published(mailing_list: MailingList, now: datetime):  # type: ignore[no-untyped-def]
    return select(Campaign).where(
        Campaign.list_id == mailing_list.id,
        Campaign.kind.in_(ARCHIVED_KINDS),
        Campaign.status != outbox.CANCELLED,
        or_(Campaign.send_after.is_(None), Campaign.send_after <= now),
    )


def entries(
    session: Session,
    list_slug: str,
    *,
    now: datetime,
    limit: int = 50,
) -> tuple[MailingList, list[Campaign]]:
    """A public list's published campaigns, newest first."""
    mailing_list = lists.by_slug(session, list_slug)
    if not mailing_list.public:
        raise lists.no_such_list(list_slug)
    rows = (
        session.execute(
            _published(mailing_list, now).order_by(Campaign.id.desc()).limit(limit)  # type: ignore[union-attr]
        )
        .scalars()
        .all()
    )
    return mailing_list, list(rows)


def page_html(
    session: Session, kit: MailKit, list_slug: str, campaign_id: int, *, now: datetime
) -> tuple[MailingList, Campaign, str]:
    """A published campaign's HTML with neutral values in place of the personal ones."""
    mailing_list, _campaigns = entries(session, list_slug, now=now, limit=0)
    campaign = session.execute(
        _published(mailing_list, now).where(Campaign.id == campaign_id)
    ).scalar_one_or_none()
    if campaign is None:
        raise NotFound(_("no such mail in the archive"))
    # Nothing personal on a public page: no name, and links to the public pages instead.
    neutral = {
        "name": "reader",
        "archive_url": kit.archive_url(mailing_list, campaign.id),
        "manage_url": kit.link(f"/register/{mailing_list.slug}"),
        "unsubscribe_url": kit.link(f"/register/{mailing_list.slug}"),
    }
    html = Pieces.split(campaign.html).fill({k: str(escape(v)) for k, v in neutral.items()})
    return mailing_list, campaign, html
