"""The durable outbox: every mail, transactional or bulk, is a row here before it is sent.

A campaign is rendered once and fanned out as one ``Delivery`` per recipient, unique on
(campaign, recipient), in the caller's transaction. States::

    queued -> sending -> sent | failed | skipped
               |  ^
               v  |  (4xx / connection error: back to queued with a later next_attempt_at)

A worker claims due rows by moving them to ``sending`` with a lease in one statement (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite serialises writers). A row whose lease expires (its worker
died) is claimable again, so a crash repeats at most the messages that were in flight.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import insert as sa_insert
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field, Session, SQLModel, col

from mailer.compose import RenderedMail
from mailer.dbtypes import UTCDateTime, changed_rows, table_of
from mailer.engine import is_postgres

QUEUED, SENDING, SENT, FAILED, SKIPPED = "queued", "sending", "sent", "failed", "skipped"
STATES = (QUEUED, SENDING, SENT, FAILED, SKIPPED)
ACTIVE, PAUSED, CANCELLED = "active", "paused", "cancelled"

MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
FANOUT_CHUNK = 1000


class Campaign(SQLModel, table=True):
    """One rendered mail and its sending state; its recipients are its deliveries."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    # Plain ids: the outbox knows nothing of lists or members, only what to send to whom.
    list_id: int | None = Field(default=None, index=True)
    ref: str | None = Field(default=None, max_length=200, unique=True)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    sender: str = Field(max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    list_header: str | None = Field(default=None, max_length=400)
    bulk: bool = True
    calendar: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    calendar_method: str | None = Field(default=None, max_length=16)
    status: str = Field(default=ACTIVE, max_length=16, index=True)
    send_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str | None = Field(default=None, max_length=320)
    total: int = 0
    # The language of subject/html/text above; other languages are CampaignVersion rows.
    language: str = Field(default="en", max_length=8)
    # Why it paused itself (subscribers.content.brakes): hard_bounces | complaints;
    # "overridden" once staff resumed it anyway, so the same brake does not stop it again.
    brake: str | None = Field(default=None, max_length=16)
    # Published on the list's public archive page
    # (a per-send choice: subscribers.content.campaigns).
    in_archive: bool = False

    def rendered(self) -> RenderedMail:
        return RenderedMail(
            kind=self.kind,
            subject=self.subject,
            html=self.html,
            text=self.text,
            language=self.language,
        )


class CampaignVersion(SQLModel, table=True):
    """The same campaign rendered in another language (once per language, never per member)."""

    __tablename__ = "campaign_version"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    language: str = Field(max_length=8, primary_key=True)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    html: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))

    def rendered(self, kind: str) -> RenderedMail:
        return RenderedMail(
            kind=kind, subject=self.subject, html=self.html, text=self.text, language=self.language
        )


class Delivery(SQLModel, table=True):
    """One recipient of one campaign, with its personal values and its sending state."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("campaign_id", "recipient_id", name="uq_delivery_campaign_recipient"),
        Index("ix_delivery_due", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # No index of its own: uq_delivery_campaign_recipient starts with it and serves every
    # lookup by campaign, and each index less is one write less per message sent.
    campaign_id: int = Field(foreign_key="campaign.id")
    recipient_id: int = Field(index=True)
    address: str = Field(max_length=320)
    name: str = Field(default="", max_length=400)
    personal: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=QUEUED, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The worker (mailer.workers) that claimed the row last; no index: rows are found by id,
    # and a write to one more index per message would slow every send.
    worker_id: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    last_code: int | None = None
    message_id: str | None = Field(default=None, max_length=300)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Which version of the campaign this recipient reads; None or unknown: the campaign's own.
    language: str | None = Field(default=None, max_length=8)


class FoldedDeliveries(SQLModel, table=True):
    """How many deliveries of a campaign ended in each state, once their rows were folded.

    ``fold_old`` deletes delivery rows past the retention period (they hold addresses and
    personal values) and adds them up here, so ``counts`` gives the same figures before and after.
    """

    __tablename__ = "folded_deliveries"

    campaign_id: int = Field(primary_key=True)
    state: str = Field(primary_key=True, max_length=16)
    count: int = 0


class Suppression(SQLModel, table=True):
    """Addresses never to be mailed, kept only as a hash (erased members leave nothing else)."""

    __tablename__ = "suppression"

    address_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=32)  # erased | hard_bounce | soft_bounces | complaint | staff
    detail: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_type=UTCDateTime)


def address_hash(address: str) -> str:
    """The stable hash under which an address is suppressed."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who gets a delivery, and the personal values filled into their copy."""

    id: int
    email: str
    name: str = ""
    personal: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None


