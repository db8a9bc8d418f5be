"""Drain the outbox: claim, re-check, build, send, mark; one commit per message.

Crash safety rests on two rules. A row is claimed (``sending`` with a lease) and committed before
anything is sent, so no other worker sends it while this one holds it. A row becomes ``sent`` in
its own commit right after the SMTP server accepted it, before the next message is counted, so a
crash at any moment repeats at most the messages in flight and loses none: rows whose worker died
come back when their lease expires. A worker never starts a message on a row whose lease is about
to run out: it hands the rest of its batch back instead, so that a slow server cannot make two
workers send the same rows.

Leases are short (``mailer.workers.LEASE``, 30 s) because a live sender keeps renewing them: its
heartbeat thread extends the rows it holds every ``lease / 3``. A SIGKILLed worker stops beating
and its rows go back to the queue within one lease; a stopping one hands back what it has not
started at once (``hand_back``). A message accepted by the server whose ``sent`` mark could not be
written (the database went away) is remembered and written as soon as the database answers
again, before anything else is claimed, so a worker that survives an outage sends nothing twice.

Speed: the campaign is prepared once (headers, MIME layout, the encoded literal parts of the
bodies), so a recipient costs their few personal values; the mark-sent commit is one prepared
statement on a connection of its own (``outbox.SentMarker``); no transaction stays open while
a message is on the wire. One process tops out near one core, so ``drain_processes`` runs the
drain in several.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import random
import signal
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from typing import Any, cast

from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from mailer import outbox, pacing, priority, workers
from mailer.bounces import EnvelopeSender, unsubscribe_mailto
from mailer.clock import Clock
from mailer.compose import Personaliser, RenderedMail
from mailer.engine import READ_ONLY, is_postgres
from mailer.message import Address, Envelope, HeaderInjection
from mailer.mime import CalendarPart, MessageLayout, make_message_id
from mailer.outbox import Campaign, Claimed, SentMarker
from mailer.pacing import Pacer, domain_of
from mailer.transport import Transport

log = logging.getLogger(__name__)

# Given a campaign and claimed rows, return the recipient ids still wanting this mail.
StillWanted = Callable[[Session, Campaign, Sequence[Claimed]], set[int]]
# A write the re-check decided on, made after its reads (see Sender._claim).
Later = list[Callable[[], object]]
Signer = Callable[[bytes], bytes]


def everyone(_session: Session, _campaign: Campaign, rows: Sequence[Claimed]) -> set[int]:
    """A ``StillWanted`` for tests and benchmarks: nobody has left."""
    return {row.recipient_id for row in rows}


@dataclass
class DrainReport:
    """What one drain did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    released: int = 0
    # Rows put back for later because their domain is paused or at its pace (mailer.pacing).
    deferred: int = 0
    # Why the SMTP server could not be reached, when it could not: the drain stopped there.
    unreachable: str = ""
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.skipped += other.skipped
        self.released += other.released
        self.deferred += other.deferred
        self.unreachable = self.unreachable or other.unreachable
        self.errors.extend(other.errors[:20])

    def describe(self) -> str:
        described = (
            f"sent {self.sent}, retried {self.retried}, failed {self.failed}, "
            f"skipped {self.skipped}"
        )
        if self.deferred:
            described += f", deferred {self.deferred} (domain paced or paused)"
        if self.unreachable:
            described += f"; the SMTP server could not be reached ({self.unreachable})"
        return described


# What a database that is locked, read-only, full or gone raises: through SQLAlchemy, or from
# the driver itself on the mark-sent fast path (outbox.SentMarker).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, sqlite3.Error)
try:
    import psycopg

    DATABASE_ERRORS += (psycopg.Error,)
except ImportError:  # pragma: no cover - PostgreSQL support is optional
    pass


def database_trouble(err: BaseException) -> str:
    """One line saying what went wrong with the database (no traceback, no SQL)."""
    original = getattr(err, "orig", None) or err
    first = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {first}"[:300]


