"""The domain's tables: members, lists, subscriptions, consent history, news, staff, audit."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from mailer.dbtypes import UTCDateTime
from subscribers.core.textfold import fold

# Member.status
PENDING, ACTIVE, UNSUBSCRIBED, ERASED = "pending", "active", "unsubscribed", "erased"
# Subscription.status (per list): pending until the member confirms
SUB_PENDING, SUB_ACTIVE, SUB_UNSUBSCRIBED = "pending", "active", "unsubscribed"


def new_nonce() -> str:
    return secrets.token_hex(8)


# A list's accent colour until staff choose one (mail headings, buttons and links).
DEFAULT_ACCENT = "#1d4e89"


class MailingList(SQLModel, table=True):
    __tablename__ = "mailing_list"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    from_address: str | None = Field(default=None, max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    accent_color: str = Field(default=DEFAULT_ACCENT, max_length=16)
    logo_url: str | None = Field(default=None, max_length=500)
    footer: str = Field(default="", max_length=500)
    digest_cron: str | None = Field(default=None, max_length=100)
    timezone: str = Field(default="Europe/Lisbon", max_length=64)
    public: bool = True
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Its pages' language when nothing else tells, and the language its content is written in.
    language: str = Field(default="en", max_length=8)
    # Record which member clicked which link (subscribers.insight.clicks): only where the list's
    # consent text says so; otherwise clicks are counted without names.
    record_clicks: bool = False


class Member(SQLModel, table=True):
    """A person on the network's lists. Erasure blanks every personal field."""

    __tablename__ = "member"
    # Never reuse an id: deliveries and consent history of a purged member refer to it.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    email: str | None = Field(default=None, max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    organisation: str = Field(default="", max_length=200)
    country: str = Field(default="", max_length=2, index=True)
    sector: str = Field(default="", max_length=32, index=True)
    language: str = Field(default="en", max_length=8)
    status: str = Field(default=PENDING, max_length=16, index=True)
    # Rotated on erasure: every token signed for this member carries it, so old links die.
    nonce: str = Field(default_factory=new_nonce, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unsubscribed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_notice_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Address, name and organisation folded (no accents, no case: textfold.fold), what member
    # search matches against, the same on SQLite and PostgreSQL. Kept by the hooks below.
    search_text: str = Field(
        default="", sa_column=Column(Text, nullable=False, default="", server_default="")
    )

    @property
    def display_name(self) -> str:
        return display_name(self.name, self.email)


def display_name(name: str | None, email: str | None) -> str:
    """How mail greets a member: their name, or the part of their address before the @."""
    return name or (email or "").split("@")[0]


def member_search_text(email: str | None, name: str | None, organisation: str | None) -> str:
    """What member search matches: the three fields folded, one space apart."""
    return " ".join(part for part in (fold(email), fold(name), fold(organisation)) if part)


@event.listens_for(Member, "before_insert")
@event.listens_for(Member, "before_update")
def _keep_search_text(_mapper: object, _connection: object, member: Member) -> None:
    # Every ORM write of a member (registration, edits, erasure, imports' updates) refreshes
    # it; the import's bulk INSERT, which skips these hooks, fills it itself.
    member.search_text = member_search_text(member.email, member.name, member.organisation)


class Subscription(SQLModel, table=True):
    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("member_id", "list_id", name="uq_subscription"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    list_id: int = Field(foreign_key="mailing_list.id", index=True)
    status: str = Field(default=SUB_PENDING, max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ConsentWording(SQLModel, table=True):
    """The words a person ticks to consent, versioned: one row per version and language.

    Rows are never changed: staff changing the wording add a version (subscribers.people.consent),
    and each consent record points at the row its person saw.
    """

    __tablename__ = "consent_wording"
    __table_args__ = (
        UniqueConstraint("version", "language", name="uq_consent_wording_version_language"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int
    language: str = Field(max_length=8)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=320)


class ConsentEvent(SQLModel, table=True):
    """One entry of a member's consent history: what was agreed or withdrawn, when and how."""

    __tablename__ = "consent_event"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    list_id: int | None = Field(default=None, foreign_key="mailing_list.id")
    action: str = Field(max_length=32)  # given | confirmed | withdrawn | changed | imported ...
    consent_version: str = Field(default="", max_length=32)
    consent_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # The wording the person ticked (given, confirmed); consent_text repeats its words.
    wording_id: int | None = Field(default=None, foreign_key="consent_wording.id")
    source: str = Field(default="web", max_length=32)
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)
    note: str = Field(default="", max_length=500)
    at: datetime = Field(sa_type=UTCDateTime)


class Throttle(SQLModel, table=True):
    """A fixed-window counter shared by every process (registration rate limits)."""

    __tablename__ = "throttle"

    key: str = Field(primary_key=True, max_length=200)
    window_start: datetime = Field(sa_type=UTCDateTime)
    count: int = 0


class SendConfirmation(SQLModel, table=True):
    """A one-time token shown on a "confirm this mass send" page; spent by the send it confirms.

    Kept in the database, not the session cookie: a replayed request (double click, back button,
    a resent form) finds the token spent and sends nothing more.
    """

    __tablename__ = "send_confirmation"

    token: str = Field(primary_key=True, max_length=64)
    action: str = Field(max_length=100)  # what it confirms, e.g. "digest:practitioners"
    created_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NewsItem(SQLModel, table=True):
    __tablename__ = "news_item"
    __table_args__ = (Index("ix_news_item_list_status", "list_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="mailing_list.id")
    title: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    link: str | None = Field(default=None, max_length=500)
    status: str = Field(default="queued", max_length=16)  # queued | sent | withdrawn
    digest_campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=320)
    language: str = Field(default="en", max_length=8)  # of title and body; others: Translation


# Translation.owner
NEWS, EVENT = "news", "event"


class Translation(SQLModel, table=True):
    """A news item's or an event's title and body in one more language, written by staff."""

    __tablename__ = "translation"

    owner: str = Field(max_length=16, primary_key=True)  # news | event
    owner_id: int = Field(primary_key=True)
    language: str = Field(max_length=8, primary_key=True)
    title: str = Field(max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=300)
    role: str = Field(max_length=16)  # admin | editor | viewer
    failed_logins: int = 0  # unused since sign-in failures are counted per address (throttle)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)  # unused, as above
    created_at: datetime = Field(sa_type=UTCDateTime)
    # A staff session is valid only while it carries this key; a new one is drawn at sign-out,
    # password and role change, so every copy of an old cookie stops working. Random rather
    # than a counter: an account made later under a reused id cannot match an old cookie.
    session_key: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=32)
    language: str = Field(default="en", max_length=8)  # of their workspace


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=320)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=200)
    detail: str = Field(default="", max_length=1000)


# Event.status
EVENT_SCHEDULED, EVENT_CANCELLED = "scheduled", "cancelled"
# Rsvp.status: invited (no answer yet) | yes (holds a seat) | waiting (said yes, event full) | no
# | maybe. Only "yes" holds a seat; "waiting" rows are served first come, first served.
INVITED, YES, WAITING, NO, MAYBE = "invited", "yes", "waiting", "no", "maybe"
RSVP_STATUSES = (INVITED, YES, WAITING, NO, MAYBE)


class Event(SQLModel, table=True):
    """An event members are invited to. Times are stored in UTC; ``timezone`` is how it is shown."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="mailing_list.id", index=True)
    # The calendar UID: fixed at creation so every update and the cancellation replace the same
    # entry in the member's calendar.
    uid: str = Field(max_length=200, unique=True)
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    start_at: datetime = Field(sa_type=UTCDateTime, index=True)
    end_at: datetime = Field(sa_type=UTCDateTime)
    timezone: str = Field(max_length=64)
    location: str = Field(default="", max_length=300)
    # Members only: mailed to those who said yes, never shown on a page or in an invitation.
    online_url: str = Field(default="", max_length=500)
    capacity: int | None = None
    rsvp_deadline: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminders: str = Field(default="1440,60", max_length=100)  # minutes before the start
    sequence: int = 0  # iCalendar SEQUENCE, raised with every update mailed and the cancellation
    status: str = Field(default=EVENT_SCHEDULED, max_length=16, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=320)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    language: str = Field(default="en", max_length=8)  # of title and description


class Rsvp(SQLModel, table=True):
    """One member invited to one event, and their answer."""

    __tablename__ = "rsvp"
    __table_args__ = (
        UniqueConstraint("event_id", "member_id", name="uq_rsvp_event_member"),
        Index("ix_rsvp_event_status", "event_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id")
    member_id: int = Field(foreign_key="member.id", index=True)
    status: str = Field(default=INVITED, max_length=16)
    invited_at: datetime = Field(sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    waiting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ImportJob.status
IMPORT_RUNNING, IMPORT_DONE = "running", "done"


class ImportJob(SQLModel, table=True):
    """A CSV import run in short transactions: each chunk commits its lines together with the
    progress below, so an interrupted import resumes where it stopped and repeats nothing."""

    __tablename__ = "import_job"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="mailing_list.id")
    upload: str = Field(max_length=64)  # the stored file's name (subscribers.core.uploads)
    filename: str = Field(max_length=200)
    consent_note: str = Field(max_length=500)
    actor: str = Field(max_length=320)
    status: str = Field(default=IMPORT_RUNNING, max_length=16)
    total: int = 0  # data lines in the file
    done: int = 0  # data lines handled (imported or skipped)
    added: int = 0
    updated: int = 0
    skipped: int = 0
    # One "line<TAB>reason" per skipped line, for the report.
    skipped_lines: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API: shown once, stored only as a SHA-256 hash."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)  # viewer | editor | admin, as staff roles
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookEndpoint(SQLModel, table=True):
    """A URL that receives signed JSON for the events it subscribed to."""

    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=500)
    events: str = Field(max_length=500)  # comma-separated event types
    # The signing key, "whsec_" + base64 (Standard Webhooks); it must be readable to sign.
    secret: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=320)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookMessage(SQLModel, table=True):
    """One event, written in the same transaction as the change it reports."""

    __tablename__ = "webhook_message"

    id: int | None = Field(default=None, primary_key=True)
    # The webhook-id header: the same for every attempt and every endpoint, so receivers
    # can drop a repeat. ``ref`` makes an event recorded twice (campaign.finished) one row.
    msg_id: str = Field(max_length=40, unique=True)
    ref: str | None = Field(default=None, max_length=200, unique=True)
    event: str = Field(max_length=40)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class WebhookDelivery(SQLModel, table=True):
    """One message to one endpoint, with the outbox's states, lease and back-off."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("message_id", "endpoint_id", name="uq_webhook_delivery"),
        Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="webhook_message.id")
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True)
    state: str = Field(default="queued", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebhookAttempt(SQLModel, table=True):
    """One try of a delivery: when, the answer's status or the error (shown in the workspace)."""

    __tablename__ = "webhook_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_delivery.id", index=True)
    at: datetime = Field(sa_type=UTCDateTime)
    code: int | None = None
    error: str = Field(default="", max_length=500)
    duration_ms: int = 0