def create_campaign(
    session: Session,
    *,
    rendered: RenderedMail,
    sender: str,
    now: datetime,
    list_id: int | None = None,
    list_header: str | None = None,
    reply_to: str | None = None,
    bulk: bool = True,
    ref: str | None = None,
    send_after: datetime | None = None,
    calendar: bytes | None = None,
    calendar_method: str | None = None,
    created_by: str | None = None,
    translations: Sequence[RenderedMail] = (),
    total: int = 0,
    in_archive: bool = False,
) -> Campaign:
    """Store a rendered campaign (not yet any recipients) in the caller's transaction.

    ``rendered`` is the campaign's own version; ``translations`` are the same mail rendered in
    other languages, each read by the deliveries of that language. ``total`` counts deliveries
    the caller is about to add without ``enqueue`` (``create_single``).
    """
    campaign = Campaign(
        kind=rendered.kind,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender=sender,
        reply_to=reply_to,
        list_id=list_id,
        list_header=list_header,
        bulk=bulk,
        ref=ref,
        send_after=send_after,
        calendar=calendar,
        calendar_method=calendar_method,
        created_at=now,
        created_by=created_by,
        language=rendered.language,
        total=total,
        in_archive=in_archive,
    )
    session.add(campaign)
    session.flush()
    assert campaign.id is not None
    if not translations:
        return campaign
    for version in translations:
        if version.language != rendered.language:
            session.add(
                CampaignVersion(
                    campaign_id=campaign.id,
                    language=version.language,
                    subject=version.subject,
                    html=version.html,
                    text=version.text,
                )
            )
    session.flush()
    return campaign


def versions(session: Session, campaign: Campaign) -> dict[str, RenderedMail]:
    """Every language version of a campaign, its own first."""
    found = {campaign.language: campaign.rendered()}
    rows = session.execute(
        select(CampaignVersion)
        .where(col(CampaignVersion.campaign_id) == campaign.id)
        .order_by(CampaignVersion.language)
    ).scalars()
    for row in rows:
        found.setdefault(row.language, row.rendered(campaign.kind))
    return found


def discard(session: Session, campaign: Campaign) -> None:
    """Delete a campaign that reached nobody, with its language versions (the rows that point
    to it), in the caller's transaction."""
    session.execute(delete(CampaignVersion).where(col(CampaignVersion.campaign_id) == campaign.id))
    session.delete(campaign)
    session.flush()


def enqueue(
    session: Session, campaign: Campaign, recipients: Iterable[Recipient], *, now: datetime
) -> int:
    """Fan a campaign out to recipients, in chunks so that a large audience is streamed.

    Runs in the caller's transaction: the campaign and all its deliveries commit together, or
    none do. Returns how many deliveries were created. A suppressed address (hard bounce,
    complaint) gets no delivery at all, so it never counts as one of the campaign's recipients.
    """
    assert campaign.id is not None
    due = campaign.send_after or now
    count = 0
    for chunk in _chunks(recipients, FANOUT_CHUNK):
        blocked = suppressed(session, [r.email for r in chunk])
        rows = [
            {
                "campaign_id": campaign.id,
                "recipient_id": r.id,
                "address": r.email,
                "name": r.name,
                "personal": dict(r.personal),
                "state": QUEUED,
                "attempts": 0,
                "next_attempt_at": due,
                "language": r.language,
            }
            for r in chunk
            if r.email.strip().lower() not in blocked
        ]
        if rows:
            # Core, not ORM, insert: the same statement without building 1,000 ORM states.
            session.execute(sa_insert(table_of(Delivery)), rows)
        count += len(rows)
    campaign.total += count
    session.add(campaign)
    session.flush()
    return count


def _single_delivery() -> Any:
    """INSERT one delivery (its values as parameters) unless its address is suppressed."""
    delivery = table_of(Delivery)
    names = [
        "campaign_id",
        "recipient_id",
        "address",
        "name",
        "personal",
        "state",
        "attempts",
        "next_attempt_at",
        "language",
    ]
    suppressed = select(col(Suppression.address_hash)).where(
        col(Suppression.address_hash) == bindparam("address_hash")
    )
    row = select(*(bindparam(name, type_=delivery.c[name].type) for name in names))
    # RETURNING tells whether a row went in: psycopg's rowcount of an INSERT ... SELECT is -1.
    inserted = sa_insert(delivery).from_select(names, row.where(~suppressed.exists()))
    return inserted.returning(delivery.c.id)


