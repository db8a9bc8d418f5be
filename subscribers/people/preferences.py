"""What a member does from the manage page: change, unsubscribe, download, erase."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from mailer import bounce_log, outbox
from mailer.outbox import Campaign, Delivery
from subscribers.admin import webhooks
from subscribers.content.mails import MailKit
from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import gettext as _
from subscribers.core.models import (
    ACTIVE,
    ERASED,
    SUB_ACTIVE,
    SUB_PENDING,
    SUB_UNSUBSCRIBED,
    UNSUBSCRIBED,
    ConsentEvent,
    Event,
    MailingList,
    Member,
    Rsvp,
    Subscription,
    new_nonce,
)
from subscribers.insight import clicks
from subscribers.invitations import rsvp
from subscribers.people import consent, import_jobs, throttle


@dataclass(frozen=True)
class DetailsChange:
    name: str
    organisation: str
    country: str
    sector: str
    language: str
    list_ids: Collection[int]


def subscriptions(session: Session, member: Member) -> list[tuple[Subscription, MailingList]]:
    rows = session.execute(
        select(Subscription, MailingList)
        .join(MailingList, col(MailingList.id) == col(Subscription.list_id))
        .where(col(Subscription.member_id) == member.id)
        .order_by(MailingList.name)
    ).all()
    return [(sub, lst) for sub, lst in rows]


def _record(
    session: Session,
    member: Member,
    action: str,
    *,
    now: datetime,
    list_id: int | None = None,
    source: str = "web",
    note: str = "",
) -> None:
    assert member.id is not None
    session.add(
        ConsentEvent(
            member_id=member.id, list_id=list_id, action=action, source=source, note=note, at=now
        )
    )


def offered_lists(session: Session, member: Member) -> list[MailingList]:
    """The lists the manage page offers: every public list, and those the member is on.

    A list closed to public registration is joined only through staff (an import), never by
    ticking a box.
    """
    on_it = select(col(Subscription.list_id)).where(
        col(Subscription.member_id) == member.id,
        col(Subscription.status).in_((SUB_ACTIVE, SUB_PENDING)),
    )
    return list(
        session.execute(
            select(MailingList)
            .where(or_(col(MailingList.public).is_(True), col(MailingList.id).in_(on_it)))
            .order_by(MailingList.name)
        ).scalars()
    )


def chosen_list_ids(session: Session, member: Member) -> set[int]:
    """The lists ticked on the manage page: those the member is on or waits to confirm."""
    return {
        sub.list_id
        for sub, _lst in subscriptions(session, member)
        if sub.status in (SUB_ACTIVE, SUB_PENDING)
    }


def update_preferences(
    session: Session, member: Member, change: DetailsChange, *, now: datetime
) -> None:
    """Change details and lists; each list joined or left is written to the consent history.

    Only the lists ``offered_lists`` names are accepted. Someone who never confirmed their
    address stays pending: the lists they tick wait for the confirmation link like the others
    (the manage link also reaches whoever typed the address, so it proves no consent).
    """
    allowed = {lst.id for lst in offered_lists(session, member)}
    wanted = set(change.list_ids)
    if not wanted <= allowed:
        raise InvalidInput(_("Please choose lists from the form."), field="lists")
    confirmed = member.confirmed_at is not None
    joined = SUB_ACTIVE if confirmed else SUB_PENDING
    member.name, member.organisation = change.name, change.organisation
    member.country, member.sector = change.country, change.sector
    member.language = change.language or member.language
    current = {sub.list_id: sub for sub, _lst in subscriptions(session, member)}
    for list_id in wanted:
        sub = current.get(list_id)
        if sub is None:
            assert member.id is not None
            session.add(
                Subscription(
                    member_id=member.id,
                    list_id=list_id,
                    status=joined,
                    created_at=now,
                    updated_at=now,
                )
            )
        elif sub.status == SUB_UNSUBSCRIBED or (confirmed and sub.status == SUB_PENDING):
            sub.status, sub.updated_at = joined, now
            session.add(sub)
        else:
            continue
        action = "subscribed" if confirmed else "requested"
        _record(session, member, action, now=now, list_id=list_id)
    for list_id, sub in current.items():
        if list_id not in wanted and sub.status != SUB_UNSUBSCRIBED:
            sub.status, sub.updated_at = SUB_UNSUBSCRIBED, now
            session.add(sub)
            _record(session, member, "withdrawn", now=now, list_id=list_id)
    if confirmed:
        member.status = ACTIVE if wanted else UNSUBSCRIBED
        member.unsubscribed_at = None if wanted else now
    session.add(member)
    session.flush()


def _leaving(session: Session, member: Member, list_id: int | None) -> list[Subscription]:
    """The subscriptions an unsubscribe link ends: one list's, or all; active or pending."""
    return [
        sub
        for sub, _lst in subscriptions(session, member)
        if sub.status in (SUB_ACTIVE, SUB_PENDING) and list_id in (None, sub.list_id)
    ]


