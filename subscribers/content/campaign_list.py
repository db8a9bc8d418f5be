"""The campaigns list: mass mail apart from transactional mail, filtered by kind, list and state.

Mass mail goes to many members at once (announcements, digests and the mail of events);
transactional mail answers one person's action (a confirmation, a welcome, an answer to an
invitation) or is a staff test. The two are shown on separate tabs, mass mail first, so a
week of registrations does not bury last week's announcement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlmodel import Session, col

from mailer import outbox
from mailer.outbox import Campaign
from subscribers.content.campaigns import Progress, progress_of
from subscribers.core.i18n import gettext as _
from subscribers.core.models import MailingList
from subscribers.people.audience import STAFF_TEST

MASS, TRANSACTIONAL = "mass", "transactional"
KINDS = {
    MASS: ("announcement", "digest", "invitation", "reminder", "event_update", "event_cancel"),
    TRANSACTIONAL: ("confirm", "already_member", "welcome", "rsvp_confirmation", STAFF_TEST),
}
# As the campaign pages show a campaign's state (campaign_macros.campaign_state).
SCHEDULED, SENDING, PAUSED, DONE, CANCELLED = "scheduled", "sending", "paused", "done", "cancelled"
STATES = (SCHEDULED, SENDING, PAUSED, DONE, CANCELLED)  # named by web.names.state_name
LIMIT = 100


def group_of(kind: str) -> str:
    return TRANSACTIONAL if kind in KINDS[TRANSACTIONAL] else MASS


@dataclass(frozen=True)
class CampaignFilter:
    """Which campaigns to show: one group (a tab), optionally one kind, list and state."""

    group: str = MASS
    kind: str = ""
    list_slug: str = ""
    state: str = ""

    @classmethod
    def parse(
        cls, args: Mapping[str, str], lists: Sequence[MailingList]
    ) -> tuple[CampaignFilter, list[str]]:
        """The filter a query string asks for, and what in it was not understood.

        A value that is not one of the choices is left out (the list shows more, not less) and
        named in the returned problems, so a mistyped or stale link says what happened.
        """
        problems: list[str] = []
        kind = args.get("kind", "")
        group = args.get("view") or group_of(kind)
        if group not in KINDS:
            problems.append(_("There is no tab “%(value)s”; showing mass mail.", value=group))
            group = MASS
        if kind and kind not in KINDS[group]:
            problems.append(_("No kind of mail “%(value)s” here; showing every kind.", value=kind))
            kind = ""
        slug = args.get("list", "")
        if slug and slug not in {lst.slug for lst in lists}:
            problems.append(_("There is no list “%(value)s”; showing every list.", value=slug))
            slug = ""
        state = args.get("state", "")
        if state and state not in STATES:
            problems.append(_("There is no state “%(value)s”; showing every state.", value=state))
            state = ""
        return cls(group, kind, slug, state), problems


def _in_state(state: str, now: datetime) -> ColumnElement[bool]:
    """The campaigns the campaign pages show in ``state`` (same order of precedence)."""
    unfinished = outbox.unfinished()
    scheduled = and_(
        col(Campaign.status) != outbox.CANCELLED,
        col(Campaign.send_after).is_not(None),
        col(Campaign.send_after) > now,
        unfinished,
    )
    return {
        CANCELLED: col(Campaign.status) == outbox.CANCELLED,
        SCHEDULED: scheduled,
        PAUSED: and_(col(Campaign.status) == outbox.PAUSED, not_(scheduled)),
        DONE: and_(col(Campaign.status) == outbox.ACTIVE, not_(unfinished)),
        SENDING: and_(
            col(Campaign.status) == outbox.ACTIVE,
            unfinished,
            or_(col(Campaign.send_after).is_(None), col(Campaign.send_after) <= now),
        ),
    }[state]


def find(
    session: Session,
    wanted: CampaignFilter,
    lists: Sequence[MailingList],
    *,
    now: datetime,
    limit: int = LIMIT,
) -> list[Progress]:
    """The newest campaigns the filter selects (at most ``limit``), each with its progress."""
    stmt = select(Campaign).where(col(Campaign.kind).in_(KINDS[wanted.group]))
    if wanted.kind:
        stmt = stmt.where(col(Campaign.kind) == wanted.kind)
    if wanted.list_slug:
        list_id = next(lst.id for lst in lists if lst.slug == wanted.list_slug)
        stmt = stmt.where(col(Campaign.list_id) == list_id)
    if wanted.state:
        stmt = stmt.where(_in_state(wanted.state, now))
    stmt = stmt.order_by(col(Campaign.id).desc()).limit(limit)
    return progress_of(session, list(session.execute(stmt).scalars()))