# Built once: every registration runs it.
_SINGLE_DELIVERY = _single_delivery()


# Built once: every registration runs it (Core: the ORM's flush cost more than the insert).
_SINGLE_CAMPAIGN = sa_insert(table_of(Campaign)).returning(table_of(Campaign).c.id)


def create_single(
    session: Session, *, rendered: RenderedMail, sender: str, recipient: Recipient, now: datetime
) -> int:
    """A transactional mail (not bulk) to one recipient: its campaign and delivery, or none.

    Two statements, for mail sent on a request's path (a registration's confirmation): the
    campaign is inserted counting its delivery, and the delivery is inserted unless the address
    is suppressed, the suppression checked by the insert itself. A suppressed address (rare)
    costs one more statement setting the count back to 0. The same rows as ``create_campaign``
    followed by ``enqueue``, written without ORM objects; returns the campaign's id.
    """
    campaign = {
        "kind": rendered.kind,
        "subject": rendered.subject,
        "html": rendered.html,
        "text": rendered.text,
        "sender": sender,
        "bulk": False,
        "created_at": now,
        "language": rendered.language,
        "total": 1,
    }
    campaign_id: int = session.execute(_SINGLE_CAMPAIGN, campaign).scalar_one()
    delivery = {
        "campaign_id": campaign_id,
        "recipient_id": recipient.id,
        "address": recipient.email,
        "name": recipient.name,
        "personal": dict(recipient.personal),
        "state": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "language": recipient.language,
        "address_hash": address_hash(recipient.email),
    }
    if session.execute(_SINGLE_DELIVERY, delivery).first() is None:  # the address is suppressed
        table = table_of(Campaign)
        session.execute(update(table).where(table.c.id == campaign_id).values(total=0))
    return campaign_id


