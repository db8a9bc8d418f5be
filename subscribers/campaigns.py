"""Campaigns to a list: render once, pick the audience, fan out into the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailer import outbox
from mailer.content import markdown_to_html, summary
from mailer.outbox import Campaign
from subscribers import audience, lists
from subscribers.audience import Segment
from subscribers.errors import InvalidInput
from subscribers.mails import MailKit, brand, list_id_header
from subscribers.validation import clean_text

MAX_BODY = 200_000


@dataclass(frozen=True)
class Announcement:
    list_slug: str
    subject: str
    body_markdown: str
    segment: Segment = Segment()
    send_after: datetime | None = None
    created_by: str | None = None


def create_announcement(
    session: Session, kit: MailKit, announcement: Announcement, *, now: datetime
) -> tuple[Campaign, int]:
    """Render an announcement once and queue it for the list's (segment's) active members."""
    mailing_list = lists.by_slug(session, announcement.list_slug)
    subject = clean_text(announcement.subject, field="subject", label="Subject", limit=200)
    if not subject:
        raise InvalidInput("subject: must not be empty", field="subject")
    body = announcement.body_markdown or ""
    if not body.strip() or len(body) > MAX_BODY:
        raise InvalidInput("body: must not be empty (and at most 200,000 characters)", field="body")
    rendered = kit.render(
        "announcement",
        {
            "brand": brand(mailing_list),
            "title": subject,
            "body_html": markdown_to_html(body),
            "body_text": body.strip(),
            "teaser": summary(body),
            "archived": True,
        },
    )
    campaign = outbox.create_campaign(
        session,
        rendered=rendered,
        sender=kit.sender_for(mailing_list),
        now=now,
        list_id=mailing_list.id,
        list_header=list_id_header(mailing_list, kit.base_url),
        reply_to=mailing_list.reply_to,
        send_after=announcement.send_after,
        created_by=announcement.created_by,
    )
    count = outbox.enqueue(
        session,
        campaign,
        audience.recipients(
            session,
            kit,
            mailing_list,
            announcement.segment,
            extra={"archive_url": kit.archive_url(mailing_list, campaign.id)},
        ),
        now=now,
    )
    return campaign, count
