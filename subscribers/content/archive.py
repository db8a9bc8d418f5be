"""The public archive: sent digests and announcements of a list, with an Atom feed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.compose import Pieces
from mailer.outbox import Campaign, CampaignVersion
from subscribers.content import lists
from subscribers.core.errors import NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import MailingList
from subscribers.insight import clicks

ARCHIVED_KINDS = ("digest", "announcement")


def _published(mailing_list: MailingList, now: datetime) -> Select[Campaign]:
    return select(Campaign).where(
        col(Campaign.list_id) == mailing_list.id,
        col(Campaign.kind).in_(ARCHIVED_KINDS),
        col(Campaign.in_archive).is_(True),
        col(Campaign.status) != outbox.CANCELLED,
        or_(col(Campaign.send_after).is_(None), col(Campaign.send_after) <= now),
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
            _published(mailing_list, now).order_by(col(Campaign.id).desc()).limit(limit)
        )
        .scalars()
        .all()
    )
    return mailing_list, list(rows)


@dataclass(frozen=True)
class Version:
    """One language version of an archived campaign."""

    language: str
    subject: str


@dataclass(frozen=True)
class Entry:
    """An archived campaign: the version to show first (the reader's, else its own) and all."""

    campaign: Campaign
    shown: Version
    versions: list[Version]


def language_versions(session: Session, campaigns: list[Campaign], reader: str) -> list[Entry]:
    """Each campaign with its language versions (one query for all), ``reader``'s first."""
    ids = [campaign.id for campaign in campaigns]
    others: dict[int, list[Version]] = {campaign_id or 0: [] for campaign_id in ids}
    rows = session.execute(
        select(
            col(CampaignVersion.campaign_id),
            col(CampaignVersion.language),
            col(CampaignVersion.subject),
        )
        .where(col(CampaignVersion.campaign_id).in_(ids))
        .order_by(CampaignVersion.language)
    )
    for campaign_id, language, subject in rows:
        others[campaign_id].append(Version(language, subject))
    entries = []
    for campaign in campaigns:
        versions = [Version(campaign.language, campaign.subject), *others[campaign.id or 0]]
        shown = next((v for v in versions if v.language == reader), versions[0])
        entries.append(Entry(campaign, shown, versions))
    return entries


def page_html(
    session: Session,
    list_slug: str,
    campaign_id: int,
    *,
    now: datetime,
    language: str | None = None,
) -> str:
    """A published campaign's HTML, in ``language`` where that version exists, else its own.

    The web copy of the mail, not a member's: see ``web_copy``.
    """
    mailing_list, _campaigns = entries(session, list_slug, now=now, limit=0)
    campaign: Campaign | None = session.execute(
        _published(mailing_list, now).where(col(Campaign.id) == campaign_id)
    ).scalar_one_or_none()
    if campaign is None:
        raise NotFound(_("no such mail in the archive"))
    versions = outbox.versions(session, campaign)
    version = versions.get(language or "") or versions[campaign.language]
    return web_copy(version.html)


# A paragraph of the rendered mail, its attributes and its content (paragraphs never nest).
_PARAGRAPH = re.compile(r"<p\b([^>]*)>(.*?)</p>", re.DOTALL)
# A member's personal value: greeting name, manage / unsubscribe / RSVP / browser links. The
# click counter's reference is not one: it sits inside the text's own links.
_MEMBER_MARKER = re.compile(rf"@@(?!{clicks.REF_FIELD}@@)[a-z_]+@@")
_MEMBER_ONLY = re.compile(r'class="[^"]*\bmember-only\b')


def web_copy(html: str) -> str:
    """The mail as a public page: without the paragraphs addressed to a member.

    Dropped: every paragraph holding a member's personal value (the greeting "Hello Ana,",
    the manage and unsubscribe links, the "view in your browser" link) and those the templates
    mark ``member-only`` ("You receive this because you registered..."). Stored mail of any
    age reads the same way, so campaigns sent before this rule are published without them too.
    """

    def keep(paragraph: re.Match[str]) -> str:
        attributes, content = paragraph.group(1), paragraph.group(2)
        if _MEMBER_ONLY.search(attributes) or _MEMBER_MARKER.search(content):
            return ""
        return paragraph.group(0)

    public = _PARAGRAPH.sub(keep, html)
    # Anything personal left (the click reference) is filled with nothing.
    return Pieces.split(public).fill({})
