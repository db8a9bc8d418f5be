"""Small builders for test data, each with overridable defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from subscribers.content import lists
from subscribers.core.models import ACTIVE, SUB_ACTIVE, MailingList, Member, Subscription


def make_list(session: Session, now: datetime, **overrides: Any) -> MailingList:
    spec = {"slug": "practitioners", "name": "Frontline Practitioners Network", **overrides}
    lst = lists.create(session, lists.ListSpec(**spec), now=now)
    session.commit()
    return lst


def make_member(
    session: Session, now: datetime, *, lists_: tuple[MailingList, ...] = (), **overrides: Any
) -> Member:
    fields = {
        "email": "ana@example.org",
        "name": "Ana Sousa",
        "country": "PT",
        "sector": "police",
        "status": ACTIVE,
        "created_at": now,
        "confirmed_at": now,
        **overrides,
    }
    member = Member(**fields)
    session.add(member)
    session.flush()
    for lst in lists_:
        assert member.id is not None and lst.id is not None
        session.add(
            Subscription(
                member_id=member.id,
                list_id=lst.id,
                status=SUB_ACTIVE,
                created_at=now,
                updated_at=now,
            )
        )
    session.commit()
    return member
