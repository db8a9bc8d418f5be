"""Members as staff see them: search, one member's history, edit, unsubscribe, erase.

The web workspace and ``newsletter members`` both call these functions. Each change writes an
audit entry in the caller's transaction; the entry names the member by id only, so that an
erasure leaves no address or name behind in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlmodel import Session, col

from mailer import bounce_log, outbox
from mailer.bounce_log import Bounce
from mailer.outbox import Campaign, Delivery
from subscribers.admin import audit
from subscribers.content import lists
from subscribers.content.mails import MailKit
from subscribers.core import ids
from subscribers.core.errors import Conflict, InvalidInput, NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import (
    ACTIVE,
    ERASED,
    PENDING,
    UNSUBSCRIBED,
    ConsentEvent,
    MailingList,
    Member,
    Subscription,
)
from subscribers.core.paging import Page, paginate
from subscribers.core.textfold import fold
from subscribers.core.validation import bounded
from subscribers.people import preferences, suppressions
from subscribers.people.suppressions import Suppressed

STATUSES = (PENDING, ACTIVE, UNSUBSCRIBED, ERASED)
DETAILS = ("name", "organisation", "country", "sector", "language")
PER_PAGE = 50
HISTORY_LIMIT = 200  # rows of each kind of history shown; the full set is in the JSON export


@dataclass(frozen=True)
class MemberQuery:
    """What staff look for: free text (address, name, organisation) and exact filters."""

    text: str = ""
    list_slug: str = ""
    status: str = ""
    country: str = ""
    sector: str = ""
    language: str = ""
    page: int = 1
    per_page: int = PER_PAGE


@dataclass(frozen=True)
class ConsentRow:
    event: ConsentEvent
    list_name: str


@dataclass(frozen=True)
class DeliveryRow:
    delivery: Delivery
    subject: str
    kind: str


@dataclass(frozen=True)
class History:
    """A member's record: lists, consent history, mail sent, bounces received."""

    member: Member
    subscriptions: list[tuple[Subscription, MailingList]]
    consents: list[ConsentRow] = field(default_factory=list)
    deliveries: list[DeliveryRow] = field(default_factory=list)
    bounces: list[Bounce] = field(default_factory=list)
    suppressed: Suppressed | None = None


def label(member: Member) -> str:
    """How a member is named to staff: the address, or "(erased)" once it is gone."""
    return member.email or "(erased)"


def _text_filter(text: str) -> ColumnElement[bool]:
    """ "Contains" on address, name and organisation, without regard to case or accents.

    Both sides are folded in Python (textfold.fold: "zolc" finds Żółć, "chisinau" Chișinău), so
    SQLite and PostgreSQL match alike without unaccent() or ICU collations.
    """
    return col(Member.search_text).contains(fold(text), autoescape=True)


def _filtered(session: Session, query: MemberQuery) -> Select[Any]:
    for name in ("list_slug", "status", "country", "sector", "language"):
        bounded(getattr(query, name), field=name, label=name)
    text = bounded(query.text, field="q", label=_("Search"))
    stmt = select(Member)
    if text:
        stmt = stmt.where(_text_filter(text))
    if query.list_slug:
        list_id = lists.by_slug(session, query.list_slug).id
        stmt = stmt.where(
            exists().where(
                col(Subscription.member_id) == col(Member.id), col(Subscription.list_id) == list_id
            )
        )
    if query.status:
        if query.status not in STATUSES:
            raise InvalidInput(
                _("status must be one of %(statuses)s", statuses=", ".join(STATUSES)),
                field="status",
            )
        stmt = stmt.where(col(Member.status) == query.status)
    for name in ("country", "sector", "language"):
        value = getattr(query, name)
        if value:
            stmt = stmt.where(getattr(Member, name) == value)
    return stmt


def search(session: Session, query: MemberQuery) -> Page[Member]:
    """Members matching the query, newest first, one page of them."""
    stmt = _filtered(session, query).order_by(col(Member.id).desc())
    return paginate(session, stmt, page=query.page, per_page=query.per_page)


