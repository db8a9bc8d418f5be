"""Click statistics that respect privacy: clicks per link, distinct clickers, no open pixels.

Links in a list campaign are rewritten once per (campaign, language), when it is created, to
``/c/<campaign>.<link>.<mac>``: the MAC (keyed with the secret key) makes only the links this
campaign carries reachable, and the target URL is read from the database, never from the
request, so the redirect is no open redirect. Unsubscribe and manage links are personal markers
and are never rewritten.

Distinct clickers: each rewritten link carries ``?r=`` followed by the recipient's personal
marker ``@@click_ref@@`` (filled per recipient like the name, no rendering per recipient); the
redirect keeps only HMAC(campaign key, member id). The campaign key is random and destroyed
30 days after the send (``forget_keys``, a scheduler job): from then on nobody can tell which
member a stored hash stands for. A list whose consent text says so may record clicks per member
(``MailingList.record_clicks``); only then is the member id kept with a click.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import unescape

from markupsafe import escape
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from mailer.compose import RenderedMail
from mailer.dbtypes import changed_rows
from mailer.outbox import Campaign, CampaignVersion
from subscribers.core.models import (
    CampaignLink,
    Clicker,
    ClickKey,
    LinkClick,
    MailingList,
    Member,
)
from subscribers.core.tokens import Signer

# The network's news: announcements and digests. Event mail is left alone: its links are the
# member's own (RSVP, add to calendar, the join link) or the event's, not news to measure.
TRACKED_KINDS = ("announcement", "digest")
KEY_LIFETIME = timedelta(days=30)
REF_FIELD = "click_ref"
MARKER = f"@@{REF_FIELD}@@"
_MAC_HEX = 12
_TOKEN_RE = re.compile(rf"([0-9]{{1,12}})\.([0-9]{{1,4}})\.([0-9a-f]{{{_MAC_HEX}}})")
_REF_RE = re.compile(rf"([0-9]{{1,12}})\.([0-9a-f]{{{_MAC_HEX}}})")
# Absolute web links only: markers (@@manage_url@@), anchors and mailto: stay as they are.
_HREF_RE = re.compile(r'href="(https?://[^"\s<>]+)"', re.IGNORECASE)
_TEXT_URL_RE = re.compile(r"(?<![\w@/])(https?://[^\s<>()\"']+[^\s<>()\"'.,;:!?])")
MAX_LINKS = 500


def _mac(signer: Signer, purpose: str, *parts: int) -> str:
    return signer.mac(".".join([purpose, *(str(p) for p in parts)]))[:_MAC_HEX]


def link_token(signer: Signer, campaign_id: int, index: int) -> str:
    return f"{campaign_id}.{index}.{_mac(signer, 'click', campaign_id, index)}"


def click_ref(signer: Signer, member_id: int) -> str:
    """The recipient's personal value behind ``?r=``: their id, signed so it cannot be forged."""
    return f"{member_id}.{_mac(signer, 'clicker', member_id)}"


# -- rewriting links when a campaign is created ---------------------------------------------


def _links_of(version: RenderedMail) -> Iterator[str]:
    for match in _HREF_RE.finditer(version.html):
        yield unescape(match.group(1))
    for match in _TEXT_URL_RE.finditer(version.text):
        yield match.group(1)


def _redirect(base_url: str, signer: Signer, campaign_id: int, index: int) -> str:
    return f"{base_url}/c/{link_token(signer, campaign_id, index)}?r={MARKER}"


def track(
    session: Session,
    campaign: Campaign,
    versions: Sequence[RenderedMail],
    *,
    base_url: str,
    signer: Signer,
    now: datetime,
) -> list[RenderedMail]:
    """Number the campaign's links, rewrite every version to the redirect, store both.

    The same URL has one number in every language version, so a link's clicks add up.
    Links into the site itself that are personal (markers) are not touched.
    """
    assert campaign.id is not None
    urls: dict[str, int] = {}
    for version in versions:
        for url in _links_of(version):
            if len(urls) < MAX_LINKS and len(url) <= 2000 and url not in urls:
                urls[url] = len(urls)
    if not urls:
        return list(versions)
    for url, index in urls.items():
        session.add(CampaignLink(campaign_id=campaign.id, idx=index, url=url))
    session.add(
        ClickKey(
            campaign_id=campaign.id,
            key=secrets.token_hex(32),
            forget_after=(campaign.send_after or now) + KEY_LIFETIME,
        )
    )

    def html_link(match: re.Match[str]) -> str:
        index = urls.get(unescape(match.group(1)))
        if index is None:
            return match.group(0)
        return f'href="{escape(_redirect(base_url, signer, campaign.id or 0, index))}"'

    def text_link(match: re.Match[str]) -> str:
        index = urls.get(match.group(1))
        if index is None:
            return match.group(0)
        return _redirect(base_url, signer, campaign.id or 0, index)

    rewritten = [
        replace(v, html=_HREF_RE.sub(html_link, v.html), text=_TEXT_URL_RE.sub(text_link, v.text))
        for v in versions
    ]
    _store(session, campaign, rewritten)
    session.flush()
    return rewritten