def has_unsubscribed(session: Session, member: Member, *, list_id: int | None = None) -> bool:
    """Whether an unsubscribe link (from one list, or from everything) has nothing left to end:
    its page then says so instead of offering the button again."""
    return not _leaving(session, member, list_id)


def unsubscribe(
    session: Session,
    member: Member,
    *,
    now: datetime,
    list_id: int | None = None,
    source: str = "web",
) -> None:
    """Leave one list, or everything when ``list_id`` is None; recorded as consent withdrawn.

    Queued mail stops too: the sender re-checks each recipient right before sending.
    """
    subs = _leaving(session, member, list_id)
    for sub in subs:
        sub.status, sub.updated_at = SUB_UNSUBSCRIBED, now
        session.add(sub)
        _record(session, member, "withdrawn", now=now, list_id=sub.list_id, source=source)
    remaining = [
        sub
        for sub, _lst in subscriptions(session, member)
        if sub.status == SUB_ACTIVE and sub not in subs
    ]
    if list_id is None or not remaining:
        if member.status != UNSUBSCRIBED:
            member.status, member.unsubscribed_at = UNSUBSCRIBED, now
            if not subs:
                _record(session, member, "withdrawn", now=now, source=source)
        session.add(member)
    session.flush()
    left = [lst.slug for sub, lst in subscriptions(session, member) if sub in subs]
    webhooks.emit(
        session,
        "member.unsubscribed",
        webhooks.member_data(member, lists=left, source=source),
        now=now,
    )


def unsubscribe_by_delivery(session: Session, delivery_id: int, *, now: datetime) -> Member | None:
    """A member's "unsubscribe" mail to the VERP address of one delivery: leave that list.

    Mail that is not about a list (a confirmation, say) unsubscribes from everything, as a
    member writing "unsubscribe" would expect. Returns the member, or None if nobody matched.
    """
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    member = session.get(Member, delivery.recipient_id)
    if member is None or member.status == ERASED:
        return None
    campaign = session.get(Campaign, delivery.campaign_id)
    list_id = campaign.list_id if campaign is not None else None
    unsubscribe(session, member, now=now, list_id=list_id, source="mail")
    return member