class Complaint(SQLModel, table=True):
    """A member reported one of our mails as spam (a feedback-loop report, mailer.arf).

    The address is kept only as a hash, like bounces and suppressions; the delivery and campaign
    say which mail it was about, so campaigns count their complaints.
    """

    __tablename__ = "complaint"

    id: int | None = Field(default=None, primary_key=True)
    address_hash: str = Field(default="", max_length=64, index=True)
    delivery_id: int | None = Field(default=None)
    campaign_id: int | None = Field(default=None, index=True)
    feedback_type: str = Field(max_length=16)
    user_agent: str = Field(default="", max_length=100)
    at: datetime = Field(sa_type=UTCDateTime)


class CampaignLink(SQLModel, table=True):
    """A link of a campaign, numbered; the click redirect reads its target from here only."""

    __tablename__ = "campaign_link"

    # A plain id, as elsewhere in the statistics: an empty campaign may be deleted again.
    campaign_id: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False))


class LinkClick(SQLModel, table=True):
    """One click on a campaign's link. ``member_id`` only where the list records it (consent)."""

    __tablename__ = "link_click"
    __table_args__ = (Index("ix_link_click_campaign_idx", "campaign_id", "idx"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int
    idx: int
    at: datetime = Field(sa_type=UTCDateTime)
    member_id: int | None = Field(default=None, index=True)


class Clicker(SQLModel, table=True):
    """A distinct clicker of a campaign: HMAC(campaign's ClickKey, member id), nothing else."""

    __tablename__ = "clicker"

    campaign_id: int = Field(primary_key=True)
    hash: str = Field(primary_key=True, max_length=64)


class ClickKey(SQLModel, table=True):
    """The key behind a campaign's clicker hashes; deleted 30 days after the send."""

    __tablename__ = "click_key"

    campaign_id: int = Field(primary_key=True)
    key: str = Field(max_length=64)
    forget_after: datetime = Field(sa_type=UTCDateTime, index=True)
