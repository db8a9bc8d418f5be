"""Every staff action the audit log records, each worded once.

The web workspace, the CLI and the API call a service to do the work, then write the entry one
of these functions builds, in the same transaction: so an action reads the same in the log
whichever edge it came from. ``ACTIONS`` names each one and the edges that offer it;
tests/test_actions.py drives each action offered by more than one edge through each of them
and compares the entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ParamSpec

from sqlmodel import Session

from subscribers.admin import audit

if TYPE_CHECKING:
    from mailer.outbox import Campaign
    from subscribers.content.campaigns import Announcement
    from subscribers.core.models import (
        ApiToken,
        Event,
        MailingList,
        NewsItem,
        StaffUser,
        WebhookEndpoint,
    )
    from subscribers.people.segments import Segment

WEB, CLI, API = "web", "cli", "api"


@dataclass(frozen=True)
class Entry:
    """What the log says: the action's name, what it was done to, and the particulars."""

    action: str
    target: str
    detail: str = ""


@dataclass(frozen=True)
class Action:
    name: str
    edges: frozenset[str]


ACTIONS: dict[str, Action] = {}
P = ParamSpec("P")


def _offered(*names: str, by: Iterable[str]) -> Callable[[Callable[P, Entry]], Callable[P, Entry]]:
    def register(build: Callable[P, Entry]) -> Callable[P, Entry]:
        for name in names:
            ACTIONS[name] = Action(name, frozenset(by))
        return build

    return register


def write(session: Session, entry: Entry, *, actor: str, now: datetime) -> None:
    """The entry, in the caller's transaction (so it exists only if the change does)."""
    if entry.action not in ACTIONS:
        raise ValueError(f"not a registered action: {entry.action}")
    audit.record(
        session,
        actor=actor,
        action=entry.action,
        target=entry.target,
        detail=entry.detail,
        now=now,
    )


# -- staff accounts ------------------------------------------------------------------------


@_offered("staff.create", by=(WEB, CLI))
def staff_created(user: StaffUser) -> Entry:
    return Entry("staff.create", user.email, user.role)


@_offered("staff.role", by=(WEB, CLI))
def staff_role_set(user: StaffUser) -> Entry:
    return Entry("staff.role", user.email, user.role)


@_offered("staff.unlock", by=(WEB, CLI))
def staff_unlocked(email: str) -> Entry:
    return Entry("staff.unlock", email)


@_offered("staff.remove", by=(WEB, CLI))
def staff_removed(email: str) -> Entry:
    return Entry("staff.remove", email)


@_offered("staff.password", by=(WEB,))
def staff_password_changed(email: str) -> Entry:
    return Entry("staff.password", email)


@_offered("staff.language", by=(WEB,))
def staff_language_set(email: str, language: str) -> Entry:
    return Entry("staff.language", email, language)


# -- lists and members ---------------------------------------------------------------------


@_offered("list.create", by=(WEB, CLI, API))
def list_created(mailing_list: MailingList) -> Entry:
    return Entry("list.create", mailing_list.slug, f"name={mailing_list.name}")


@_offered("list.edit", by=(WEB, CLI, API))
def list_edited(slug: str, changed: Iterable[str]) -> Entry:
    return Entry("list.edit", slug, "changed " + ", ".join(changed))


@_offered("members.export", by=(WEB, CLI))
def members_exported(slug: str, csv_text: str) -> Entry:
    """How many members left the system (the header line is not one)."""
    return Entry("members.export", f"list {slug}", f"members: {len(csv_text.splitlines()) - 1}")


# -- news, announcements, digests, campaigns -----------------------------------------------


def _news(item_id: int | None) -> str:
    return f"news:{item_id}"


def _campaign(campaign_id: int | None) -> str:
    return f"campaign:{campaign_id}"


@_offered("news.add", by=(WEB, CLI, API))
def news_added(item: NewsItem) -> Entry:
    return Entry("news.add", _news(item.id), item.title)


@_offered("news.edit", by=(WEB, CLI, API))
def news_edited(item: NewsItem) -> Entry:
    return Entry("news.edit", _news(item.id), item.title)


@_offered("news.translate", by=(WEB, CLI))
def news_translated(item_id: int, language: str) -> Entry:
    return Entry("news.translate", _news(item_id), language)


@_offered("news.withdraw", by=(WEB, CLI, API))
def news_withdrawn(item: NewsItem) -> Entry:
    return Entry("news.withdraw", _news(item.id), item.title)


