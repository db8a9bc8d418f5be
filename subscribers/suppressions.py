"""Suppressed addresses as staff see them: the state, since when, why; lifting one (audited).

The suppression list is keyed by a hash of the address (mailer.outbox), so an erased member
leaves nothing readable behind. For a member who still has an address, the state shown to staff
is "bounced", "complained" or "suppressed" instead of "active": the address gets no mail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from mailer.outbox import Suppression
from subscribers import audit
from subscribers.errors import InvalidInput
from subscribers.models import Member

# What each reason is called where staff look. "erased" never shows: the member is gone.
STATES = {"hard_bounce": "bounced", "soft_bounces": "bounced", "complaint": "complained"}
STAFF_LIFTABLE = ("hard_bounce", "soft_bounces", "complaint", "staff")


@dataclass(frozen=True)
class Suppressed:
    reason: str
    since: datetime
    detail: str

    @property
    def state(self) -> str:
        return STATES.get(self.reason, "suppressed")

    def describe(self) -> str:
        why = f" ({self.detail})" if self.detail else ""
        return f"{self.state} since {self.since.isoformat(timespec='minutes')}: {self.reason}{why}"


def of_addresses(session: Session, addresses: Iterable[str]) -> dict[str, Suppressed]:
    """The suppression of each of these addresses that has one, keyed by lowercased address."""
    by_hash = {outbox.address_hash(a): a.strip().lower() for a in addresses if a}
    found: dict[str, Suppressed] = {}
    keys = list(by_hash)
    for start in range(0, len(keys), 500):  # bounded IN lists on both databases
        rows = session.execute(
            select(Suppression).where(Suppression.address_hash.in_(keys[start : start + 500]))
        ).scalars()
        for row in rows:
            if row.reason != "erased":
                found[by_hash[row.address_hash]] = Suppressed(
                    row.reason, row.created_at, row.detail
                )
    return found


def of_member(session: Session, member: Member) -> Suppressed | None:
    if not member.email:
        return None
    return of_addresses(session, [member.email]).get(member.email.strip().lower())


def shown_status(member: Member, suppressed: Suppressed | None) -> str:
    """The member's status as staff read it: an active but suppressed address is not active."""
    return (
        suppressed.state if suppressed is not None and member.status == "active" else member.status
    )


def lift(session: Session, member: Member, *, actor: str, now: datetime) -> Suppressed:
    """Mail this member's address again (e.g. they fixed their mailbox); audited."""
    current = of_member(session, member)
    if current is None or member.email is None:
        raise InvalidInput(f"{member.email or 'this member'} is not suppressed", field="email")
    outbox.unsuppress(session, member.email, reasons=STAFF_LIFTABLE)
    audit.record(
        session,
        actor=actor,
        action="suppression.lift",
        target=f"member {member.id}",
        detail=current.describe(),
        now=now,
    )
    return current