def _chunks(items: Iterable[Recipient], size: int) -> Iterator[list[Recipient]]:
    chunk: list[Recipient] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed by this worker, with what is needed to send it."""

    id: int
    campaign_id: int
    recipient_id: int
    address: str
    name: str
    personal: dict[str, str]
    attempts: int
    language: str | None = None


def _claim_statement(*, expired: bool) -> Any:
    """UPDATE ... RETURNING claiming due rows of one kind; built once, run with parameters."""
    delivery, campaign = table_of(Delivery), table_of(Campaign)
    when = delivery.c.next_attempt_at.type
    now = bindparam("now", type_=when)
    due = (
        select(delivery.c.id)
        .join(campaign, campaign.c.id == delivery.c.campaign_id)
        .where(
            delivery.c.id > bindparam("after_id"),
            campaign.c.status == ACTIVE,
            or_(campaign.c.send_after.is_(None), campaign.c.send_after <= now),
        )
    )
    if expired:
        due = due.where(delivery.c.state == SENDING, delivery.c.lease_until < now)
    else:
        due = due.where(delivery.c.state == QUEUED, delivery.c.next_attempt_at <= now)
    due = (
        due.order_by(delivery.c.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=delivery)
    )
    return (
        update(delivery)
        .where(delivery.c.id.in_(due.scalar_subquery()))
        .values(
            state=SENDING,
            lease_until=bindparam("lease_until", type_=when),
            worker_id=bindparam("worker_id"),
        )
        .returning(
            delivery.c.id,
            delivery.c.campaign_id,
            delivery.c.recipient_id,
            delivery.c.address,
            delivery.c.name,
            delivery.c.personal,
            delivery.c.attempts,
            delivery.c.language,
        )
    )


# Expired leases first (few rows are ever in ``sending``), then queued rows in due order.
_CLAIMS = (_claim_statement(expired=True), _claim_statement(expired=False))


def claim(
    session: Session,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    after_id: int = 0,
    worker_id: int | None = None,
) -> list[Claimed]:
    """Move up to ``limit`` due deliveries to ``sending`` with a lease, and return them.

    Due means queued with ``next_attempt_at`` reached, or sending with an expired lease (its
    worker died). Only active campaigns whose ``send_after`` has come are drained. ``after_id``
    lets a worker move forward through a large campaign instead of rescanning from the first row.
    ``worker_id`` (mailer.workers) is recorded on each row: its heartbeat keeps the lease. The
    caller commits right away so the lease is visible to other workers.

    Expired leases are taken first, then queued rows in the order they fell due. Each is one
    statement that walks the (state, next_attempt_at) index in order and stops after ``limit``
    rows. (One query with OR between the two made both databases collect and sort every queued
    row for each batch, a cost that grew with the campaign.) On PostgreSQL, sorting is also
    ruled out for this transaction: right after a large fan-out the table has no statistics
    yet, and the planner would otherwise sort the whole campaign to pick a batch.
    """
    connection = session.connection()
    if is_postgres(connection):
        connection.exec_driver_sql("SET LOCAL enable_sort = off")
    params = {"now": now, "after_id": after_id, "lease_until": now + lease, "worker_id": worker_id}
    rows: list[Any] = []
    for statement in _CLAIMS:
        if len(rows) >= limit:
            break
        rows.extend(connection.execute(statement, {**params, "limit": limit - len(rows)}))
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def _finish(session: Session, delivery_id: int, values: dict[str, Any]) -> None:
    # "state == sending" guards against a worker whose lease expired and whose row was taken
    # over: its late result must not overwrite the new holder's.
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.state) == SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def mark_sent(
    session: Session, delivery_id: int, *, now: datetime, message_id: str, attempts: int
) -> None:
    """Record that the server accepted the message.

    Unlike the other outcomes this applies whatever state the row is in (unless already sent):
    an accepted message went out, so a late retry or failure written meanwhile by a worker whose
    lease had expired must not leave the row to be sent again.
    """
    session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.state) != SENT)
        .values(
            state=SENT,
            sent_at=now,
            message_id=message_id,
            attempts=attempts + 1,
            lease_until=None,
            last_error=None,
            last_code=250,
        )
        .execution_options(synchronize_session=False)
    )


MARKER_MMAP = 256 * 1024 * 1024


class SentMarker:
    """``mark_sent`` and its commit as one statement on a connection of its own: the hot path.

    Same row, same guard (not already sent), same values as ``mark_sent``; but instead of an
    ORM statement, a session commit and a pool round trip per message, one prepared UPDATE runs
    in autocommit, so each row is ``sent`` in its own committed transaction when ``mark_sent``
    returns. On SQLite a lone UPDATE takes the write lock when it starts, as ``BEGIN IMMEDIATE``
    does; when another connection holds it, the marker tries again after 0.1 ms, then 0.2, 0.4...
    up to 2 ms apart (SQLite's own busy handler first sleeps a whole millisecond, then 2, then 5,
    which several senders sharing one file would spend mostly asleep), for as long as the
    connection's busy_timeout. On PostgreSQL the connection runs with ``synchronous_commit =
    off``: a database crash may forget the latest marks and send those messages again, but never
    loses one, and sending is not held to one WAL flush per message.

    One per sending thread, never shared. The connection is checked out of the engine's pool on
    the first mark and given back, as it was, by ``close``.
    """

    _SQL = (
        "UPDATE delivery SET state = {p}, sent_at = {p}, message_id = {p}, attempts = {p},"
        " lease_until = NULL, last_error = NULL, last_code = 250"
        " WHERE id = {p} AND state <> {p}"
    )

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"SentMarker supports SQLite and PostgreSQL, not {dialect.name}")
        self._engine = engine
        self._postgres = is_postgres(engine)
        self._sql = self._SQL.format(p="?" if dialect.paramstyle == "qmark" else "%s")
        sent_at = table_of(Delivery).c.sent_at.type
        self._datetime = sent_at.dialect_impl(dialect).bind_processor(dialect)
        self._connection: Any = None
        self._cursor: Any = None
        self._restore: list[str] = []  # statements giving the connection back as it was
        self._isolation: str | None = None
        self._busy_timeout = 0.0  # SQLite: seconds to keep trying while another writer holds on

    @classmethod
    def for_session(cls, session: Session) -> SentMarker | None:
        """A marker for the engine behind ``session``, or None if it is not a plain engine."""
        bind = session.get_bind()
        if isinstance(bind, Engine) and bind.dialect.name in ("sqlite", "postgresql"):
            return cls(bind)
        return None

    def mark_sent(self, delivery_id: int, *, now: datetime, message_id: str, attempts: int) -> None:
        """``mark_sent`` + commit: the row is durably ``sent`` (as configured) on return."""
        if self._cursor is None:
            self._open()
        sent_at = self._datetime(now) if self._datetime else now
        params = (SENT, sent_at, message_id, attempts + 1, delivery_id, SENT)
        try:
            if self._postgres:
                self._cursor.execute(self._sql, params)
            else:
                self._execute_sqlite(params)
        except BaseException:
            self._discard()
            raise

    def _execute_sqlite(self, params: tuple[Any, ...]) -> None:
        delay, deadline = 0.0001, 0.0
        while True:
            try:
                self._cursor.execute(self._sql, params)
                return
            except sqlite3.OperationalError as err:
                # SQLITE_BUSY and its extended codes: another connection is writing. A failed
                # autocommit statement changed nothing, so it is simply run again.
                if getattr(err, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + self._busy_timeout
                elif now >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)

    def close(self) -> None:
        """Give the connection back to the pool with its settings restored."""
        if self._connection is None:
            return
        try:
            driver = self._connection.driver_connection
            for statement in self._restore:
                driver.execute(statement)
            if self._postgres:
                driver.autocommit = False
            else:
                driver.isolation_level = self._isolation
            self._cursor.close()
            self._connection.close()
        except Exception:  # noqa: BLE001 - a broken connection is simply thrown away
            self._discard()
        self._connection = self._cursor = None

    def _open(self) -> None:
        connection = self._engine.raw_connection()
        try:
            driver = connection.driver_connection
            assert driver is not None, "a connection fresh from the pool is open"
            if self._postgres:
                if driver.info.transaction_status != 0:  # not idle: end what the pool left
                    driver.rollback()
                driver.autocommit = True
                driver.execute("SET synchronous_commit = off")
                self._restore = ["RESET synchronous_commit"]
            else:
                # No transaction of the driver's own (mailer.engine sets this already): each
                # statement commits by itself. Busy waits are ours (see the class docstring).
                self._isolation = driver.isolation_level
                driver.isolation_level = None
                (timeout_ms,) = driver.execute("PRAGMA busy_timeout").fetchone()
                (mmap_size,) = driver.execute("PRAGMA mmap_size").fetchone()
                self._busy_timeout = timeout_ms / 1000
                driver.execute("PRAGMA busy_timeout = 0")
                # Every mark follows other connections' writes, so SQLite drops its page cache
                # each time and reads the B-tree pages again: mapped, not one syscall a page.
                driver.execute(f"PRAGMA mmap_size = {max(int(mmap_size), MARKER_MMAP)}")
                self._restore = [
                    f"PRAGMA busy_timeout = {int(timeout_ms)}",
                    f"PRAGMA mmap_size = {int(mmap_size)}",
                ]
            self._cursor = driver.cursor()
        except BaseException:
            connection.invalidate()
            raise
        self._connection = connection

    def _discard(self) -> None:
        connection, self._connection, self._cursor = self._connection, None, None
        if connection is not None:
            try:
                connection.invalidate()
            except Exception:  # noqa: BLE001 - invalidating a dead connection may fail too
                pass


def hand_back(
    session: Session,
    worker_id: int,
    *,
    ids: Collection[int] | None = None,
    keep: Collection[int] = (),
    until: datetime | None = None,
) -> int:
    """Give rows this worker holds back to the queue, no attempt counted; return how many.

    ``ids`` limits it to those rows (a batch it will not start: a pause, a stop, a lease nearly
    up), else every row it holds but ``keep`` (a thread that failed, a stop). ``until`` defers
    them (a domain asked to slow down). Only rows still ``sending`` under this worker move: one
    whose lease ran out may belong to another worker by now. The caller commits.
    """
    stmt = update(Delivery).where(
        col(Delivery.worker_id) == worker_id, col(Delivery.state) == SENDING
    )
    if ids is not None:
        stmt = stmt.where(col(Delivery.id).in_(list(ids)))
    if keep:
        stmt = stmt.where(col(Delivery.id).not_in(list(keep)))
    values: dict[str, Any] = {"state": QUEUED, "lease_until": None}
    if until is not None:
        values["next_attempt_at"] = until
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return changed_rows(result)


_RENEW = (
    update(Delivery)
    .where(
        col(Delivery.id).in_(bindparam("ids", expanding=True)),
        col(Delivery.worker_id) == bindparam("holder"),
        col(Delivery.state) == SENDING,
    )
    .values(lease_until=bindparam("renewed_until"))
    .execution_options(synchronize_session=False)
)


def renew_leases(
    session: Session, worker_id: int, held: Collection[int], *, until: datetime
) -> None:
    """Extend the lease of the rows this worker holds to ``until``; one taken over by another
    worker (after this one missed its beats) stays with its new holder. The caller commits."""
    if held:
        session.execute(_RENEW, {"ids": list(held), "holder": worker_id, "renewed_until": until})


def mark_unsent(
    session: Session,
    delivery_id: int,
    *,
    now: datetime,
    attempts: int,
    code: int | None,
    error: str,
    retry: bool = True,
    rng: random.Random | None = None,
) -> str:
    """The message did not go out: queue it again with back-off, or fail it for good when the
    error is permanent (``retry=False``) or MAX_ATTEMPTS are spent. Returns the new state."""
    tried = attempts + 1
    state = QUEUED if retry and tried < MAX_ATTEMPTS else FAILED
    values: dict[str, object] = {
        "state": state,
        "attempts": tried,
        "lease_until": None,
        "last_code": code,
        "last_error": error[:500],
    }
    if state == QUEUED:
        values["next_attempt_at"] = now + next_delay(tried, rng)
    _finish(session, delivery_id, values)
    return state


def mark_skipped(session: Session, delivery_ids: Sequence[int], *, reason: str) -> None:
    if not delivery_ids:
        return
    session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(list(delivery_ids)), col(Delivery.state) == SENDING)
        .values(state=SKIPPED, lease_until=None, last_error=reason[:500])
        .execution_options(synchronize_session=False)
    )


class Jitter(Protocol):
    """Where next_delay draws its jitter: a random.Random, or a stand-in that takes no chance."""

    def uniform(self, a: float, b: float, /) -> float: ...


def next_delay(attempts: int, rng: Jitter | None = None) -> timedelta:
    """Exponential back-off with jitter: about 1, 2, 4 ... minutes, at most 6 hours."""
    base: timedelta = min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)
    jitter: float = (rng or random).uniform(0.5, 1.5)
    return base * jitter


def set_status(session: Session, campaign_id: int, status: str) -> Campaign:
    """Pause, resume or cancel a campaign; cancelling skips every row not yet sent."""
    if status not in (ACTIVE, PAUSED, CANCELLED):
        raise ValueError(f"unknown campaign status {status!r}")
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    if campaign.status == CANCELLED and status != CANCELLED:
        raise ValueError(f"campaign {campaign_id} is cancelled and cannot be resumed")
    campaign.status = status
    session.add(campaign)
    if status == CANCELLED:
        # Rows in flight (sending) finish on their own; everything still waiting is skipped.
        session.execute(
            update(Delivery)
            .where(col(Delivery.campaign_id) == campaign_id, col(Delivery.state) == QUEUED)
            .values(state=SKIPPED, last_error="campaign cancelled")
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return campaign


def counts(
    session: Session,
    campaign_id: int | None = None,
    *,
    campaign_ids: Collection[int] | None = None,
) -> dict[int, dict[str, int]]:
    """Deliveries by campaign and state: of one campaign, of ``campaign_ids``, or of all.

    With ``campaign_ids`` every one of them has an entry, all zeros when it has no delivery.
    """
    stmt = select(col(Delivery.campaign_id), col(Delivery.state), func.count()).group_by(
        col(Delivery.campaign_id), col(Delivery.state)
    )
    result: dict[int, dict[str, int]] = {}
    if campaign_id is not None:
        stmt = stmt.where(col(Delivery.campaign_id) == campaign_id)
    if campaign_ids is not None:
        if not campaign_ids:
            return result
        stmt = stmt.where(col(Delivery.campaign_id).in_(campaign_ids))
        result = {cid: dict.fromkeys(STATES, 0) for cid in campaign_ids}
    for cid, state, n in session.execute(stmt):
        result.setdefault(cid, dict.fromkeys(STATES, 0))[state] = n
    folded = select(
        col(FoldedDeliveries.campaign_id), col(FoldedDeliveries.state), col(FoldedDeliveries.count)
    )
    if campaign_id is not None:
        folded = folded.where(col(FoldedDeliveries.campaign_id) == campaign_id)
    if campaign_ids is not None:
        folded = folded.where(col(FoldedDeliveries.campaign_id).in_(campaign_ids))
    for cid, state, n in session.execute(folded):
        by_state = result.setdefault(cid, dict.fromkeys(STATES, 0))
        by_state[state] = by_state.get(state, 0) + n
    return result


def unfinished() -> ColumnElement[bool]:
    """Campaigns with rows still queued or being sent (read through ix_delivery_due, state
    first, so it stays cheap however many rows finished campaigns have)."""
    waiting = select(col(Delivery.campaign_id)).where(col(Delivery.state).in_((QUEUED, SENDING)))
    return col(Campaign.id).in_(waiting)


def fold_old(session: Session, *, before: datetime, chunk: int = 5000) -> int:
    """Fold up to ``chunk`` delivery rows of one finished campaign created before ``before``.

    Returns how many rows were folded: 0 when nothing is left to fold. The rows are counted into
    ``FoldedDeliveries`` and deleted in the caller's transaction, so a crash leaves the figures
    right; callers commit after each call (a big campaign then never holds the database's write
    lock for long). A campaign is folded only when none of its rows is queued or being sent.
    Suppressions, bounces, complaints, consent and members are other tables and stay, and so
    does the campaign itself (subject, text, archive).
    """
    has_rows = (
        select(col(Delivery.id)).where(col(Delivery.campaign_id) == col(Campaign.id)).exists()
    )
    cid = session.execute(
        select(col(Campaign.id))
        .where(col(Campaign.created_at) < before, has_rows, ~unfinished())
        .order_by(col(Campaign.id))
        .limit(1)
    ).scalar_one_or_none()
    if cid is None:
        return 0
    ids = list(
        session.execute(
            select(col(Delivery.id))
            .where(Delivery.campaign_id == cid)
            .order_by(col(Delivery.id))
            .limit(chunk)
        ).scalars()
    )
    by_state = session.execute(
        select(col(Delivery.state), func.count())
        .where(col(Delivery.id).in_(ids))
        .group_by(Delivery.state)
    ).all()
    for state, n in by_state:
        row = session.get(FoldedDeliveries, (cid, state))
        if row is None:
            row = FoldedDeliveries(campaign_id=cid, state=state, count=0)
        row.count += n
        session.add(row)
    delivery = table_of(Delivery)
    session.execute(delivery.delete().where(delivery.c.id.in_(ids)))
    session.flush()
    return len(ids)


def suppressed(session: Session, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses (lowercased) are on the suppression list."""
    by_hash = {address_hash(a): a.strip().lower() for a in addresses}
    if not by_hash:
        return set()
    rows = session.execute(
        select(col(Suppression.address_hash)).where(
            col(Suppression.address_hash).in_(list(by_hash))
        )
    ).scalars()
    return {by_hash[h] for h in rows}


