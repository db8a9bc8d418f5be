"""Digests: everything queued for a list, rendered once and sent as one campaign.

A digest is unique per (list, period) through the campaign's ``ref`` (a unique column), so a job
that runs twice, or on two workers at once, queues it once. The news items are marked as carried
by the digest in the same transaction: an item queued after the digest was built waits for the
next one, and none is sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from mailer import outbox
from mailer.compose import RenderedMail
from mailer.content import markdown_to_html, summary
from mailer.outbox import Campaign
from mailer.plaintext import markdown_to_plain
from subscribers.content import lists, news
from subscribers.content.mails import MailKit, brand, list_campaign
from subscribers.content.multilingual import Reading, Written
from subscribers.core import refs
from subscribers.core.i18n import ngettext
from subscribers.core.models import MailingList, NewsItem
from subscribers.people import audience


@dataclass(frozen=True)
class DigestOutcome:
    list_slug: str
    campaign_id: int | None
    items: int
    recipients: int
    reason: str = ""

    def describe(self) -> str:
        if self.campaign_id is None:
            return f"{self.list_slug}: no digest ({self.reason})"
        return ngettext(
            "%(list)s: digest %(id)d with %(items)s queued for %(num)d member",
            "%(list)s: digest %(id)d with %(items)s queued for %(num)d members",
            self.recipients,
            list=self.list_slug,
            id=self.campaign_id,
            items=ngettext("%(num)d news item", "%(num)d news items", self.items),
        )


def create_digest(
    session: Session, kit: MailKit, list_slug: str, *, now: datetime, period: str | None = None
) -> DigestOutcome:
    """Queue the digest of a list's queued news; nothing when nothing is queued.

    ``period`` names the schedule slot (the scheduler passes its fire time); a manual send uses
    the current minute. Runs in the caller's transaction.
    """
    mailing_list = lists.by_slug(session, list_slug)
    assert mailing_list.id is not None
    ref = refs.digest(mailing_list.id, period or now.strftime("manual-%Y-%m-%dT%H:%M"))
    if session.execute(select(col(Campaign.id)).where(col(Campaign.ref) == ref)).first():
        return DigestOutcome(list_slug, None, 0, 0, "already sent for this period")
    items = news.queued(session, mailing_list.id)
    if not items:
        return DigestOutcome(list_slug, None, 0, 0, "nothing queued")
    if audience.count(session, mailing_list) == 0:
        # Keep the items for a digest that someone will actually receive.
        return DigestOutcome(list_slug, None, len(items), 0, "no active members yet")
    written = news.written(session, items)
    context = _digest_context(mailing_list, items, written, now)
    # The audience's languages and every language an item is written in (for the archive).
    languages = audience.languages(session, mailing_list)
    languages += [code for texts in written.values() for code in texts.languages]
    versions = kit.render_each("digest", languages, context)
    try:
        with session.begin_nested():  # a concurrent run may win the unique ref: then stop
            # In the archive: a digest goes to the whole list.
            campaign = list_campaign(
                session, kit, mailing_list, versions, now=now, ref=ref, in_archive=True
            )
    except IntegrityError:
        return DigestOutcome(list_slug, None, 0, 0, "already sent for this period")
    archive = {"archive_url": kit.archive_url(mailing_list, campaign.id)}
    count = outbox.enqueue(
        session, campaign, audience.recipients(session, kit, mailing_list, extra=archive), now=now
    )
    for item in items:
        item.status, item.digest_campaign_id = "sent", campaign.id
        session.add(item)
    session.flush()
    return DigestOutcome(list_slug, campaign.id, len(items), count)


def _digest_context(
    mailing_list: MailingList, items: list[NewsItem], written: dict[int, Written], now: datetime
) -> Callable[[MailKit], dict[str, Any]]:
    """The digest's context for the kit of each language: every item in the reader's language
    where staff translated it, else in its original."""

    def context(language_kit: MailKit) -> dict[str, Any]:
        language = language_kit.language
        return {
            "brand": brand(mailing_list),
            "list_name": mailing_list.name,
            "items": [
                _digest_item(item, written[item.id or 0].for_reader(language)) for item in items
            ],
            "date": now,
            "archived": True,
        }

    return context


def preview_item(
    session: Session, kit: MailKit, item: NewsItem, language: str, *, now: datetime
) -> RenderedMail:
    """The digest a member reading ``language`` would get with only this item in it."""
    mailing_list = session.get(MailingList, item.list_id)
    assert mailing_list is not None
    context = _digest_context(mailing_list, [item], news.written(session, [item]), now)
    (rendered,) = kit.render_each("digest", [language], context)
    return rendered


def _digest_item(item: NewsItem, reading: Reading) -> dict[str, Any]:
    text = reading.text
    return {
        "anchor": f"item-{item.id}",
        "title": text.title,
        "link": item.link,
        "summary": summary(text.body),
        # digest.html titles each item with an <h2>: the item's own headings start below it.
        "body_html": markdown_to_html(text.body, top_heading=3),
        "body_text": markdown_to_plain(text.body),
        "language": text.language,
        "untranslated": reading.untranslated,
    }


def digest_trigger(mailing_list: MailingList) -> CronTrigger:
    """The list's digest cron, read in the list's own time zone (09:00 Lisbon stays 09:00)."""
    assert mailing_list.digest_cron
    return CronTrigger.from_crontab(
        mailing_list.digest_cron, timezone=ZoneInfo(mailing_list.timezone)
    )


def latest_slot(
    trigger: CronTrigger,
    now: datetime,
    *,
    lookback: timedelta = timedelta(days=40),
) -> datetime | None:
    """The most recent fire time at or before ``now``: the period a digest run belongs to."""
    slot, cursor = None, now - lookback
    while True:
        nxt = trigger.get_next_fire_time(slot, cursor)
        if nxt is None or nxt > now:
            return slot
        slot, cursor = nxt, nxt + timedelta(seconds=1)


def next_digests(session: Session, *, now: datetime) -> list[tuple[MailingList, datetime | None]]:
    """Each scheduled list with the time of its next digest."""
    scheduled = session.execute(
        select(MailingList)
        .where(col(MailingList.digest_cron).is_not(None))
        .order_by(col(MailingList.name))
    ).scalars()
    return [(lst, digest_trigger(lst).get_next_fire_time(None, now)) for lst in scheduled]