def _store(session: Session, campaign: Campaign, versions: Sequence[RenderedMail]) -> None:
    campaign.html, campaign.text = versions[0].html, versions[0].text
    session.add(campaign)
    for version in versions[1:]:
        row = session.get(CampaignVersion, (campaign.id, version.language))
        if row is not None:
            row.html, row.text = version.html, version.text
            session.add(row)


# -- following a link -------------------------------------------------------------------------


def follow(
    session: Session, token: str, ref: str | None, *, signer: Signer, now: datetime
) -> str | None:
    """Count a click and return where the link leads; None for a link we never sent."""
    match = _TOKEN_RE.fullmatch(token or "")
    if match is None:
        return None
    campaign_id, index = int(match.group(1)), int(match.group(2))
    if not hmac.compare_digest(match.group(3), _mac(signer, "click", campaign_id, index)):
        return None
    link = session.get(CampaignLink, (campaign_id, index))
    if link is None:
        return None
    member_id = _member_id(ref, signer)
    recorded = member_id if member_id is not None and _records(session, campaign_id) else None
    session.add(LinkClick(campaign_id=campaign_id, idx=index, at=now, member_id=recorded))
    if member_id is not None:
        _count_clicker(session, campaign_id, member_id)
    session.flush()
    return link.url


def _member_id(ref: str | None, signer: Signer) -> int | None:
    match = _REF_RE.fullmatch(ref or "")
    if match is None:
        return None
    member_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _mac(signer, "clicker", member_id)):
        return None
    return member_id


def _records(session: Session, campaign_id: int) -> bool:
    """Whether the campaign's list records clicks per member (its consent says so)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.list_id is None:
        return False
    mailing_list = session.get(MailingList, campaign.list_id)
    return bool(mailing_list is not None and mailing_list.record_clicks)


def _count_clicker(session: Session, campaign_id: int, member_id: int) -> None:
    key = session.get(ClickKey, campaign_id)
    if key is None:  # forgotten: clicks still count, clickers no more
        return
    digest = hmac.new(bytes.fromhex(key.key), str(member_id).encode(), hashlib.sha256).hexdigest()
    if session.get(Clicker, (campaign_id, digest)) is not None:
        return
    try:
        with session.begin_nested():
            session.add(Clicker(campaign_id=campaign_id, hash=digest))
    except IntegrityError:  # the same member clicked twice at once: counted once
        pass


def forget_member(session: Session, member_id: int) -> None:
    """An erased member's recorded clicks stay counted, no longer theirs."""
    session.execute(
        update(LinkClick)
        .where(col(LinkClick.member_id) == member_id)
        .values(member_id=None)
        .execution_options(synchronize_session=False)
    )


def forget_keys(session: Session, *, now: datetime) -> int:
    """Destroy the keys of campaigns sent more than 30 days ago; how many were destroyed."""
    result = session.execute(delete(ClickKey).where(col(ClickKey.forget_after) <= now))
    return changed_rows(result)


# -- figures for staff ------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkFigures:
    index: int
    url: str
    clicks: int


@dataclass(frozen=True)
class ClickFigures:
    links: list[LinkFigures]
    clickers: int
    by_hour: list[tuple[datetime, int]]  # (hour, clicks), oldest first, only hours with clicks
    key_forgotten: bool
    members: list[tuple[Member, int]]  # only where the list records clicks per member

    @property
    def clicks(self) -> int:
        return sum(link.clicks for link in self.links)

    @property
    def most(self) -> int:
        return max([link.clicks for link in self.links] + [1])


def figures(session: Session, campaign_id: int) -> ClickFigures:
    counts = dict(
        session.execute(
            select(col(LinkClick.idx), func.count())
            .where(col(LinkClick.campaign_id) == campaign_id)
            .group_by(col(LinkClick.idx))
        ).all()
    )
    links = [
        LinkFigures(link.idx, link.url, int(counts.get(link.idx, 0)))
        for link in session.execute(
            select(CampaignLink)
            .where(col(CampaignLink.campaign_id) == campaign_id)
            .order_by(col(CampaignLink.idx))
        ).scalars()
    ]
    clickers = int(
        session.execute(
            select(func.count()).select_from(Clicker).where(col(Clicker.campaign_id) == campaign_id)
        ).scalar_one()
    )
    hours: dict[datetime, int] = {}
    for (at,) in session.execute(
        select(col(LinkClick.at)).where(col(LinkClick.campaign_id) == campaign_id)
    ).all():
        hour = at.replace(minute=0, second=0, microsecond=0)
        hours[hour] = hours.get(hour, 0) + 1
    members = [
        (member, int(n))
        for member, n in session.execute(
            select(Member, func.count())
            .join(LinkClick, col(LinkClick.member_id) == col(Member.id))
            .where(col(LinkClick.campaign_id) == campaign_id)
            .group_by(col(Member.id))
            .order_by(func.count().desc(), col(Member.id))
            .limit(200)
        ).all()
    ]
    return ClickFigures(
        links=links,
        clickers=clickers,
        by_hour=sorted(hours.items()),
        key_forgotten=bool(links) and session.get(ClickKey, campaign_id) is None,
        members=members,
    )
