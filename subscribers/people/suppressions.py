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
from sqlmodel import Session, col

from mailer import outbox
from mailer.outbox import Suppression
from subscribers.admin import audit
from subscribers.core.errors import NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import Member
from subscribers.core.validation import clean_text

# What each reason is called where staff look. "erased" never shows: the member is gone.
STATES = {"hard_bounce": "bounced", "soft_bounces": "bounced", "complaint": "complained"}
STAFF_LIFTABLE = ("hard_bounce", "soft_bounces", "complaint", "staff")
MAX_REASON = 500  # as the API's SuppressionLift.reason


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
            select(Suppression).where(col(Suppression.address_hash).in_(keys[start : start + 500]))
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


def shown_statuses(session: Session, members: Iterable[Member]) -> dict[int, str]:
    """``shown_status`` of each of these members (a page of them), by member id."""
    rows = list(members)
    found = of_addresses(session, [m.email for m in rows if m.email])
    return {
        m.id: shown_status(m, found.get((m.email or "").strip().lower()))
        for m in rows
        if m.id is not None
    }


def lift(
    session: Session, member: Member, *, actor: str, now: datetime, reason: str = ""
) -> Suppressed:
    """Mail this member's address again (e.g. they fixed their mailbox); audited."""
    if not member.email:
        raise NotFound(_("This member has no address left to mail."))
    return lift_address(
        session, member.email, actor=actor, now=now, reason=reason, target=f"member {member.id}"
    )


def lift_address(
    session: Session,
    address: str,
    *,
    actor: str,
    now: datetime,
    reason: str = "",
    target: str = "",
) -> Suppressed:
    """Mail an address again: the one way staff lift a suppression (the member page,
    ``members unsuppress`` and the API's /suppressions/lift all come here).

    Audited with ``reason`` and what the suppression was. Only suppressions staff may lift:
    an erased member's hash stays (they asked never to be mailed; registering again lifts it).
    """
    reason = clean_text(reason, field="reason", label=_("Reason"), limit=MAX_REASON)
    key = outbox.address_hash(address)
    row = session.get(Suppression, key)
    if row is None or row.reason not in STAFF_LIFTABLE:
        raise NotFound(_("%(email)s is not suppressed.", email=address.strip()))
    current = Suppressed(row.reason, row.created_at, row.detail)
    outbox.unsuppress(session, address, reasons=STAFF_LIFTABLE)
    was = f"was {current.describe()}"
    audit.record(
        session,
        actor=actor,
        action="suppression.lift",
        target=target or f"suppression {key[:12]}",
        detail=f"{reason}; {was}" if reason else was,
        now=now,
    )
    return current