def suppress(
    session: Session, address: str, *, reason: str, now: datetime, detail: str = ""
) -> None:
    """Add an address to the suppression list (idempotent; the first reason is kept)."""
    key = address_hash(address)
    if session.get(Suppression, key) is None:
        session.add(
            Suppression(address_hash=key, reason=reason, detail=detail[:500], created_at=now)
        )
        session.flush()


def forget_detail(session: Session, address: str) -> None:
    """Blank the reason text kept with an address's suppression (a bounce quoting it)."""
    row = session.get(Suppression, address_hash(address))
    if row is not None and row.detail:
        row.detail = ""
        session.add(row)
        session.flush()


def unsuppress(session: Session, address: str, *, reasons: Sequence[str]) -> bool:
    """Lift a suppression of one of the given reasons (e.g. an erased member registering again)."""
    row = session.get(Suppression, address_hash(address))
    if row is not None and row.reason in reasons:
        session.delete(row)
        session.flush()
        return True
    return False


def forget_recipients(session: Session, recipient_ids: Sequence[int]) -> None:
    """Blank the personal data of these recipients' deliveries; skip what is still queued.

    Rows in flight (``sending``) are left to finish; their worker's re-check sees the member gone.
    """
    if not recipient_ids:
        return
    session.execute(
        update(Delivery)
        .where(col(Delivery.recipient_id).in_(list(recipient_ids)), col(Delivery.state) != SENDING)
        .values(
            address="",
            name="",
            personal={},
            last_error=None,  # a server's refusal quotes the address
            state=case((col(Delivery.state) == QUEUED, SKIPPED), else_=col(Delivery.state)),
        )
        .execution_options(synchronize_session=False)
    )