@dataclass(frozen=True)
class _Prepared:
    # Plain values only: the cache is shared by sender threads, each with its own session.
    bulk: bool
    personaliser: Personaliser
    layout: MessageLayout
    domain: str


@dataclass(frozen=True)
class _Broken:
    """A campaign whose messages cannot be built (e.g. a control character in its subject)."""

    error: str


@dataclass(frozen=True)
class _Versions:
    """A campaign prepared once per language version; other languages read its own version."""

    own: _Prepared | _Broken
    by_language: dict[str, _Prepared | _Broken]

    def for_language(self, language: str | None) -> _Prepared | _Broken:
        return self.by_language.get(language or "", self.own)


@dataclass(eq=False)
class _Batch:
    """Rows claimed in one transaction, re-checked, and what is left to send, by campaign.

    ``lease_until`` is when the rows' lease ends; the heartbeat moves it on when it renews them.
    """

    lease_until: datetime
    last_id: int = 0
    ids: list[int] = field(default_factory=list)
    work: list[tuple[_Prepared, list[Claimed]]] = field(default_factory=list)
    report: DrainReport = field(default_factory=DrainReport)


@dataclass(frozen=True)
class _OwedMark:
    """A message the server accepted whose ``sent`` mark has not been written yet."""

    delivery_id: int
    now: datetime
    message_id: str
    attempts: int


