"""The API's request and response shapes (pydantic): they check input and make the document.

Requests refuse unknown fields (a typo must not be silently ignored); checks that the web and
the CLI share (addresses, cron, segments...) stay in the services, not repeated here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from subscribers.invitations.events import MAX_CAPACITY

Str = str


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PageQuery(Query):
    limit: int = Field(50, ge=1, le=200, description="Items per page (1-200).")
    cursor: Str | None = Field(None, max_length=200, description="next_cursor of the last page.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: Str
    title: Str
    status: int
    detail: Str
    instance: Str
    errors: list[dict[str, Str]] | None = None


# -- lists ------------------------------------------------------------------------------------


class ListOut(BaseModel):
    slug: Str
    name: Str
    description: Str
    from_address: Str | None
    reply_to: Str | None
    accent_color: Str
    logo_url: Str | None
    footer: Str
    digest_cron: Str | None
    timezone: Str
    public: bool
    created_at: datetime


class ListSettings(Request):
    name: Str | None = Field(None, max_length=1000)
    description: Str | None = Field(None, max_length=10_000)
    from_address: Str | None = Field(None, max_length=1000)
    reply_to: Str | None = Field(None, max_length=1000)
    accent_color: Str | None = Field(None, max_length=100)
    logo_url: Str | None = Field(None, max_length=1000)
    footer: Str | None = Field(None, max_length=1000)
    digest_cron: Str | None = Field(None, max_length=1000)
    timezone: Str | None = Field(None, max_length=100)
    public: bool | None = None


class ListCreate(ListSettings):
    slug: Str = Field(max_length=100)
    name: Str = Field(max_length=1000)  # type: ignore[assignment]


class ListPage(BaseModel):
    items: list[ListOut]
    next_cursor: Str | None


# -- members ----------------------------------------------------------------------------------


class MemberCreate(Request):
    email: Str = Field(max_length=1000)
    name: Str = Field("", max_length=1000)
    organisation: Str = Field("", max_length=1000)
    country: Str = Field("", max_length=10)
    sector: Str = Field("", max_length=100)
    language: Str = Field("", max_length=10)
    lists: list[Str] = Field(min_length=1, max_length=50)
    import_with_consent: bool = Field(
        False,
        description="Trusted sources only: the person agreed elsewhere; subscribe at once, "
        "without the confirmation mail. Needs consent_note.",
    )
    consent_note: Str = Field("", max_length=1000, description="How the person agreed.")


class MemberAccepted(BaseModel):
    status: Literal["confirmation_sent", "imported"]
    email: Str


class Subscribed(BaseModel):
    list: Str
    status: Str


class MemberOut(BaseModel):
    id: int
    email: Str | None
    name: Str
    organisation: Str
    country: Str
    sector: Str
    language: Str
    status: Str
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    lists: list[Subscribed]


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: Str | None


class MemberQuery(PageQuery):
    status: Literal["pending", "active", "unsubscribed", "erased"] | None = None
    list: Str | None = Field(None, max_length=100)


class MemberPatch(Request):
    name: Str | None = Field(None, max_length=1000)
    organisation: Str | None = Field(None, max_length=1000)
    country: Str | None = Field(None, max_length=10)
    sector: Str | None = Field(None, max_length=100)
    language: Str | None = Field(None, max_length=10)
    lists: list[Str] | None = Field(
        None, max_length=50, description="Slugs the member stays on; lists left out are left."
    )


class MemberExport(BaseModel):
    profile: dict[str, Str | None]
    subscriptions: list[dict[str, Str | None]]
    consent_history: list[dict[str, Str | int | None]]
    deliveries: list[dict[str, Str | int | None]]


# -- news -------------------------------------------------------------------------------------


class NewsOut(BaseModel):
    id: int
    list: Str
    title: Str
    body: Str
    link: Str | None
    status: Str
    created_at: datetime
    created_by: Str | None


class NewsCreate(Request):
    list: Str = Field(max_length=100)
    title: Str = Field(max_length=1000)
    body: Str = Field(max_length=200_000)
    link: Str | None = Field(None, max_length=1000)


class NewsPatch(Request):
    title: Str | None = Field(None, max_length=1000)
    body: Str | None = Field(None, max_length=200_000)
    link: Str | None = Field(None, max_length=1000)


class NewsQuery(PageQuery):
    list: Str | None = Field(None, max_length=100)


class NewsPage(BaseModel):
    items: list[NewsOut]
    next_cursor: Str | None


# -- announcements and campaigns --------------------------------------------------------------


class AnnouncementCreate(Request):
    list: Str = Field(max_length=100)
    subject: Str = Field(max_length=1000)
    body: Str = Field(max_length=300_000, description="Markdown.")
    segment: Str = Field("", max_length=1000, description="e.g. country=PT,sector=police")
    send_at: datetime | None = Field(
        None, description="Schedule for later (ISO 8601; without offset: NEWSLETTER_TIMEZONE)."
    )
    archive: bool | None = Field(
        None,
        description="Publish in the list's public archive; default: only when sent to the "
        "whole list (no segment).",
    )


class AudienceQuery(Query):
    list: Str = Field(max_length=100)
    segment: Str = Field("", max_length=1000)


class AudienceCount(BaseModel):
    list: Str
    segment: Str
    recipients: int


class CampaignOut(BaseModel):
    id: int
    kind: Str
    subject: Str
    list: Str | None
    status: Str
    send_after: datetime | None
    created_at: datetime
    created_by: Str | None
    total: int
    counts: dict[str, int]
    bounced: int
    percent: int
    finished: bool
    in_archive: bool


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next_cursor: Str | None


# -- events -----------------------------------------------------------------------------------


class EventCreate(Request):
    list: Str = Field(max_length=100)
    title: Str = Field(max_length=1000)
    start: datetime
    end: datetime
    timezone: Str | None = Field(None, max_length=100)
    description: Str = Field("", max_length=200_000)
    location: Str = Field("", max_length=1000)
    online_url: Str = Field("", max_length=1000)
    capacity: int | None = Field(None, ge=0, le=MAX_CAPACITY)
    rsvp_deadline: datetime | None = None
    reminders: Str | None = Field(None, max_length=200, description='e.g. "24h,1h"')


class EventOut(BaseModel):
    id: int
    list: Str
    title: Str
    description: Str
    start: datetime
    end: datetime
    timezone: Str
    location: Str
    capacity: int | None
    rsvp_deadline: datetime | None
    status: Str
    answers: dict[str, int]


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: Str | None


class InviteBody(Request):
    segment: Str = Field("", max_length=1000)


class Invited(BaseModel):
    campaign_id: int | None
    invited: int


class RsvpOut(BaseModel):
    member_id: int
    email: Str | None
    name: Str
    answer: Str
    answered_at: datetime | None
    waiting_since: datetime | None


class RsvpPage(BaseModel):
    items: list[RsvpOut]


# -- bounces and suppressions -----------------------------------------------------------------


class BounceOut(BaseModel):
    id: int
    address_hash: Str
    campaign_id: int | None
    kind: Str
    status: Str | None
    diagnostic: Str
    at: datetime


class BouncePage(BaseModel):
    items: list[BounceOut]
    next_cursor: Str | None


class SuppressionOut(BaseModel):
    address_hash: Str
    reason: Str
    detail: Str
    created_at: datetime


class SuppressionList(BaseModel):
    items: list[SuppressionOut]


class SuppressionQuery(Query):
    email: Str | None = Field(None, max_length=1000, description="Is this address suppressed?")


class SuppressionLift(Request):
    email: Str = Field(max_length=1000)
    reason: Str = Field(min_length=1, max_length=500, description="Why it may be mailed again.")


# -- webhooks ---------------------------------------------------------------------------------


class WebhookCreate(Request):
    url: Str = Field(max_length=500)
    events: list[Str] = Field(min_length=1, max_length=20)


class WebhookOut(BaseModel):
    id: int
    url: Str
    events: list[Str]
    created_at: datetime
    created_by: Str


class WebhookCreated(WebhookOut):
    secret: Str = Field(description="Shown once: verify each delivery's signature with it.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookAttemptOut(BaseModel):
    at: datetime
    code: int | None
    error: Str
    ms: int


class WebhookDeliveryOut(BaseModel):
    id: int
    webhook_id: Str = Field(description="The webhook-id header (the same on every retry).")
    event: Str
    state: Str
    attempts: int
    next_attempt_at: datetime | None
    last_code: int | None
    last_error: Str | None
    delivered_at: datetime | None
    tries: list[WebhookAttemptOut]


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDeliveryOut]


class Done(BaseModel):
    done: Str