def export(session: Session, member: Member) -> dict[str, Any]:
    """Everything held on a member, as JSON-ready data (GDPR art. 15 and 20)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    consents = list(
        session.execute(
            select(ConsentEvent)
            .where(col(ConsentEvent.member_id) == member.id)
            .order_by(col(ConsentEvent.id))
        ).scalars()
    )
    wording_versions = consent.versions_of(
        session, [c.wording_id for c in consents if c.wording_id is not None]
    )
    deliveries = session.execute(
        select(Delivery, col(Campaign.subject), col(Campaign.kind))
        .join(Campaign, col(Campaign.id) == col(Delivery.campaign_id))
        .where(col(Delivery.recipient_id) == member.id)
        .order_by(col(Delivery.id))
    ).all()
    answers = session.execute(
        select(Rsvp, col(Event.title), col(Event.start_at))
        .join(Event, col(Event.id) == col(Rsvp.event_id))
        .where(col(Rsvp.member_id) == member.id)
        .order_by(col(Event.start_at), col(Rsvp.id))
    ).all()
    bounces = bounce_log.of_recipient(session, member.email, member.id or 0)
    return {
        "profile": {
            "email": member.email,
            "name": member.name,
            "organisation": member.organisation,
            "country": member.country,
            "sector": member.sector,
            "language": member.language,
            "status": member.status,
            "registered_at": iso(member.created_at),
            "confirmed_at": iso(member.confirmed_at),
            "unsubscribed_at": iso(member.unsubscribed_at),
        },
        "subscriptions": [
            {
                "list": lst.slug,
                "name": lst.name,
                "status": sub.status,
                "since": iso(sub.created_at),
                "updated_at": iso(sub.updated_at),
            }
            for sub, lst in subscriptions(session, member)
        ],
        "consent_history": [
            {
                "action": c.action,
                "list_id": c.list_id,
                "consent_version": c.consent_version,
                "consent_text": c.consent_text,
                # The version of the wording ticked (its words are consent_text), or None.
                "wording_version": wording_versions.get(c.wording_id or 0),
                "source": c.source,
                "ip": c.ip,
                "user_agent": c.user_agent,
                "note": c.note,
                "at": iso(c.at),
            }
            for c in consents
        ],
        "deliveries": [
            {
                "subject": subject,
                "kind": kind,
                "state": d.state,
                "sent_at": iso(d.sent_at),
                "attempts": d.attempts,
                "message_id": d.message_id,
            }
            for d, subject, kind in deliveries
        ],
        "event_answers": [
            {
                "event": title,
                "starts_at": iso(start_at),
                "answer": row.status,
                "invited_at": iso(row.invited_at),
                "answered_at": iso(row.answered_at),
                "waiting_since": iso(row.waiting_since),
            }
            for row, title, start_at in answers
        ],
        "bounces": [
            {"kind": b.kind, "status": b.status, "diagnostic": b.diagnostic, "at": iso(b.at)}
            for b in reversed(bounces)
        ],
    }


def erase(
    session: Session, kit: MailKit, member: Member, *, now: datetime, source: str = "web"
) -> None:
    """Erase a member: personal data gone from every table, only a hash of the address kept
    as a suppression.

    The hash keeps the address from ever being mailed again unless it registers afresh; the
    rotated nonce kills every link sent before. Their event answers go and their seats pass to
    the waiting lists. Deliveries, bounces and the suppression lose the texts that quote the
    address; rate-limit counters keyed by the IP addresses they registered from go too.
    """
    assert member.id is not None
    rsvp.release(session, kit, member, now=now)
    ips = session.execute(
        select(col(ConsentEvent.ip)).where(col(ConsentEvent.member_id) == member.id)
    ).scalars()
    throttle.forget(session, ips)
    bounce_log.forget(session, member.email, member.id)
    if member.email:
        import_jobs.forget(session, member.email)
        outbox.suppress(session, member.email, reason="erased", now=now)
        outbox.forget_detail(session, member.email)
    outbox.forget_recipients(session, [member.id])
    clicks.forget_member(session, member.id)
    session.execute(
        update(ConsentEvent)
        .where(col(ConsentEvent.member_id) == member.id)
        .values(ip="", user_agent="", note="")
        .execution_options(synchronize_session=False)
    )
    for sub, _lst in subscriptions(session, member):
        sub.status, sub.updated_at = SUB_UNSUBSCRIBED, now
        session.add(sub)
    member.email, member.name, member.organisation = None, "", ""
    member.country, member.sector, member.language = "", "", "en"
    member.status, member.erased_at, member.nonce = ERASED, now, new_nonce()
    session.add(member)
    _record(session, member, "erased", now=now, source=source)
    session.flush()
    webhooks.emit(session, "member.erased", {"member_id": member.id, "source": source}, now=now)