class Sender:
    """Sends due deliveries through a transport; any number may run against one database."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        transport: Transport,
        clock: Clock,
        *,
        still_wanted: StillWanted = everyone,
        bounce_address: str | None = None,
        verp_key: bytes = b"",
        lease: timedelta = workers.LEASE,
        heartbeat: timedelta | None = None,
        batch: int = 100,
        signer: Signer | None = None,
        rng: random.Random | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.transport = transport
        self.clock = clock
        self.still_wanted = still_wanted
        self.bounce_address = bounce_address
        self.verp_key = verp_key
        self.lease = lease
        # No message is started on a row whose lease ends within this margin: the send (and
        # its mark) must finish while the row is still ours.
        self.lease_margin = lease / 10
        # Wall-clock seconds between two renewals of what this sender holds.
        self.heartbeat_every = (heartbeat or lease / 3).total_seconds()
        self.batch = batch
        self.signer = signer
        self.rng = rng or random.Random()
        self.pacer = pacer
        self._prepared: dict[int, _Versions] = {}
        self._lock = threading.Lock()
        # The envelope sender, parsed once: with VERP only the token changes per message.
        self._envelope = EnvelopeSender.of(bounce_address, key=verp_key) if bounce_address else None
        self._verp = self._envelope is not None and self._envelope.verp
        # Who this sender is (mailer.workers) and what it holds, shared by its threads and its
        # heartbeat under _state: batches being sent, rows on the wire, marks still to write.
        self._state = threading.Lock()
        self._register_lock = threading.Lock()
        self._worker_id: int | None = None
        self._batches: set[_Batch] = set()
        self._in_flight: set[int] = set()
        self._owed: dict[int, _OwedMark] = {}
        self._handing_back = False
        self._keepers = 0
        self._beating: tuple[threading.Event, threading.Thread] | None = None
        self._beat_failing = False

    @property
    def worker_id(self) -> int | None:
        """This sender's row in the worker table, once it has claimed something."""
        return self._worker_id

    def _holder(self) -> int:
        """The worker id the rows of a batch were claimed under (a claim registers it)."""
        assert self._worker_id is not None, "rows are claimed under a registered worker"
        return self._worker_id

    # -- heartbeat, hand-back -------------------------------------------------------------

    @contextmanager
    def keep_alive(self) -> Iterator[None]:
        """Renew what this sender holds every ``heartbeat_every`` seconds while inside.

        Re-entrant: a worker keeps one heartbeat over its whole life while each drain asks for
        one too.
        """
        with self._state:
            self._keepers += 1
            if self._beating is None:
                stop = threading.Event()
                thread = threading.Thread(
                    target=self._beat_until, args=(stop,), name="heartbeat", daemon=True
                )
                self._beating = (stop, thread)
                thread.start()
        try:
            yield
        finally:
            ending = None
            with self._state:
                self._keepers -= 1
                if self._keepers == 0:
                    ending, self._beating = self._beating, None
            if ending is not None:
                ending[0].set()
                ending[1].join()

    def _beat_until(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_every):
            self.heartbeat()

    def heartbeat(self) -> bool:
        """Say this worker is alive and extend the lease of every row it holds; False if the
        database could not be reached (the leases then run out unless a later beat succeeds)."""
        worker_id = self._worker_id
        if worker_id is None:
            return True
        now = self.clock()
        with self._state:
            batches = list(self._batches)
            held = {i for b in batches for i in b.ids} | set(self._owed)
        try:
            with self.session_factory() as session:
                workers.beat(session, worker_id, held, now=now, lease=self.lease)
                session.commit()
        except DATABASE_ERRORS as err:
            if not self._beat_failing:
                log.warning("heartbeat failed, leases not renewed: %s", database_trouble(err))
            self._beat_failing = True
            return False
        if self._beat_failing:
            log.info("heartbeat renewed again")
        self._beat_failing = False
        with self._state:
            for batch in batches:
                batch.lease_until = max(batch.lease_until, now + self.lease)
        return True

    def hand_back(self) -> int:
        """Give back at once every row claimed but not yet started (a stop, e.g. SIGTERM).

        The messages on the wire finish and are marked; no thread starts another one after this.
        Returns how many rows went back to the queue.
        """
        with self._state:
            self._handing_back = True
            keep = self._in_flight | set(self._owed)
        worker_id = self._worker_id
        if worker_id is None:
            return 0
        with self.session_factory() as session:
            try:
                released = outbox.hand_back(session, worker_id, keep=keep)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        return released

    def sign_off(self) -> None:
        """After the last drain: write owed marks, hand back what is left, record the stop."""
        worker_id = self._worker_id
        if worker_id is None:
            return
        with self.session_factory() as session:
            try:
                self._write_owed(session)
                outbox.hand_back(session, worker_id, keep=set(self._owed))
                workers.sign_off(session, worker_id, now=self.clock())
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def _settle(self, session: Session) -> None:
        """Before a drain: register, write owed marks, take back rows a failed drain left."""
        if self._worker_id is None:
            with self._register_lock:
                if self._worker_id is None:
                    worker = workers.register(session, now=self.clock(), lease=self.lease)
                    session.commit()
                    self._worker_id = worker.id
        assert self._worker_id is not None
        self._write_owed(session)
        with self._state:
            self._handing_back = False
            keep = {i for b in self._batches for i in b.ids} | set(self._owed)
        outbox.hand_back(session, self._worker_id, keep=keep)
        session.commit()

    def _write_owed(self, session: Session) -> None:
        """Write the marks of messages sent while the database could not record them."""
        with self._state:
            owed = list(self._owed.values())
        if not owed:
            return
        for mark in owed:
            outbox.mark_sent(
                session,
                mark.delivery_id,
                now=mark.now,
                message_id=mark.message_id,
                attempts=mark.attempts,
            )
        session.commit()
        with self._state:
            for mark in owed:
                self._owed.pop(mark.delivery_id, None)
        log.info("recorded %d sent messages owed since the database was down", len(owed))

    # -- the loop -------------------------------------------------------------------------

    def drain(self, *, threads: int = 1, stop: threading.Event | None = None) -> DrainReport:
        """Send everything due now, with ``threads`` sending side by side; return when idle."""
        stop = stop or threading.Event()
        with self.keep_alive():
            with self.session_factory() as session:
                try:
                    self._settle(session)
                except BaseException:
                    session.rollback()
                    raise
            return self._drain_threads(threads, stop)

    def _drain_threads(self, threads: int, stop: threading.Event) -> DrainReport:
        if threads <= 1:
            return self._drain_loop(stop)
        reports: list[DrainReport] = []
        failures: list[BaseException] = []
        lock = threading.Lock()

        def run() -> None:
            try:
                report = self._drain_loop(stop)
            except DATABASE_ERRORS as err:
                log.warning("sender thread stopped: %s", database_trouble(err))
                with lock:
                    failures.append(err)
                return
            except Exception as err:  # noqa: BLE001 - reported below, as one thread's failure
                log.exception("sender thread failed")
                with lock:
                    failures.append(err)
                return
            with lock:
                reports.append(report)

        workers = [threading.Thread(target=run, name=f"sender-{i}") for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        total = DrainReport()
        for report in reports:
            total.add(report)
        if failures and not reports:
            raise failures[0]  # as a single-threaded drain would
        for err in failures:
            total.errors.append(f"a sender thread stopped: {type(err).__name__}: {err}")
        return total

    def _drain_loop(self, stop: threading.Event) -> DrainReport:
        report = DrainReport()
        after_id = 0
        with self.session_factory() as session:
            marker = SentMarker.for_session(session)
            try:
                while not (stop.is_set() or self._handing_back):
                    batch = self._claim(session, after_id)
                    if not batch.last_id and after_id:
                        after_id = 0  # wrap around once for retries and expired leases
                        continue
                    if not batch.last_id:
                        break
                    after_id = batch.last_id
                    try:
                        report.add(self._send_batch(session, marker, batch, stop))
                    finally:
                        with self._state:
                            self._batches.discard(batch)
                    if report.unreachable:
                        break  # the SMTP server is down: the worker waits, then drains again
            finally:
                if marker is not None:
                    marker.close()
        return report

    def _claim(self, session: Session, after_id: int) -> _Batch:
        """Claim a batch in a short write transaction, then re-check it as a reader.

        On SQLite every writer waits for the one write lock, the web app's registrations too,
        and this worker runs at a lower priority: a re-check inside the claim's transaction
        (reading the campaign, who still wants it, suppressions, pauses) held the lock for
        milliseconds, stretched to a fifth of a second whenever the machine was busy. Now the
        lock covers the claim alone; the re-check reads in a read transaction, and what it
        decides (skip, release, defer, fail) is written afterwards, only when there is any.
        The rows are ours from the claim's commit on, so nobody else sends them meanwhile.
        """
        if self._owed:
            self._write_owed(session)  # before claiming more: what went out is on record
        now = self.clock()
        batch = _Batch(lease_until=now + self.lease)
        try:
            claimed = outbox.claim(
                session,
                now=now,
                lease=self.lease,
                limit=self.batch,
                after_id=after_id,
                worker_id=self._worker_id,
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
        if not claimed:
            return batch
        batch.last_id = claimed[-1].id
        batch.ids = [row.id for row in claimed]
        with self._state:
            self._batches.add(batch)  # the heartbeat renews them from now on
        by_campaign: dict[int, list[Claimed]] = defaultdict(list)
        for row in claimed:
            by_campaign[row.campaign_id].append(row)
        later: Later = []
        try:
            session.connection(execution_options={READ_ONLY: True})
            for campaign_id, rows in by_campaign.items():
                self._recheck(session, campaign_id, rows, batch, later)
            session.commit()
            if later:
                for write in later:
                    write()
                session.commit()
        except BaseException:
            session.rollback()
            with self._state:
                # Not renewed any more: the rows come back when their lease runs out, or at
                # once when this worker drains again (_settle).
                self._batches.discard(batch)
            raise
        return batch

    # -- one batch ------------------------------------------------------------------------

    def _send_batch(
        self,
        session: Session,
        marker: SentMarker | None,
        batch: _Batch,
        stop: threading.Event,
    ) -> DrainReport:
        report = batch.report
        for number, (prepared, rows) in enumerate(batch.work):
            for index, row in enumerate(rows):
                # batch.lease_until moves on with each heartbeat that renews these rows.
                nearly_up = self.clock() >= batch.lease_until - self.lease_margin
                stopping = stop.is_set() or nearly_up
                if not stopping and self._held_back(session, row, report):
                    continue  # its domain is paused or at its pace: deferred, others go on
                if stopping or not self._start_sending(row.id):
                    if not stopping and self.pacer is not None:
                        self.pacer.done(domain_of(row.address))  # the slot it was given
                    # Stopping, or the lease is nearly up: hand the rest back (still ours, so
                    # nobody else has them) rather than race another worker for them.
                    self._release(session, _rest(batch, number, index), report)
                    session.commit()
                    return report
                try:
                    self._send_one(session, marker, prepared, row, report)
                finally:
                    with self._state:
                        self._in_flight.discard(row.id)
                    if self.pacer is not None:
                        self.pacer.done(domain_of(row.address))
                if report.unreachable:
                    # Not this message's fault: it and the rest wait for the server, no attempt
                    # counted, and the drain ends so that the worker can back off.
                    self._release(session, _rest(batch, number, index), report)
                    session.commit()
                    return report
        return report

    def _held_back(self, session: Session, row: Claimed, report: DrainReport) -> bool:
        """Defer ``row`` (committed) when its domain is paused or at its pace; else False."""
        if self.pacer is None:
            return False
        now = self.clock()
        domain = domain_of(row.address)
        until = self.pacer.paused_until(domain, now)
        if until is None:
            wait = self.pacer.slot(domain)
            if not wait:
                return False
            until = now + timedelta(seconds=wait)
        self._defer(session, [row.id], until, report)
        session.commit()
        return True

    def _defer(
        self, session: Session, ids: list[int], until: datetime, report: DrainReport
    ) -> None:
        """Put claimed rows back in the queue until ``until``, no attempt counted; the caller
        commits."""
        report.deferred += outbox.hand_back(session, self._holder(), ids=ids, until=until)

    def _start_sending(self, delivery_id: int) -> bool:
        """Mark a row as on the wire, unless everything not yet started is being handed back."""
        with self._state:
            if self._handing_back:
                return False
            self._in_flight.add(delivery_id)
            return True

    def _recheck(
        self,
        session: Session,
        campaign_id: int,
        rows: list[Claimed],
        batch: _Batch,
        later: Later,
    ) -> None:
        """Drop rows whose campaign was paused or cancelled, or whose member left meanwhile.

        This runs right after the claim, just before the batch is sent, so an unsubscribe or a
        pause takes effect within one batch even for a campaign already being sent. What is
        left to send goes to ``batch.work``; the writes it decides on go to ``later`` (the
        caller makes them after these reads, see ``_claim``).
        """
        report = batch.report
        campaign = session.get(Campaign, campaign_id, populate_existing=True)
        if campaign is None or campaign.status == outbox.CANCELLED:
            ids = [r.id for r in rows]
            later.append(partial(outbox.mark_skipped, session, ids, reason="campaign cancelled"))
            report.skipped += len(rows)
            return
        if campaign.status == outbox.PAUSED:
            later.append(partial(self._release, session, [r.id for r in rows], report))
            return
        versions = self._prepare(session, campaign)
        wanted = self.still_wanted(session, campaign, rows)
        blocked = outbox.suppressed(session, [r.address for r in rows])
        keep = [r for r in rows if r.recipient_id in wanted and r.address.lower() not in blocked]
        if len(keep) < len(rows):
            kept = {r.id for r in keep}
            dropped = [r.id for r in rows if r.id not in kept]
            reason = "recipient left or is suppressed"
            later.append(partial(outbox.mark_skipped, session, dropped, reason=reason))
            report.skipped += len(dropped)
        if self.pacer is not None and keep:
            keep = self._without_paused(session, keep, report, later)
        by_version: dict[int, tuple[_Prepared | _Broken, list[Claimed]]] = {}
        for row in keep:
            version = versions.for_language(row.language)
            by_version.setdefault(id(version), (version, []))[1].append(row)
        for prepared, version_rows in by_version.values():
            if isinstance(prepared, _Broken):
                later.append(
                    partial(self._cannot_build, session, version_rows, prepared.error, report)
                )
            else:
                batch.work.append((prepared, version_rows))

    def _without_paused(
        self, session: Session, rows: list[Claimed], report: DrainReport, later: Later
    ) -> list[Claimed]:
        """Defer the rows whose domain another worker (or this one) paused (in ``later``);
        return the rest."""
        assert self.pacer is not None
        now = self.clock()
        self.pacer.know_pauses({p.domain: p.until for p in pacing.active_pauses(session, now)})
        waiting: dict[datetime, list[int]] = defaultdict(list)
        going = []
        for row in rows:
            until = self.pacer.paused_until(domain_of(row.address), now)
            if until is None:
                going.append(row)
            else:
                waiting[until].append(row.id)
        for until, ids in waiting.items():
            later.append(partial(self._defer, session, ids, until, report))
        return going

    def _cannot_build(
        self, session: Session, rows: Sequence[Claimed], error: str, report: DrainReport
    ) -> None:
        """Fail rows for good: their message cannot be built, and retrying will not change it."""
        now = self.clock()
        for row in rows:
            outbox.mark_unsent(
                session, row.id, now=now, attempts=row.attempts, code=None, error=error, retry=False
            )
        report.failed += len(rows)

    def _release(self, session: Session, ids: list[int], report: DrainReport) -> None:
        """Give claimed rows back to the queue untouched (pause, stop, lease nearly up); the
        caller commits."""
        if ids:
            report.released += outbox.hand_back(session, self._holder(), ids=ids)

    def _send_one(
        self,
        session: Session,
        marker: SentMarker | None,
        prepared: _Prepared,
        row: Claimed,
        report: DrainReport,
    ) -> None:
        now = self.clock()
        try:
            message_id = make_message_id(row.id, prepared.domain)
            mail_from = self._envelope_from(prepared, row)
            message = self._build(prepared, row, message_id, now, mail_from)
        except (HeaderInjection, ValueError) as err:
            self._cannot_build(session, [row], f"cannot build message: {err}", report)
            session.commit()
            return
        envelope = Envelope(mail_from=mail_from, rcpt_to=row.address)
        result = self.transport.send(envelope, message)
        now = self.clock()
        if result.outcome == "sent":
            try:
                if marker is not None:
                    # One autocommitted statement: sent, and committed, before we count it.
                    marker.mark_sent(row.id, now=now, message_id=message_id, attempts=row.attempts)
                else:
                    self._fast_commit(session)
                    outbox.mark_sent(
                        session, row.id, now=now, message_id=message_id, attempts=row.attempts
                    )
                    session.commit()
            except DATABASE_ERRORS:
                # It went out, but the database did not take the mark: keep the row (still ours,
                # still renewed) and write the mark as soon as the database answers again.
                with self._state:
                    self._owed[row.id] = _OwedMark(row.id, now, message_id, row.attempts)
                raise
            report.sent += 1
            return
        if result.unreachable:
            report.unreachable = result.detail
            return
        permanent = result.outcome == "reject"
        if (
            not permanent
            and self.pacer is not None
            and pacing.throttled(result.code, result.detail)
        ):
            self._pause_domain(session, row, result.code, result.detail, now)
        state = outbox.mark_unsent(
            session,
            row.id,
            now=now,
            attempts=row.attempts,
            code=result.code,
            error=result.detail,
            retry=not permanent,
            rng=self.rng,
        )
        if permanent:
            report.errors.append(f"{row.address}: {result.code} {result.detail}")
        if state == outbox.FAILED:
            report.failed += 1
        else:
            report.retried += 1
        session.commit()

    def _pause_domain(
        self, session: Session, row: Claimed, code: int | None, detail: str, now: datetime
    ) -> None:
        """The recipient's domain said "later": pause it alone (in the caller's transaction)."""
        assert self.pacer is not None
        domain = domain_of(row.address)
        until = pacing.pause(session, domain, now=now, code=code, detail=detail)
        self.pacer.know_pauses({domain: until})
        log.warning("%s: paused until %s after %s %s", domain, until, code, detail[:200])

    def _fast_commit(self, session: Session) -> None:
        # On PostgreSQL, skip waiting for the WAL flush of the mark-sent commit: a database
        # crash could then forget that a message was sent and send it again, but never lose
        # one, and it lifts the ceiling of one fsync per message. (SentMarker does the same.)
        if is_postgres(session):
            session.execute(sql_text("SET LOCAL synchronous_commit = off"))

    def _build(
        self, prepared: _Prepared, row: Claimed, message_id: str, now: datetime, mail_from: str
    ) -> bytes:
        personal = row.personal
        values = {"name": row.name, **personal}
        bodies = prepared.personaliser.fill(values)
        # With VERP the envelope sender names this delivery, so a mail to it can unsubscribe
        # exactly this member (``newsletter bounces process`` handles such requests).
        data = prepared.layout.build(
            to=Address(row.address, row.name),
            bodies=bodies,
            message_id=message_id,
            date=now,
            unsubscribe_url=personal.get("unsubscribe_url") if prepared.bulk else None,
            unsubscribe_mailto=unsubscribe_mailto(mail_from) if self._verp else None,
        )
        return self.signer(data) if self.signer else data

    def _envelope_from(self, prepared: _Prepared, row: Claimed) -> str:
        if self._envelope is None:
            return prepared.layout.sender.email
        return self._envelope.for_delivery(row.id)

    def _prepare(self, session: Session, campaign: Campaign) -> _Versions:
        """Everything about a campaign's messages that is the same for all its recipients.

        Once per language version: a campaign to seven languages prepares seven layouts and
        personalisers, then each recipient costs what it costs in a one-language campaign.
        """
        assert campaign.id is not None
        with self._lock:
            cached = self._prepared.get(campaign.id)
        if cached is not None:
            return cached
        rendered = outbox.versions(session, campaign)
        by_language = {
            language: self._prepare_version(campaign, version)
            for language, version in rendered.items()
        }
        prepared = _Versions(by_language[campaign.language], by_language)
        with self._lock:
            self._prepared[campaign.id] = prepared
        return prepared

    def _prepare_version(self, campaign: Campaign, rendered: RenderedMail) -> _Prepared | _Broken:
        try:
            sender = Address.parse(campaign.sender)
            calendar = (
                CalendarPart(campaign.calendar, campaign.calendar_method or "PUBLISH")
                if campaign.calendar
                else None
            )
            layout = MessageLayout(
                subject=rendered.subject,
                sender=sender,
                reply_to=Address.parse(campaign.reply_to) if campaign.reply_to else None,
                list_id=campaign.list_header,
                bulk=campaign.bulk,
                calendar=calendar,
                extra_headers=(("Content-Language", rendered.language),),
            )
            return _Prepared(campaign.bulk, Personaliser(rendered), layout, sender.domain)
        except (HeaderInjection, ValueError) as err:
            log.error("campaign %s cannot be built: %s", campaign.id, err)
            return _Broken(f"cannot build message: {err}")


def _rest(batch: _Batch, number: int, index: int) -> list[int]:
    """The ids of a batch from row ``index`` of its ``number``-th campaign group on."""
    rows = batch.work[number][1][index:]
    later = [r for _, group in batch.work[number + 1 :] for r in group]
    return [r.id for r in rows + later]


# -- several processes ----------------------------------------------------------------------------


# What multiprocessing.get_context returns for each start method drain_processes accepts.
_ProcessContext = SpawnContext | ForkContext | ForkServerContext


def _drain_child(
    make_sender: Callable[[], Sender],
    threads: int,
    stop: Any,
    results: Any,
    index: int,
) -> None:
    """Body of one drain process: build its own sender (engine, transport), drain, report."""
    # The parent owns Ctrl-C: it asks every process to stop after the messages in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    priority.lower_priority()  # this process only sends: requests on this machine come first
    report = DrainReport()
    try:
        sender = make_sender()
        try:
            report = sender.drain(threads=threads, stop=stop)
        finally:
            sender.transport.close()
    except BaseException as err:  # noqa: BLE001 - handed to the parent, not lost
        report.errors.append(f"drain process {index}: {type(err).__name__}: {err}")
    results.put((index, report))


def default_parallelism(cores: int | None = None) -> tuple[int, int]:
    """Processes and SMTP connections per process for a machine with ``cores`` cores.

    A process tops out near one core, so one per core; two connections each keep a process busy
    while one waits for the server's reply (more only add contention for the database).
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores), 2


def drain_processes(
    make_sender: Callable[[], Sender],
    processes: int,
    threads: int,
    *,
    stop: threading.Event | None = None,
    start_method: str = "spawn",
) -> DrainReport:
    """Drain with ``processes`` processes of ``threads`` sending threads each; return the sum.

    A process tops out near one core (the GIL), so a large campaign is sent by several; they
    share nothing but the outbox, and its leases keep them off each other's rows. Each process
    calls ``make_sender`` and so builds everything itself: its own engine (a connection pool
    must never cross a fork) and transport. ``make_sender`` must therefore be picklable: a
    module-level function, or a ``functools.partial`` of one with picklable arguments.

    ``start_method`` is a multiprocessing start method; "spawn" (the default) is safe from a
    process with threads, "fork" starts faster from one without. With ``processes`` of 1 the
    drain runs here. ``stop`` (or Ctrl-C here) makes every process stop after the messages in
    flight. A process that fails or dies is reported in ``errors``; its claimed rows come back
    when their lease expires.
    """
    if processes <= 1:
        sender = make_sender()
        try:
            return sender.drain(threads=threads, stop=stop)
        finally:
            sender.transport.close()
    # Every start method's context has Process; typeshed declares it on each concrete one only.
    ctx = cast(_ProcessContext, multiprocessing.get_context(start_method))
    child_stop = ctx.Event()
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_drain_child,
            args=(make_sender, threads, child_stop, results, index),
            name=f"drain-{index}",
            daemon=True,
        )
        for index in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = DrainReport()
    pending = set(range(processes))
    interrupted: BaseException | None = None
    while pending:
        try:
            if stop is not None and stop.is_set():
                child_stop.set()
            index, report = results.get(timeout=0.2)
        except queue.Empty:
            gone = [i for i in pending if workers[i].exitcode is not None]
            if not gone:
                continue
            # A process may have put its report just before exiting: collect what is queued.
            try:
                while True:
                    index, report = results.get(timeout=0.5)
                    pending.discard(index)
                    total.add(report)
            except queue.Empty:
                pass
            for index in gone:
                if index in pending:
                    pending.discard(index)
                    total.errors.append(
                        f"drain process {index} exited with code {workers[index].exitcode}"
                    )
            continue
        except KeyboardInterrupt as err:
            child_stop.set()
            interrupted = err
            continue
        pending.discard(index)
        total.add(report)
    for worker in workers:
        worker.join()
    results.close()
    if interrupted is not None:
        raise interrupted
    return total
