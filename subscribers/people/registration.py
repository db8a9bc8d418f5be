"""Registration with double opt-in: register, confirm, and purge what was never confirmed.

The outcome of ``register`` is the same for a new, pending or confirmed address: the page says
"check your inbox" either way, and only the mail that arrives differs. Nobody can learn from the
web whether an address is registered.

The one thing the page does tell is the truth about the mail: when a message went to the same
address less than 10 minutes ago, nothing is sent and the page says when to try again. That
reveals no registration either (see ``Notice``): the first registration of an unknown address
sends a confirmation and starts the same 10 minutes, so a stranger who types an address twice
gets the same answer whether or not it belongs to a member.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Integer, bindparam, delete, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from mailer import outbox
from mailer.dbtypes import UTCDateTime, table_of
from subscribers.admin import webhooks
from subscribers.content.mails import (
    MailKit,
    queue_already_member,
    queue_confirmation,
    queue_welcome,
)
from subscribers.core.errors import InvalidInput, Throttled, TokenError
from subscribers.core.i18n import gettext as _
from subscribers.core.i18n import lazy_gettext as _l
from subscribers.core.models import (
    ACTIVE,
    ERASED,
    PENDING,
    SUB_ACTIVE,
    SUB_PENDING,
    ConsentEvent,
    MailingList,
    Member,
    Subscription,
    display_name,
    member_search_text,
    new_nonce,
)
from subscribers.core.tokens import CONFIRM_MAX_AGE
from subscribers.people import consent, throttle
from subscribers.people.consent import Wording

# Version 1 of the consent wording (subscribers.people.consent.VERSION_1), marked here so that the
# catalogues keep its translations: they are version 1 in each language.
CONSENT_TEXT = _l(
    "I agree to receive the network's news, announcements and event invitations by email, and to "
    "the processing of the details I gave for that purpose, as described in the privacy notice. "
    "I can unsubscribe or erase my data at any time."
)
NOTICE_INTERVAL = timedelta(minutes=10)
UNCONFIRMED_TTL = timedelta(days=7)
IP_LIMIT, IP_WINDOW = 20, timedelta(hours=1)


@dataclass(frozen=True)
class Notice:
    """What became of the mail a registration asks for: sent now, or held back for ``wait``.

    Why saying "try again in N minutes" is safe against address enumeration: the hold depends
    only on when this address was last sent a registration mail, and every address typed into
    the form is sent one the first time (a confirmation to a new or pending address, the
    "already a member" note to a member). So a stranger sees the hold only for an address that
    was typed in (or had its confirmation re-sent) in the last 10 minutes, exactly as often for
    a non-member as for a member; it tells that the form was used, never that anyone joined.
    """

    sent: bool
    wait: timedelta = timedelta(0)

    @property
    def wait_minutes(self) -> int:
        """The wait rounded up to whole minutes (at least 1 while there is any)."""
        return max(1, -(-int(self.wait.total_seconds()) // 60)) if self.wait else 0


@dataclass(frozen=True)
class RegistrationRequest:
    """A checked registration form (see subscribers.web.forms)."""

    email: str
    name: str
    organisation: str
    country: str
    sector: str
    language: str
    list_slugs: Sequence[str]
    consent: bool
    ip: str = ""
    user_agent: str = ""
    source: str = "web"
    # The consent wording the person was shown and ticked; None: the current one in
    # ``language`` (the API, where the calling site showed its own form).
    consent_wording: Wording | None = None


_PUBLIC_LISTS = (
    select(MailingList).where(col(MailingList.public).is_(True)).order_by(col(MailingList.name))
)


def public_lists(session: Session) -> list[MailingList]:
    """The lists anyone may register for, by name (the registration form's choices)."""
    return list(session.execute(_PUBLIC_LISTS).scalars())


def missing_answers(*, consent: bool, list_slugs: Sequence[str]) -> list[InvalidInput]:
    """What a registration lacks that the person must give: consent and at least one list
    (the form shows them together with any other field's problem)."""
    missing = []
    if not list_slugs:
        missing.append(InvalidInput(_("Please choose at least one list."), field="lists"))
    if not consent:
        missing.append(
            InvalidInput(_("Please give your consent to receive our mail."), field="consent")
        )
    return missing


class OfferedLists:
    """The public lists as one process last read them, for the form of the next registrations.

    Reading them cost every registration a round trip (issue 19: at 50 sign-ups a second, each
    one paid 50 times a second). Lists change rarely, and a stale copy cannot let anyone in:
    ``register`` subscribes a new address only to lists that are still public when it writes
    (and refuses the registration otherwise), and reads them afresh for a known address. So
    the copy is refreshed when the form names a list it does not know, when a registration
    was refused (``forget``), whenever the form is shown (``remember``), and at the latest
    after ``max_age`` seconds (a renamed list shows its new name on a form shown again).
    """

    def __init__(self, max_age: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._lists: list[MailingList] | None = None
        self._read_at = 0.0

    def remember(self, lists: Sequence[MailingList]) -> list[MailingList]:
        """Keep a copy of ``lists`` (just read); return the copy, shared by requests."""
        # Copies without a session: requests in other threads read them side by side.
        copies = [MailingList(**lst.model_dump()) for lst in lists]
        with self._lock:
            self._lists, self._read_at = copies, self._clock()
        return copies

    def lists(
        self, wanted: Collection[str], read: Callable[[], list[MailingList]]
    ) -> list[MailingList]:
        """The offered lists, read again (``read``) if the copy is old or misses a wanted one."""
        with self._lock:
            lists, read_at = self._lists, self._read_at
        fresh = lists is not None and self._clock() - read_at < self.max_age
        if lists is None or not fresh or not set(wanted) <= {lst.slug for lst in lists}:
            return self.remember(read())
        return lists

    def forget(self) -> None:
        with self._lock:
            self._lists = None


def _chosen_lists(
    session: Session, slugs: Sequence[str], offered: Sequence[MailingList] | None
) -> list[MailingList]:
    if offered is None:
        offered = (
            session.execute(
                select(MailingList).where(
                    col(MailingList.slug).in_(list(slugs)), col(MailingList.public).is_(True)
                )
            )
            .scalars()
            .all()
        )
    wanted = set(slugs)
    found = [lst for lst in offered if lst.public and lst.slug in wanted]
    if len(found) != len(wanted):
        raise InvalidInput(_("Please choose lists from the form."), field="lists")
    return found


def _consent(
    member: Member,
    lst: MailingList | None,
    request: RegistrationRequest,
    *,
    action: str,
    now: datetime,
) -> ConsentEvent:
    assert member.id is not None
    return ConsentEvent(**_consent_values(member.id, lst, request, action=action, now=now))


def _consent_values(
    member_id: int,
    lst: MailingList | None,
    request: RegistrationRequest,
    *,
    action: str,
    now: datetime,
) -> dict[str, Any]:
    """A consent record's columns: who, for which list, which wording, from where."""
    wording = request.consent_wording
    return {
        "member_id": member_id,
        "list_id": lst.id if lst else None,
        "action": action,
        "wording_id": wording.id if wording else None,
        "consent_version": str(wording.version) if wording else "",
        "consent_text": wording.text if wording else "",
        "source": request.source,
        "ip": request.ip[:64],
        "user_agent": request.user_agent[:300],
        "at": now,
    }


def _ticked_wording(session: Session, member: Member) -> Wording | None:
    """The wording this member ticked when they registered (their latest "given" consent)."""
    wording_id = session.execute(
        select(col(ConsentEvent.wording_id))
        .where(col(ConsentEvent.member_id) == member.id, col(ConsentEvent.action) == "given")
        .order_by(col(ConsentEvent.id).desc())
        .limit(1)
    ).scalar()
    return consent.get(session, wording_id) if wording_id else None


def register(
    session: Session,
    kit: MailKit,
    request: RegistrationRequest,
    *,
    now: datetime,
    offered: Sequence[MailingList] | None = None,
) -> Notice:
    """Record a registration and queue the right mail; the same outcome for every address.

    ``offered`` are the public lists the caller read, maybe a while ago (the form's choices,
    ``OfferedLists``): the chosen ones are taken from them instead of being read again, and the
    writes check that they are still public (InvalidInput on ``lists`` if one is not).

    A registration comes in bursts when a link is shared widely, so a new address costs as few
    statements as the work needs: the rate limit counts in one upsert, the member is inserted
    without a look first (a known address comes back empty and is then read), its subscriptions
    and consent records are one insert each, and its confirmation comes from a skeleton rendered
    once (subscribers.content.skeletons) as a campaign and a delivery.
    """
    missing = missing_answers(consent=request.consent, list_slugs=request.list_slugs)
    if missing:
        raise InvalidInput.all_of(missing)
    if request.consent_wording is None:
        wording = consent.current(session, request.language or consent.FALLBACK)
        request = replace(request, consent_wording=wording)
    lists = _chosen_lists(session, request.list_slugs, offered)
    if request.ip and not throttle.hit(
        session, f"register-ip:{request.ip}", limit=IP_LIMIT, window=IP_WINDOW, now=now
    ):
        raise Throttled(_("Too many registrations from your network. Please try again later."))
    inserted = _new_member(session, request, now=now)
    member: Member | NewMember
    tell_webhooks = True
    if inserted is not None:
        member, tell_webhooks = inserted.member, inserted.webhooks
        _subscribe_new(session, member.id, lists, now=now)
    else:
        if offered is not None:
            lists = _chosen_lists(session, request.list_slugs, None)  # as they are now
        known: Member = session.execute(
            select(Member).where(col(Member.email) == request.email).with_for_update()
        ).scalar_one()
        if known.status == ACTIVE:
            return _notify(session, kit, known, now=now, already=True)
        # Someone who left stays unsubscribed until they confirm again: anyone can type their
        # address, and only the link in their mailbox brings them back.
        for lst in lists:
            _subscribe_pending(session, known, lst, now=now)
        member = known
    assert member.id is not None
    rows = [_consent_values(member.id, lst, request, action="given", now=now) for lst in lists]
    if rows:
        session.execute(_INSERT_CONSENT, rows)
    if tell_webhooks:
        webhooks.emit(
            session,
            "member.subscribed",
            webhooks.member_data(member, lists=[lst.slug for lst in lists], source=request.source),
            now=now,
        )
    if isinstance(member, NewMember):
        # Inserted with this notice's time (``_new_member``): the confirmation goes now.
        queue_confirmation(session, kit, member, now=now)
        return Notice(sent=True)
    return _notify(session, kit, member, now=now, already=False)


# Core, not the ORM's bulk insert: the same statement without its unit-of-work bookkeeping.
_INSERT_CONSENT = insert(table_of(ConsentEvent))


def _subscribe_new(
    session: Session, member_id: int, lists: Sequence[MailingList], *, now: datetime
) -> None:
    """The new member's pending subscriptions, one INSERT for all of them, to the lists that
    are still public as it runs: the lists may come from a copy read a while ago."""
    params: dict[str, Any] = {"member_id": member_id, "now": now}
    params.update((f"list_{n}", lst.id) for n, lst in enumerate(lists))
    # RETURNING, not rowcount: psycopg gives -1 as the count of an INSERT ... SELECT.
    inserted = session.execute(_subscribe_new_statement(len(lists)), params).all()
    if len(inserted) != len(lists):
        # A list stopped being offered since the form was read: nothing of this is kept.
        raise InvalidInput(_("Please choose lists from the form."), field="lists")


@lru_cache(maxsize=32)
def _subscribe_new_statement(count: int) -> Any:
    """The subscriptions' INSERT for ``count`` lists, built once per count: a parameter per
    list, as an expanding IN would render the statement anew at every run."""
    now = bindparam("now", type_=UTCDateTime())
    member_id: BindParameter[int] = bindparam("member_id")
    ids = [bindparam(f"list_{n}", type_=Integer()) for n in range(count)]
    chosen = select(member_id, col(MailingList.id), literal(SUB_PENDING), now, now).where(
        col(MailingList.id).in_(ids),
        col(MailingList.public).is_(True),
    )
    columns = ["member_id", "list_id", "status", "created_at", "updated_at"]
    table = table_of(Subscription)
    # Core: the ORM would take it for a bulk insert.
    return insert(table).from_select(columns, chosen).returning(table.c.list_id)


# What a registration inserts of a new member (search_text too: a Core insert skips the hooks).
MEMBER_COLUMNS = (
    "email",
    "name",
    "organisation",
    "country",
    "sector",
    "language",
    "status",
    "nonce",
    "created_at",
    "last_notice_at",
    "search_text",
)


def _insert_member(dialect: Any) -> Any:
    """INSERT a member (its values as parameters) unless the address is known; RETURNING its
    id, whether its address carries an erasure's suppression, and whether any webhook is set up.

    The two questions ride on the insert (scalar subqueries in RETURNING, on SQLite as on
    PostgreSQL) instead of costing a round trip each: nearly always the answer is no.
    """
    table = table_of(Member)
    erased = (
        select(col(outbox.Suppression.reason))
        .where(
            col(outbox.Suppression.address_hash) == bindparam("address_hash"),
            col(outbox.Suppression.reason) == "erased",
        )
        .scalar_subquery()
    )
    # Core, not the ORM's bulk insert (its bookkeeping cost more than the statement): the
    # member object is built from the values it was given (``_new_member``).
    return (
        dialect.insert(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in MEMBER_COLUMNS})
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(table.c.id, erased.label("erased"), webhooks.ANY_ENDPOINT.label("webhooks"))
    )


# Built once: a registration burst runs it tens of times a second.
_INSERT_MEMBER = {"postgresql": _insert_member(postgresql), "sqlite": _insert_member(sqlite)}


@dataclass(frozen=True, slots=True)
class NewMember:
    """A member a registration just inserted, as the rest of it reads them (the mail, the
    webhook): building a Member object cost more CPU than its insert."""

    id: int
    email: str
    name: str
    language: str
    nonce: str
    status: str = PENDING

    @property
    def display_name(self) -> str:
        return display_name(self.name, self.email)


@dataclass(frozen=True)
class _Inserted:
    member: NewMember
    webhooks: bool  # any webhook endpoint is set up (else there is nobody to tell)


def _new_member(
    session: Session, request: RegistrationRequest, *, now: datetime
) -> _Inserted | None:
    """Insert the member if the address is new (and return it), else None; one statement.

    The insert does nothing for a known address instead of failing, so two registrations of
    one new address at once make one member, the second going on as a repeat. A new member is
    mailed at once (``_notify``), so the time of that notice is recorded with the insert.
    """
    language, nonce = request.language or "en", new_nonce()
    values = {
        "email": request.email,
        "name": request.name,
        "organisation": request.organisation,
        "country": request.country,
        "sector": request.sector,
        "language": language,
        "status": PENDING,
        "nonce": nonce,
        "created_at": now,
        "last_notice_at": now,
        # A Core insert skips the model's hooks: the search column is filled here.
        "search_text": member_search_text(request.email, request.name, request.organisation),
    }
    statement = _INSERT_MEMBER[session.get_bind().dialect.name]
    params = {**values, "address_hash": outbox.address_hash(request.email)}
    row = session.execute(statement, params).one_or_none()
    if row is None:
        return None
    member_id, erased, endpoints = row
    member = NewMember(member_id, request.email, request.name, language, nonce)
    if erased is not None:
        # An erased member left only a hash on the suppression list; registering afresh lifts it.
        outbox.unsuppress(session, request.email, reasons=("erased",))
    return _Inserted(member, bool(endpoints))


def _subscribe_pending(
    session: Session, member: Member, lst: MailingList, *, now: datetime
) -> None:
    sub = session.execute(
        select(Subscription).where(
            col(Subscription.member_id) == member.id, col(Subscription.list_id) == lst.id
        )
    ).scalar_one_or_none()
    if sub is None:
        assert member.id is not None and lst.id is not None
        session.add(
            Subscription(
                member_id=member.id,
                list_id=lst.id,
                status=SUB_PENDING,
                created_at=now,
                updated_at=now,
            )
        )
    elif sub.status != SUB_ACTIVE:
        sub.status, sub.updated_at = SUB_PENDING, now
        session.add(sub)
    session.flush()


def _notify(
    session: Session,
    kit: MailKit,
    member: Member,
    *,
    now: datetime,
    already: bool,
) -> Notice:
    """Queue the confirmation (or already-a-member) mail, at most once per 10 minutes."""
    if member.last_notice_at is not None and now - member.last_notice_at < NOTICE_INTERVAL:
        return Notice(sent=False, wait=member.last_notice_at + NOTICE_INTERVAL - now)
    member.last_notice_at = now
    session.add(member)
    if already:
        queue_already_member(session, kit, member, now=now)
    else:
        queue_confirmation(session, kit, member, now=now)
    return Notice(sent=True)


def member_for_token(
    session: Session,
    kit: MailKit,
    purpose: str,
    token: str,
    *,
    max_age: timedelta | None = None,
) -> tuple[Member, str]:
    """The member a token was signed for, with its extra claim; TokenError when not valid."""
    claims = kit.signer.verify(purpose, token, max_age=max_age)
    member = session.get(Member, claims.member_id)
    # A rotated nonce (erasure) or a vanished member makes every earlier link invalid.
    if member is None or member.status == ERASED or member.nonce != claims.nonce:
        raise TokenError(_("This link is no longer valid."))
    return member, claims.extra


# What a confirmation link did, for the page to say (never "confirmed" when nothing is).
CONFIRMED = "confirmed"  # subscriptions waited for this link and are active now
ALREADY_CONFIRMED = "already"  # a second click: the member is active on their lists
NOT_SUBSCRIBED = "not_subscribed"  # an old link after leaving: it does not bring them back


@dataclass(frozen=True)
class Confirmation:
    member: Member
    outcome: str


def confirm(
    session: Session, kit: MailKit, token: str, *, now: datetime, ip: str = "", user_agent: str = ""
) -> Member:
    """Confirm a registration; confirming twice is harmless."""
    return confirm_link(session, kit, token, now=now, ip=ip, user_agent=user_agent).member


def confirm_link(
    session: Session, kit: MailKit, token: str, *, now: datetime, ip: str = "", user_agent: str = ""
) -> Confirmation:
    """Confirm a registration and say what the link did (see CONFIRMED and the others)."""
    member, _extra = member_for_token(session, kit, "confirm", token, max_age=CONFIRM_MAX_AGE)
    pending = _pending(session, member)
    if not pending:
        # Nothing waits for confirmation: a second click, or an old link after the member
        # unsubscribed (which must not undo their choice).
        active = session.execute(
            select(col(Subscription.id)).where(
                col(Subscription.member_id) == member.id, col(Subscription.status) == SUB_ACTIVE
            )
        ).first()
        still_member = member.status == ACTIVE and active is not None
        return Confirmation(member, ALREADY_CONFIRMED if still_member else NOT_SUBSCRIBED)
    member.status, member.confirmed_at, member.unsubscribed_at = ACTIVE, now, None
    session.add(member)
    ticked = _ticked_wording(session, member)
    lists = []
    for sub in pending:
        sub.status, sub.updated_at = SUB_ACTIVE, now
        session.add(sub)
        lst = session.get(MailingList, sub.list_id)
        lists.append(lst)
        request = RegistrationRequest(
            member.email or "",
            "",
            "",
            "",
            "",
            "",
            (),
            True,
            ip=ip,
            user_agent=user_agent,
            consent_wording=ticked,
        )
        session.add(_consent(member, lst, request, action="confirmed", now=now))
    session.flush()
    queue_welcome(session, kit, member, [lst for lst in lists if lst], now=now)
    webhooks.emit(
        session,
        "member.confirmed",
        webhooks.member_data(member, lists=[lst.slug for lst in lists if lst]),
        now=now,
    )
    return Confirmation(member, CONFIRMED)


def _pending(session: Session, member: Member) -> list[Subscription]:
    """The member's subscriptions waiting for the confirmation link."""
    return list(
        session.execute(
            select(Subscription).where(
                col(Subscription.member_id) == member.id, col(Subscription.status) == SUB_PENDING
            )
        ).scalars()
    )


def resend_confirmation(session: Session, kit: MailKit, token: str, *, now: datetime) -> Notice:
    """Queue a new confirmation link for an expired one (the signature must still be ours)."""
    claims = kit.signer.verify("confirm", token, max_age=None)
    member = session.get(Member, claims.member_id)
    if member is None or member.nonce != claims.nonce or member.status == ERASED:
        raise TokenError(_("This link is no longer valid."))
    if not _pending(session, member):
        # Already confirmed: nothing to resend (the link's holder may learn that, it is theirs).
        return Notice(sent=False)
    return _notify(session, kit, member, now=now, already=False)


def purge_unconfirmed(session: Session, *, now: datetime) -> int:
    """Delete registrations never confirmed within 7 days, with all their personal data."""
    cutoff = now - UNCONFIRMED_TTL
    ids = list(
        session.execute(
            select(col(Member.id)).where(
                col(Member.status) == PENDING,
                col(Member.confirmed_at).is_(None),
                col(Member.created_at) < cutoff,
            )
        ).scalars()
    )
    if not ids:
        return 0
    session.execute(delete(ConsentEvent).where(col(ConsentEvent.member_id).in_(ids)))
    session.execute(delete(Subscription).where(col(Subscription.member_id).in_(ids)))
    outbox.forget_recipients(session, ids)
    session.execute(delete(Member).where(col(Member.id).in_(ids)))
    return len(ids)
