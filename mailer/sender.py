"""Drain the outbox: claim, re-check, build, send, mark; one commit per message.

Crash safety rests on two rules. A row is claimed (``sending`` with a lease) and committed before
anything is sent, so no other worker sends it while this one holds it. A row becomes ``sent`` in
its own commit right after the SMTP server accepted it, before the next message is counted, so a
crash at any moment repeats at most the messages in flight and loses none: rows whose worker died
come back when their lease expires.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text as sql_text
from sqlalchemy import update
from sqlmodel import Session

from mailer import outbox
from mailer.bounces import verp_address
from mailer.clock import Clock
from mailer.compose import Personaliser
from mailer.message import Address, Envelope, HeaderInjection
from mailer.mime import CalendarPart, MessageLayout, make_message_id
from mailer.outbox import Campaign, Claimed, Delivery
from mailer.transport import Transport

log = logging.getLogger(__name__)

# Given a campaign and claimed rows, return the recipient ids still wanting this mail.
StillWanted = Callable[[Session, Campaign, Sequence[Claimed]], set[int]]
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
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.skipped += other.skipped
        self.released += other.released
        self.errors.extend(other.errors[:20])

    def describe(self) -> str:
        return (
            f"sent {self.sent}, retried {self.retried}, failed {self.failed}, "
            f"skipped {self.skipped}"
        )


@dataclass(frozen=True)
class _Prepared:
    # Plain values only: the cache is shared by sender threads, each with its own session.
    bulk: bool
    personaliser: Personaliser
    layout: MessageLayout
    domain: str


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
        lease: timedelta = timedelta(minutes=5),
        batch: int = 20,
        signer: Signer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.transport = transport
        self.clock = clock
        self.still_wanted = still_wanted
        self.bounce_address = bounce_address
        self.verp_key = verp_key
        self.lease = lease
        self.batch = batch
        self.signer = signer
        self.rng = rng or random.Random()
        self._prepared: dict[int, _Prepared] = {}
        self._lock = threading.Lock()

    # -- the loop -------------------------------------------------------------------------

    def drain(self, *, threads: int = 1, stop: threading.Event | None = None) -> DrainReport:
        """Send everything due now, with ``threads`` sending side by side; return when idle."""
        stop = stop or threading.Event()
        if threads <= 1:
            return self._drain_loop(stop)
        reports: list[DrainReport] = []
        lock = threading.Lock()

        def run() -> None:
            report = self._drain_loop(stop)
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
        return total

    def _drain_loop(self, stop: threading.Event) -> DrainReport:
        report = DrainReport()
        after_id = 0
        with self.session_factory() as session:
            while not stop.is_set():
                claimed = self._claim(session, after_id)
                if not claimed and after_id:
                    after_id = 0  # wrap around once for retries and expired leases
                    continue
                if not claimed:
                    break
                after_id = claimed[-1].id
                report.add(self._send_batch(session, claimed, stop))
        return report

    def _claim(self, session: Session, after_id: int) -> list[Claimed]:
        claimed = outbox.claim(
            session, now=self.clock(), lease=self.lease, limit=self.batch, after_id=after_id
        )
        session.commit()
        return claimed

    # -- one batch ------------------------------------------------------------------------

    def _send_batch(
        self, session: Session, claimed: list[Claimed], stop: threading.Event
    ) -> DrainReport:
        report = DrainReport()
        by_campaign: dict[int, list[Claimed]] = defaultdict(list)
        for row in claimed:
            by_campaign[row.campaign_id].append(row)
        for campaign_id, rows in by_campaign.items():
            sendable = self._recheck(session, campaign_id, rows, report)
            for index, row in enumerate(sendable):
                if stop.is_set():
                    self._release(session, [r.id for r in sendable[index:]], report)
                    break
                self._send_one(session, self._prepare(session, campaign_id), row, report)
        return report

    def _recheck(
        self, session: Session, campaign_id: int, rows: list[Claimed], report: DrainReport
    ) -> list[Claimed]:
        """Drop rows whose campaign was paused or cancelled, or whose member left meanwhile.

        This runs just before the batch is sent, so an unsubscribe or a pause takes effect
        within one small batch even for a campaign already being sent.
        """
        campaign = session.get(Campaign, campaign_id, populate_existing=True)
        if campaign is None or campaign.status == outbox.CANCELLED:
            outbox.mark_skipped(session, [r.id for r in rows], reason="campaign cancelled")
            session.commit()
            report.skipped += len(rows)
            return []
        if campaign.status == outbox.PAUSED:
            self._release(session, [r.id for r in rows], report)
            return []
        wanted = self.still_wanted(session, campaign, rows)
        blocked = outbox.suppressed(session, [r.address for r in rows])
        keep = [r for r in rows if r.recipient_id in wanted and r.address.lower() not in blocked]
        dropped = [r.id for r in rows if r not in keep]
        if dropped:
            outbox.mark_skipped(session, dropped, reason="recipient left or is suppressed")
            report.skipped += len(dropped)
        session.commit()
        return keep

    def _release(self, session: Session, ids: list[int], report: DrainReport) -> None:
        """Give claimed rows back to the queue untouched (pause, or a worker stopping)."""
        if ids:
            session.execute(
                update(Delivery)
                .where(Delivery.id.in_(ids), Delivery.state == outbox.SENDING)
                .values(state=outbox.QUEUED, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            report.released += len(ids)

    def _send_one(
        self, session: Session, prepared: _Prepared, row: Claimed, report: DrainReport
    ) -> None:
        now = self.clock()
        try:
            message_id = make_message_id(row.id, prepared.domain)
            message = self._build(prepared, row, message_id, now)
        except (HeaderInjection, ValueError) as err:
            outbox.mark_failed(
                session,
                row.id,
                now=now,
                attempts=row.attempts,
                code=None,
                error=f"cannot build message: {err}",
            )
            session.commit()
            report.failed += 1
            return
        envelope = Envelope(mail_from=self._envelope_from(prepared, row), rcpt_to=row.address)
        result = self.transport.send(envelope, message)
        now = self.clock()
        if result.outcome == "sent":
            self._fast_commit(session)
            outbox.mark_sent(session, row.id, now=now, message_id=message_id, attempts=row.attempts)
            report.sent += 1
        elif result.outcome == "reject":
            outbox.mark_failed(
                session,
                row.id,
                now=now,
                attempts=row.attempts,
                code=result.code,
                error=result.detail,
            )
            report.failed += 1
            report.errors.append(f"{row.address}: {result.code} {result.detail}")
        else:
            state = outbox.mark_retry(
                session,
                row.id,
                now=now,
                attempts=row.attempts,
                code=result.code,
                error=result.detail,
                rng=self.rng,
            )
            if state == outbox.FAILED:
                report.failed += 1
            else:
                report.retried += 1
        session.commit()

    def _fast_commit(self, session: Session) -> None:
        # On PostgreSQL, skip waiting for the WAL flush of the mark-sent commit: a database
        # crash could then forget that a message was sent and send it again, but never lose
        # one, and it lifts the ceiling of one fsync per message.
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sql_text("SET LOCAL synchronous_commit = off"))

    def _build(self, prepared: _Prepared, row: Claimed, message_id: str, now: object) -> bytes:
        values = {"name": row.name, **row.personal}
        bodies = prepared.personaliser.fill(values)
        unsubscribe = row.personal.get("unsubscribe_url") if prepared.bulk else None
        data = prepared.layout.build(
            to=Address(row.address, row.name),
            bodies=bodies,
            message_id=message_id,
            date=self.clock(),
            unsubscribe_url=unsubscribe,
        )
        return self.signer(data) if self.signer else data

    def _envelope_from(self, prepared: _Prepared, row: Claimed) -> str:
        if not self.bounce_address:
            return prepared.layout.sender.email
        return verp_address(self.bounce_address, row.id, key=self.verp_key)

    def _prepare(self, session: Session, campaign_id: int) -> _Prepared:
        with self._lock:
            cached = self._prepared.get(campaign_id)
        if cached is not None:
            return cached
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        sender = Address.parse(campaign.sender)
        calendar = (
            CalendarPart(campaign.calendar, campaign.calendar_method or "PUBLISH")
            if campaign.calendar
            else None
        )
        layout = MessageLayout(
            subject=campaign.subject,
            sender=sender,
            reply_to=Address.parse(campaign.reply_to) if campaign.reply_to else None,
            list_id=campaign.list_header,
            bulk=campaign.bulk,
            calendar=calendar,
        )
        prepared = _Prepared(
            campaign.bulk, Personaliser(campaign.rendered()), layout, sender.domain
        )
        with self._lock:
            self._prepared[campaign_id] = prepared
        return prepared