@_offered("digest.send", by=(WEB, CLI))
def digest_sent(slug: str, outcome: str) -> Entry:
    return Entry("digest.send", slug, outcome)


@_offered("announce.test", by=(WEB, CLI))
def announcement_tested(campaign: Campaign, to: str) -> Entry:
    return Entry("announce.test", _campaign(campaign.id), f"to {to}")


@_offered("announce.send", "announce.schedule", by=(WEB, CLI, API))
def announced(campaign: Campaign, announcement: Announcement, count: int) -> Entry:
    """Sent now or scheduled: to how many, which audience, when, and whether it is archived."""
    detail = f"recipients: {count}; segment: {announcement.segment or 'all'}"
    if announcement.send_after:
        detail += f"; send after {announcement.send_after.isoformat()}"
    detail += f"; archive: {'yes' if announcement.in_archive else 'no'}"
    action = "announce.schedule" if announcement.send_after else "announce.send"
    return Entry(action, _campaign(campaign.id), detail)


@_offered("campaign.pause", "campaign.resume", "campaign.cancel", by=(WEB, CLI, API))
def campaign_status_set(campaign_id: int, verb: str) -> Entry:
    """``verb``: pause, resume or cancel."""
    return Entry(f"campaign.{verb}", _campaign(campaign_id))


# -- events --------------------------------------------------------------------------------


@_offered("event.create", by=(WEB, CLI, API))
def event_created(event: Event) -> Entry:
    return Entry("event.create", str(event.id), event.title)


@_offered("event.update", by=(WEB, CLI))
def event_updated(event_id: int, outcome: str) -> Entry:
    return Entry("event.update", str(event_id), outcome)


@_offered("event.translate", by=(WEB, CLI))
def event_translated(event_id: int, language: str) -> Entry:
    return Entry("event.translate", str(event_id), language)


@_offered("event.invite", by=(WEB, CLI, API))
def event_invited(event_id: int, count: int, segment: Segment | None) -> Entry:
    return Entry("event.invite", str(event_id), f"members: {count}; segment: {segment or 'all'}")


@_offered("event.cancel", by=(WEB, CLI))
def event_cancelled(event_id: int, told: int) -> Entry:
    return Entry("event.cancel", str(event_id), f"members told: {told}")


@_offered("event.rsvps_export", by=(WEB, CLI))
def rsvps_exported(event_id: int, answers: int) -> Entry:
    return Entry("event.rsvps_export", str(event_id), f"answers: {answers}")


@_offered("event.join_link", by=(WEB, CLI))
def join_link_sent(event_id: int, member_id: int | None) -> Entry:
    return Entry("event.join_link", str(event_id), f"member {member_id}")


@_offered("event.seat_release", by=(WEB,))
def seat_released(event_id: int, detail: str) -> Entry:
    return Entry("event.seat_release", str(event_id), detail)


# -- API tokens and webhooks ---------------------------------------------------------------


@_offered("token.create", by=(WEB, CLI))
def token_created(token: ApiToken) -> Entry:
    return Entry("token.create", f"token {token.name}", token.role)


@_offered("token.revoke", by=(WEB, CLI))
def token_revoked(token: ApiToken) -> Entry:
    return Entry("token.revoke", f"token {token.name}")


@_offered("webhook.add", by=(WEB, CLI, API))
def webhook_added(endpoint: WebhookEndpoint) -> Entry:
    return Entry("webhook.add", f"webhook {endpoint.id}", endpoint.url)


@_offered("webhook.remove", by=(WEB, CLI, API))
def webhook_removed(endpoint: WebhookEndpoint) -> Entry:
    return Entry("webhook.remove", f"webhook {endpoint.id}", endpoint.url)


@_offered("webhook.replay", by=(WEB, API))
def webhook_replayed(delivery_id: int) -> Entry:
    return Entry("webhook.replay", f"webhook delivery {delivery_id}")


# -- members, through the API (the workspace's member actions are audited by their services) --


@_offered("members.import", by=(API,))
def member_imported(lists: Iterable[str]) -> Entry:
    return Entry("members.import", "api", f"1 member to {', '.join(lists)}")


@_offered("member.lists", by=(API,))
def member_left_list(member_id: int | None, slug: str) -> Entry:
    return Entry("member.lists", f"member {member_id}", f"left {slug}")


@_offered("member.export", by=(API,))
def member_exported(member_id: int | None) -> Entry:
    return Entry("member.export", f"member {member_id}", "JSON export")
