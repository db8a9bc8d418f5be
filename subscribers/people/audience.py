"""The one place that decides who receives a campaign, and who still wants it at send time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from mailer.outbox import Campaign, Claimed, Recipient
from subscribers.content.mails import MailKit
from subscribers.content.templating import mail_language
from subscribers.core.models import (
    ACTIVE,
    ERASED,
    SUB_ACTIVE,
    MailingList,
    Member,
    StaffUser,
    Subscription,
    display_name,
)

# Re-exported: an audience is a list and a segment, and callers name both through this module.
from subscribers.people.segments import Segment as Segment

# Campaign kind of a test mail sent to a staff user: its recipient ids are staff ids.
STAFF_TEST = "test"
# The whole list: the segment with no conditions.
EVERYONE = Segment()


def _members_of(mailing_list: MailingList, segment: Segment) -> Select[Member]:
    stmt = (
        select(Member)
        .join(Subscription, col(Subscription.member_id) == col(Member.id))
        .where(
            col(Subscription.list_id) == mailing_list.id,
            col(Subscription.status) == SUB_ACTIVE,
            col(Member.status) == ACTIVE,
            col(Member.email).is_not(None),
        )
    )
    return segment.apply(stmt)


def count(session: Session, mailing_list: MailingList, segment: Segment = EVERYONE) -> int:
    """How many members a campaign to this list and segment would reach now."""
    sub = _members_of(mailing_list, segment).with_only_columns(col(Member.id)).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


def languages(
    session: Session, mailing_list: MailingList, segment: Segment = EVERYONE
) -> list[str]:
    """The languages a campaign to this audience is rendered in: the list's own first.

    One query for the distinct languages, so a campaign renders once per language present,
    never once per member.
    """
    sub = _members_of(mailing_list, segment).with_only_columns(col(Member.language)).subquery()
    present = {
        mail_language(code) for code in session.execute(select(sub.c.language).distinct()).scalars()
    }
    own = mail_language(mailing_list.language)
    return [own, *sorted(present - {own})]


@dataclass(frozen=True)
class Reach:
    """What a confirmation page says before a mass send: how many members, in how many languages."""

    members: int
    languages: int


def reach(
    session: Session,
    mailing_list: MailingList,
    segment: Segment = EVERYONE,
    *,
    leave_out: Select[int] | None = None,
) -> Reach:
    """Who a send to this list and segment reaches now (``leave_out``: member ids to skip)."""
    stmt = _members_of(mailing_list, segment)
    if leave_out is not None:
        stmt = stmt.where(col(Member.id).not_in(leave_out))
    sub = stmt.with_only_columns(col(Member.id), col(Member.language)).subquery()
    members, languages = session.execute(
        select(func.count(), func.count(func.distinct(sub.c.language))).select_from(sub)
    ).one()
    return Reach(int(members), int(languages))


def reach_of(members: Sequence[Member]) -> Reach:
    """The same figures for an audience already loaded (everyone invited to an event)."""
    return Reach(len(members), len({m.language for m in members}))


def recipients(
    session: Session,
    kit: MailKit,
    mailing_list: MailingList,
    segment: Segment = EVERYONE,
    *,
    extra: dict[str, str] | None = None,
) -> Iterator[Recipient]:
    """Stream the recipients with their personal links; never loads the whole list at once."""
    # Columns, not Member objects: building 100,000 ORM objects cost a fifth of a fan-out.
    stmt = (
        _members_of(mailing_list, segment)
        .with_only_columns(
            col(Member.id),
            col(Member.email),
            col(Member.name),
            col(Member.nonce),
            col(Member.language),
        )
        .order_by(col(Member.id))
    )
    for member_id, email, name, nonce, language in session.execute(
        stmt.execution_options(yield_per=1000)
    ):
        links = kit.links_for(member_id, nonce, display_name(name, email), mailing_list.id)
        yield Recipient(member_id, email, name, {**links, **(extra or {})}, mail_language(language))


def still_wanted(session: Session, campaign: Campaign, rows: Sequence[Claimed]) -> set[int]:
    """Recipient ids that may still receive this campaign (checked right before sending)."""
    ids = [row.recipient_id for row in rows]
    if campaign.kind == STAFF_TEST:
        stmt = select(col(StaffUser.id)).where(col(StaffUser.id).in_(ids))
    elif campaign.list_id is None:
        # Transactional mail (confirmation, welcome): anyone not erased.
        stmt = select(col(Member.id)).where(col(Member.id).in_(ids), col(Member.status) != ERASED)
    else:
        stmt = (
            select(col(Member.id))
            .join(Subscription, col(Subscription.member_id) == col(Member.id))
            .where(
                col(Member.id).in_(ids),
                col(Member.status) == ACTIVE,
                col(Subscription.list_id) == campaign.list_id,
                col(Subscription.status) == SUB_ACTIVE,
            )
        )
    return set(session.execute(stmt).scalars())


def organisations(session: Session, limit: int = 500) -> list[str]:
    """The organisations members gave, for the audience builder's suggestions (from the data)."""
    stmt = (
        select(col(Member.organisation))
        .where(col(Member.status) == ACTIVE, col(Member.organisation) != "")
        .distinct()
        .order_by(Member.organisation)
        .limit(limit)
    )
    return [name for name in session.execute(stmt).scalars() if name]
