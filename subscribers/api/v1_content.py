"""/api/v1/news, /announcements and /campaigns: what goes out, and steering it."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from mailer import outbox
from mailer.outbox import Campaign
from subscribers.admin import actions
from subscribers.api import schemas as s
from subscribers.api.core import Answer, Call, operation, paged, require_match
from subscribers.api.v1_lists import record
from subscribers.content import campaigns, lists, news
from subscribers.core import times
from subscribers.core.errors import InvalidInput
from subscribers.core.models import MailingList, NewsItem
from subscribers.people.audience import Segment
from subscribers.web.context import db, runtime


def news_out(item: NewsItem) -> s.NewsOut:
    mailing_list = db().get(MailingList, item.list_id)
    values = item.model_dump(include=set(s.NewsOut.model_fields) - {"list"})
    return s.NewsOut(**values, list=mailing_list.slug if mailing_list else "")


@operation(
    "GET", "/news", summary="News items, queued and sent", role="viewer", tag="news",
    query=s.NewsQuery, response=s.NewsPage, paged=True,
)  # fmt: skip
def news_index(call: Call) -> Answer:
    stmt = select(NewsItem)
    if call.query.list:
        stmt = stmt.where(NewsItem.list_id == lists.by_slug(db(), call.query.list).id)
    return paged(stmt, NewsItem.id, call.query, news_out)


@operation(
    "POST", "/news", summary="Queue a news item for the list's next digest", role="editor",
    tag="news", body=s.NewsCreate, response=s.NewsOut, status=201, errors=(404, 422), etag=True,
)  # fmt: skip
def news_create(call: Call) -> s.NewsOut:
    body: s.NewsCreate = call.body
    item = news.add(
        db(),
        body.list,
        title=body.title,
        body=body.body,
        link=body.link,
        now=runtime().clock(),
        created_by=call.actor,
    )
    record(call, actions.news_added(item))
    return news_out(item)


@operation(
    "GET", "/news/<int:item_id>", summary="One news item", role="viewer", tag="news",
    response=s.NewsOut, errors=(404,), etag=True,
)  # fmt: skip
def news_show(call: Call, item_id: int) -> s.NewsOut:
    return news_out(news.get(db(), item_id))


@operation(
    "PATCH", "/news/<int:item_id>", summary="Change a queued news item", role="editor",
    tag="news", body=s.NewsPatch, response=s.NewsOut, errors=(404, 409, 412, 422, 428), etag=True,
)  # fmt: skip
def news_edit(call: Call, item_id: int) -> s.NewsOut:
    require_match(news_out(news.get(db(), item_id)))
    item = news.update(db(), item_id, **call.body.model_dump(exclude_none=True))
    record(call, actions.news_edited(item))
    return news_out(item)


@operation(
    "POST", "/news/<int:item_id>/withdraw", summary="Take a queued item out of the digest",
    role="editor", tag="news", response=s.NewsOut, errors=(404, 409),
)  # fmt: skip
def news_withdraw(call: Call, item_id: int) -> s.NewsOut:
    item = news.withdraw(db(), item_id)
    record(call, actions.news_withdrawn(item))
    return news_out(item)


# -- announcements and campaigns ------------------------------------------------------------


def campaign_out(progress: campaigns.Progress) -> s.CampaignOut:
    c = progress.campaign
    mailing_list = db().get(MailingList, c.list_id) if c.list_id else None
    return s.CampaignOut(
        id=c.id or 0,
        kind=c.kind,
        subject=c.subject,
        list=mailing_list.slug if mailing_list else None,
        status=c.status,
        send_after=c.send_after,
        created_at=c.created_at,
        created_by=c.created_by,
        total=progress.total,
        counts=progress.counts,
        bounced=progress.bounced,
        percent=progress.percent,
        finished=progress.finished,
        in_archive=c.in_archive,
    )


@operation(
    "GET", "/audience", summary="How many members an announcement would reach now",
    role="viewer", tag="announcements", query=s.AudienceQuery, response=s.AudienceCount,
    errors=(404, 422),
)  # fmt: skip
def audience_count(call: Call) -> s.AudienceCount:
    segment = Segment.parse(call.query.segment)
    count = campaigns.audience_size(db(), call.query.list, segment)
    return s.AudienceCount(list=call.query.list, segment=str(segment), recipients=count)


@operation(
    "POST", "/announcements", role="editor", tag="announcements", body=s.AnnouncementCreate,
    response=s.CampaignOut, status=201, errors=(404, 422),
    summary="Send an announcement to a list or a segment, now or at send_at",
)  # fmt: skip
def announcements_create(call: Call) -> s.CampaignOut:
    body: s.AnnouncementCreate = call.body
    rt = runtime()
    now = rt.clock()
    # Without an offset: NEWSLETTER_TIMEZONE, as on the command line.
    send_after = body.send_at and times.in_zone(body.send_at, rt.settings.timezone, field="send_at")
    announcement = campaigns.Announcement(
        list_slug=body.list,
        subject=body.subject,
        body_markdown=body.body,
        segment=Segment.parse(body.segment),
        send_after=send_after,
        created_by=call.actor,
        archive=body.archive,
    )
    try:
        campaign, count = campaigns.create_announcement(db(), rt.kit, announcement, now=now)
    except InvalidInput as err:
        raise err.renamed(send_after="send_at") from None  # the body's name for it
    if count == 0:  # rolled back: an announcement to nobody is a mistake, not a campaign
        raise InvalidInput(
            _("Nobody on this list matches this audience; nothing was sent."), field="list"
        )
    record(call, actions.announced(campaign, announcement, count))
    return campaign_out(campaigns.progress(db(), campaign.id or 0))


@operation(
    "GET", "/campaigns", summary="Campaigns with their figures", role="viewer",
    tag="announcements", query=s.PageQuery, response=s.CampaignPage, paged=True,
)  # fmt: skip
def campaigns_index(call: Call) -> Answer:
    return paged(
        select(Campaign),
        Campaign.id,
        call.query,
        lambda c: campaign_out(campaigns.progress(db(), c.id)),
    )


@operation(
    "GET", "/campaigns/<int:campaign_id>", summary="A campaign's figures", role="viewer",
    tag="announcements", response=s.CampaignOut, errors=(404,),
)  # fmt: skip
def campaigns_show(call: Call, campaign_id: int) -> s.CampaignOut:
    return campaign_out(campaigns.progress(db(), campaign_id))


def _steer(call: Call, campaign_id: int, status: str, action: str) -> s.CampaignOut:
    campaigns.set_status(db(), campaign_id, status)
    record(call, actions.campaign_status_set(campaign_id, action))
    return campaign_out(campaigns.progress(db(), campaign_id))


@operation(
    "POST", "/campaigns/<int:campaign_id>/pause", summary="Pause a campaign",
    role="editor", tag="announcements", response=s.CampaignOut, errors=(404, 409),
)  # fmt: skip
def campaigns_pause(call: Call, campaign_id: int) -> s.CampaignOut:
    return _steer(call, campaign_id, outbox.PAUSED, "pause")


@operation(
    "POST", "/campaigns/<int:campaign_id>/resume", summary="Resume a paused campaign",
    role="editor", tag="announcements", response=s.CampaignOut, errors=(404, 409),
)  # fmt: skip
def campaigns_resume(call: Call, campaign_id: int) -> s.CampaignOut:
    return _steer(call, campaign_id, outbox.ACTIVE, "resume")


@operation(
    "POST", "/campaigns/<int:campaign_id>/cancel",
    summary="Cancel a campaign (what is not yet sent is skipped)",
    role="editor", tag="announcements", response=s.CampaignOut, errors=(404, 409),
)  # fmt: skip
def campaigns_cancel(call: Call, campaign_id: int) -> s.CampaignOut:
    return _steer(call, campaign_id, outbox.CANCELLED, "cancel")