def get(session: Session, member_id: int) -> Member:
    member = ids.get(session, Member, member_id)
    if member is None:
        raise NotFound(_("no member %(id)s", id=member_id))
    return member


def find(session: Session, ref: str) -> Member:
    """A member by address (any case) or by id ("42" or "#42", which also finds erased ones)."""
    text = (ref or "").strip()
    if text.lstrip("#").isdecimal():  # what int() reads ("²" is a digit, not a decimal)
        return get(session, int(text.lstrip("#")))
    address = text.lower()
    member: Member | None = session.execute(
        select(Member).where(col(Member.email) == address)
    ).scalar_one_or_none()
    if member is None:
        if address and outbox.suppressed(session, [address]):
            raise NotFound(
                _("no member %(ref)s (the address is on the suppression list)", ref=repr(text))
            )
        raise NotFound(_("no member %(ref)s", ref=repr(text)))
    return member


def history(session: Session, member: Member, *, limit: int = HISTORY_LIMIT) -> History:
    """Everything staff may see about a member, newest first."""
    consents = session.execute(
        select(ConsentEvent, col(MailingList.name))
        .outerjoin(MailingList, col(MailingList.id) == col(ConsentEvent.list_id))
        .where(col(ConsentEvent.member_id) == member.id)
        .order_by(col(ConsentEvent.at).desc(), col(ConsentEvent.id).desc())
        .limit(limit)
    ).all()
    deliveries = session.execute(
        select(Delivery, col(Campaign.subject), col(Campaign.kind))
        .join(Campaign, col(Campaign.id) == col(Delivery.campaign_id))
        .where(col(Delivery.recipient_id) == member.id)
        .order_by(col(Delivery.id).desc())
        .limit(limit)
    ).all()
    return History(
        member=member,
        subscriptions=preferences.subscriptions(session, member),
        consents=[ConsentRow(event, name or "") for event, name in consents],
        deliveries=[DeliveryRow(d, subject, kind) for d, subject, kind in deliveries],
        bounces=bounce_log.of_recipient(session, member.email, member.id or 0, limit=limit),
        suppressed=suppressions.of_member(session, member),
    )


def _editable(member: Member) -> None:
    if member.status == ERASED:
        raise Conflict(_("this member's data was erased; there is nothing left to change"))


def update_details(
    session: Session, member: Member, details: dict[str, str], *, actor: str, now: datetime
) -> list[str]:
    """Change a member's details (already validated); returns the names of changed fields."""
    _editable(member)
    changed = [key for key in DETAILS if key in details and getattr(member, key) != details[key]]
    for key in changed:
        setattr(member, key, details[key])
    if changed:
        session.add(member)
        session.flush()
        _audit(session, member, "member.edit", "changed " + ", ".join(changed), actor, now)
    return changed


def unsubscribe(
    session: Session, member: Member, *, actor: str, now: datetime, source: str = "staff"
) -> None:
    """Unsubscribe from every list; the consent history records the withdrawal (and ``source``)."""
    _editable(member)
    if member.status == UNSUBSCRIBED and not _active_subscriptions(session, member):
        raise Conflict(_("this member is already unsubscribed from every list"))
    preferences.unsubscribe(session, member, now=now, source=source)
    _audit(session, member, "member.unsubscribe", "unsubscribed from every list", actor, now)


def erase(
    session: Session,
    kit: MailKit,
    member: Member,
    *,
    actor: str,
    now: datetime,
    source: str = "staff",
) -> None:
    """Erase a member's personal data; a hash of the address stays as a suppression."""
    _editable(member)
    preferences.erase(session, kit, member, now=now, source=source)
    _audit(session, member, "member.erase", "personal data erased, address suppressed", actor, now)


def _active_subscriptions(session: Session, member: Member) -> bool:
    return any(
        sub.status in ("active", "pending")
        for sub, _list in preferences.subscriptions(session, member)
    )


def _audit(
    session: Session, member: Member, action: str, detail: str, actor: str, now: datetime
) -> None:
    audit.record(
        session, actor=actor, action=action, target=f"member {member.id}", detail=detail, now=now
    )
