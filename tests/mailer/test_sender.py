"""The sender against a real SMTP server (ScriptedSMTP) and a real database, on an injected clock.

Faults are scripted on the server (4xx, 5xx, a connection dropped in the middle of DATA); time
moves only when a test advances the ``FrozenClock``, so back-off and leases are exercised without
sleeping.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from mailer import outbox
from mailer.clock import FrozenClock
from mailer.compose import RenderedMail
from mailer.message import Envelope, SendResult
from mailer.outbox import MAX_ATTEMPTS, Delivery, Recipient
from mailer.sender import DrainReport, Sender
from mailer.transport import SmtpTransport, Transport
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

SENDER = "Frontline Network <news@network.test>"
MAIL = RenderedMail(
    kind="announcement",
    subject="Second transnational workshop",
    html='<p>Hello @@name@@,</p><p><a href="@@unsubscribe_url@@">Unsubscribe</a></p>',
    text="Hello @@name@@,\n\nUnsubscribe: @@unsubscribe_url@@\n",
)

NewSession = Callable[[], Session]


def addresses(n: int) -> list[str]:
    return [f"m{i:02d}@example.org" for i in range(n)]


def queue(
    new_session: NewSession,
    clock: FrozenClock,
    emails: Iterable[str],
    *,
    mail: RenderedMail = MAIL,
    sender: str = SENDER,
    send_after: datetime | None = None,
) -> int:
    """Store a campaign and one delivery per address; return the campaign id."""
    with transaction(new_session()) as s:
        campaign = outbox.create_campaign(
            s,
            rendered=mail,
            sender=sender,
            now=clock(),
            list_header='"Frontline Practitioners Network" <practitioners.network.test>',
            send_after=send_after,
        )
        recipients = [
            Recipient(
                i + 1,
                email,
                f"Member {i}",
                {"unsubscribe_url": f"http://newsletter.test/unsubscribe/{i + 1}"},
            )
            for i, email in enumerate(emails)
        ]
        outbox.enqueue(s, campaign, recipients, now=clock())
        assert campaign.id is not None
        return campaign.id


def deliveries(new_session: NewSession, campaign_id: int | None = None) -> dict[str, Delivery]:
    """Every delivery (of one campaign) by address, freshly read."""
    with new_session() as s:
        stmt = select(Delivery).order_by(Delivery.id)
        if campaign_id is not None:
            stmt = stmt.where(Delivery.campaign_id == campaign_id)
        return {d.address: d for d in s.execute(stmt).scalars()}


def received(smtp: ScriptedSMTP) -> Counter[str]:
    return Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)


def state_counts(new_session: NewSession, campaign_id: int) -> dict[str, int]:
    with new_session() as s:
        return outbox.counts(s, campaign_id).get(campaign_id, dict.fromkeys(outbox.STATES, 0))


def next_due(new_session: NewSession) -> datetime | None:
    """When the earliest queued delivery becomes due, or None when nothing is queued."""
    return min(
        (d.next_attempt_at for d in deliveries(new_session).values() if d.state == "queued"),
        default=None,
    )


def drain_until_idle(
    sender: Sender,
    new_session: NewSession,
    clock: FrozenClock,
    *,
    between: Callable[[int], None] = lambda _round: None,
    rounds: int = 20,
) -> list[DrainReport]:
    """Drain, move the clock to the next retry, drain again... until nothing is queued."""
    reports = []
    for round_ in range(rounds):
        reports.append(sender.drain())
        due = next_due(new_session)
        if due is None:
            return reports
        assert due > clock(), "a due delivery was left queued by a drain"
        clock.set(due)
        between(round_)
    raise AssertionError(f"still queued after {rounds} drains: {deliveries(new_session)}")


def forgive(smtp: ScriptedSMTP, address: str) -> None:
    """Stop rejecting ``address`` (ScriptedSMTP has no public call to lift reject_recipient)."""
    with smtp._lock:
        smtp._rejected.pop(address.lower(), None)


class Hooked:
    """A transport that calls ``before(n, envelope)`` ahead of the n-th send (1-based)."""

    def __init__(self, inner: Transport, before: Callable[[int, Envelope], None]) -> None:
        self.inner = inner
        self.before = before
        self.calls = 0

    def send(self, envelope: Envelope, message: bytes) -> SendResult:
        self.calls += 1
        self.before(self.calls, envelope)
        return self.inner.send(envelope, message)

    def close(self) -> None:
        self.inner.close()


class NoJitter(random.Random):
    """Back-off without jitter, so the delays are exact."""

    def uniform(self, a: float, b: float) -> float:
        return 1.0


@pytest.fixture
def sender(new_session: NewSession, transport: SmtpTransport, clock: FrozenClock) -> Sender:
    """A sender for outbox rows that are not members (still_wanted: everyone)."""
    return Sender(new_session, transport, clock, rng=random.Random(7))


# -- fault injection through the whole pipeline --------------------------------------------------


def test_faults_end_with_each_address_mailed_once_or_failed_for_good(
    rt: Runtime, smtp: ScriptedSMTP, session: Session, clock: FrozenClock
) -> None:
    lst = make_list(session, clock())
    emails = addresses(30)
    for i, address in enumerate(emails):
        make_member(session, clock(), lists_=(lst,), email=address, name=f"Member {i}")
    hard = {"m07@example.org", "m15@example.org", "m25@example.org"}
    for address in hard:
        smtp.reject_recipient(address, 550)
    smtp.answer_next("RCPT", 451, times=3)  # the next three recipients not scripted below
    smtp.drop_next("DATA")  # and the first DATA loses its connection mid-message
    smtp.reject_recipient("m10@example.org", 451)  # greylisted for one round
    smtp.reject_recipient("m20@example.org", 451)  # greylisted for two rounds
    with transaction(rt.new_session()) as s:
        campaign, count = create_announcement(
            s,
            rt.kit,
            Announcement("practitioners", "Second transnational workshop", "We meet **online**."),
            now=clock(),
        )
    assert count == 30

    def lift(_round: int) -> None:
        # Lift each greylisting once the address was refused once (m10) or twice (m20).
        rows = deliveries(rt.new_session, campaign.id)
        for address, refusals in (("m10@example.org", 1), ("m20@example.org", 2)):
            if rows[address].attempts >= refusals:
                forgive(smtp, address)

    reports = drain_until_idle(rt.sender, rt.new_session, clock, between=lift)

    first = reports[0]
    assert (first.sent, first.retried, first.failed, first.skipped) == (21, 6, 3, 0)
    assert sum(r.sent for r in reports) == 27 and sum(r.failed for r in reports) == 3
    rows = deliveries(rt.new_session, campaign.id)
    assert len(rows) == 30
    got = received(smtp)
    assert [a for a, n in got.items() if n > 1] == []  # no duplicates
    for address, row in rows.items():
        if address in hard:
            assert (row.state, row.last_code, row.attempts) == ("failed", 550, 1), address
            assert address not in got
        else:
            assert (row.state, row.last_code, row.last_error) == ("sent", 250, None), address
            assert got[address] == 1, address  # no losses
            assert row.sent_at is not None and row.message_id
    # Attempts: one per try. The three scripted 451s and the dropped DATA hit whichever rows
    # went first; m10 was refused once and m20 twice; everyone else got through at once.
    attempts = {a: r.attempts for a, r in rows.items()}
    assert (attempts["m10@example.org"], attempts["m20@example.org"]) == (2, 3)
    others = [n for a, n in attempts.items() if a not in {"m10@example.org", "m20@example.org"}]
    assert Counter(others) == Counter({1: 24, 2: 4})
    # The stored Message-ID is the one the recipient got.
    by_rcpt = {m.rcpt_tos[0]: m.message for m in smtp.messages}
    assert all(by_rcpt[a]["Message-ID"] == rows[a].message_id for a in by_rcpt)
    assert by_rcpt["m03@example.org"]["To"] == "Member 3 <m03@example.org>"


def test_persistent_4xx_fails_after_max_attempts_with_doubling_back_off(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    sender = Sender(new_session, transport, clock, rng=NoJitter())
    smtp.reject_recipient("m00@example.org", 452)
    queue(new_session, clock, ["m00@example.org", "m01@example.org"])

    delays = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = sender.drain()
        assert report.sent == (1 if attempt == 1 else 0)
        row = deliveries(new_session)["m00@example.org"]
        assert row.attempts == attempt and row.last_code == 452
        if attempt == MAX_ATTEMPTS:
            assert row.state == "failed" and report.failed == 1
            break
        assert row.state == "queued" and report.retried == 1
        delays.append(row.next_attempt_at - clock())
        # Not a second earlier.
        clock.set(row.next_attempt_at - timedelta(seconds=1))
        assert sender.drain().retried == 0
        clock.advance(seconds=1)

    assert delays == [timedelta(minutes=2**i) for i in range(MAX_ATTEMPTS - 1)]
    assert sender.drain() == DrainReport()
    assert received(smtp) == Counter({"m01@example.org": 1})


def test_back_off_with_jitter_stays_within_half_to_one_and_a_half_times_the_base(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    smtp.reject_recipient("m00@example.org", 421)
    queue(new_session, clock, ["m00@example.org"])
    for attempt in range(1, MAX_ATTEMPTS):
        sender.drain()
        row = deliveries(new_session)["m00@example.org"]
        base = timedelta(minutes=2 ** (attempt - 1))
        assert base * 0.5 <= row.next_attempt_at - clock() <= base * 1.5
        clock.set(row.next_attempt_at)
    sender.drain()
    assert deliveries(new_session)["m00@example.org"].state == "failed"


# -- pause, resume, cancel --------------------------------------------------------------------


def test_pause_stops_within_one_batch_and_resume_sends_the_rest(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    emails = addresses(20)
    campaign_id = queue(new_session, clock, emails)

    def pause_at_third(n: int, _envelope: Envelope) -> None:
        if n == 3:
            with transaction(new_session()) as s:
                outbox.set_status(s, campaign_id, outbox.PAUSED)

    sender = Sender(new_session, Hooked(transport, pause_at_third), clock, batch=5)
    report = sender.drain()

    # The batch already checked goes out; nothing after it.
    assert report.sent == 5 and len(smtp.messages) == 5
    counts = state_counts(new_session, campaign_id)
    assert (counts["sent"], counts["queued"], counts["sending"]) == (5, 15, 0)
    clock.advance(hours=1)
    assert sender.drain().sent == 0

    with transaction(new_session()) as s:
        assert outbox.set_status(s, campaign_id, outbox.ACTIVE).status == outbox.ACTIVE
    assert sender.drain().sent == 15
    assert received(smtp) == Counter(dict.fromkeys(emails, 1))


def test_a_paused_campaign_does_not_hold_up_another(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    paused = queue(new_session, clock, addresses(5))
    active = queue(new_session, clock, ["other@example.org"])
    with transaction(new_session()) as s:
        outbox.set_status(s, paused, outbox.PAUSED)
    assert sender.drain().sent == 1
    assert received(smtp) == Counter({"other@example.org": 1})
    assert state_counts(new_session, paused)["queued"] == 5
    assert state_counts(new_session, active)["sent"] == 1


def test_cancel_skips_what_is_queued_and_cannot_be_undone(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    campaign_id = queue(new_session, clock, addresses(12))

    def cancel_at_second(n: int, _envelope: Envelope) -> None:
        if n == 2:
            with transaction(new_session()) as s:
                outbox.set_status(s, campaign_id, outbox.CANCELLED)

    sender = Sender(new_session, Hooked(transport, cancel_at_second), clock, batch=4)
    report = sender.drain()

    # Rows in flight (the claimed batch) finish; every queued row is skipped.
    assert report.sent == 4 and len(smtp.messages) == 4
    counts = state_counts(new_session, campaign_id)
    assert (counts["sent"], counts["skipped"], counts["queued"]) == (4, 8, 0)
    skipped = [d for d in deliveries(new_session).values() if d.state == "skipped"]
    assert {d.last_error for d in skipped} == {"campaign cancelled"}

    with transaction(new_session()) as s:
        with pytest.raises(ValueError, match="cancelled"):
            outbox.set_status(s, campaign_id, outbox.ACTIVE)
        with pytest.raises(ValueError, match="cancelled"):
            outbox.set_status(s, campaign_id, outbox.PAUSED)
        assert outbox.set_status(s, campaign_id, outbox.CANCELLED).status == outbox.CANCELLED
    clock.advance(days=1)
    assert sender.drain().sent == 0 and len(smtp.messages) == 4


def test_set_status_rejects_unknown_campaigns_and_states(
    new_session: NewSession, clock: FrozenClock
) -> None:
    campaign_id = queue(new_session, clock, addresses(1))
    with new_session() as s:
        with pytest.raises(LookupError, match="no campaign 999"):
            outbox.set_status(s, 999, outbox.PAUSED)
        with pytest.raises(ValueError, match="unknown campaign status"):
            outbox.set_status(s, campaign_id, "done")
        assert s.get(outbox.Campaign, campaign_id).status == outbox.ACTIVE


def test_cancel_before_sending_sends_nothing(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    campaign_id = queue(new_session, clock, addresses(3))
    with transaction(new_session()) as s:
        outbox.set_status(s, campaign_id, outbox.CANCELLED)
    assert sender.drain() == DrainReport()
    assert smtp.messages == []
    assert state_counts(new_session, campaign_id)["skipped"] == 3


# -- who must not get the mail ------------------------------------------------------------------


def test_suppressed_address_is_skipped_whatever_its_case(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    emails = addresses(5)
    with transaction(new_session()) as s:
        outbox.suppress(s, "M03@Example.ORG", reason="hard_bounce", now=clock())
    campaign_id = queue(new_session, clock, emails)

    report = sender.drain()

    # Suppressed before the campaign was queued: no delivery is created for the address at all.
    assert (report.sent, report.skipped) == (4, 0)
    assert "m03@example.org" not in received(smtp)
    assert "m03@example.org" not in deliveries(new_session, campaign_id)
    clock.advance(days=1)
    assert sender.drain().sent == 0


def test_suppression_after_queueing_still_applies(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    queue(new_session, clock, addresses(3))
    with transaction(new_session()) as s:
        outbox.suppress(s, "m01@example.org", reason="complaint", now=clock())
    assert sender.drain().sent == 2
    assert set(received(smtp)) == {"m00@example.org", "m02@example.org"}


# -- leases -----------------------------------------------------------------------------------


def test_a_late_result_from_an_expired_lease_does_not_undo_the_new_holders_send(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    """Worker A claims a row, then hangs on a slow server past its lease; worker B takes the
    row over and sends it. A's late 4xx lands while B is sending. B's success must stand."""
    emails = ["m00@example.org", "m01@example.org"]
    queue(new_session, clock, emails)
    with transaction(new_session()) as s:
        _, stale = outbox.claim(s, now=clock(), lease=timedelta(minutes=5), limit=10)
    assert stale.address == "m01@example.org"
    clock.advance(minutes=6)

    def late_result_from_a(n: int, envelope: Envelope) -> None:
        if n == 2:  # while B sends m01, A's attempt at it times out
            assert envelope.rcpt_to == stale.address
            with transaction(new_session()) as s:
                outbox.mark_unsent(
                    s, stale.id, now=clock(), attempts=stale.attempts, code=None, error="timeout"
                )

    worker_b = Sender(new_session, Hooked(transport, late_result_from_a), clock)
    assert worker_b.drain().sent == 2
    # B's accepted message is on record; A's late retry must not have re-queued it.
    assert deliveries(new_session)["m01@example.org"].state == "sent"
    drain_until_idle(worker_b, new_session, clock)
    assert received(smtp) == Counter(dict.fromkeys(emails, 1))


def test_a_batch_outliving_its_lease_is_not_sent_twice(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    """A slow server (a minute per message here) makes a 20-row batch outlast the 5-minute
    lease. Another worker then rightly takes over the rest of the batch, so the first worker
    must not send those rows too: at most the message in flight may repeat."""
    emails = addresses(20)
    queue(new_session, clock, emails)
    with SmtpTransport(smtp.host, smtp.port, connections=1, timeout=5) as other:
        worker_b = Sender(new_session, other, clock)

        def slow_server(n: int, _envelope: Envelope) -> None:
            clock.advance(minutes=1)
            if n == 7:
                worker_b.drain()

        worker_a = Sender(new_session, Hooked(transport, slow_server), clock, batch=20)
        worker_a.drain()
        drain_until_idle(worker_a, new_session, clock)

    got = received(smtp)
    assert set(got) == set(emails)
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= 1, f"{duplicates} duplicates: {sorted(a for a, n in got.items() if n > 1)}"


def test_no_database_write_lock_is_held_while_talking_to_the_smtp_server(
    new_session: NewSession,
    engine: Engine,
    transport: SmtpTransport,
    clock: FrozenClock,
    smtp: ScriptedSMTP,
) -> None:
    """An SMTP conversation can take up to the transport timeout; the web app and the other
    sender threads must be able to write meanwhile (on SQLite one open write transaction
    blocks every other writer)."""
    campaign_id = queue(new_session, clock, addresses(3))
    blocked: list[str] = []

    def try_to_write(n: int, envelope: Envelope) -> None:
        try:
            if engine.dialect.name == "sqlite":
                take_sqlite_write_lock(engine, timeout=0.2)
            else:
                with engine.begin() as conn:
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                    conn.execute(
                        update(outbox.Campaign)
                        .where(outbox.Campaign.id == campaign_id)
                        .values(created_by="staff@network.test")
                    )
        except (sqlite3.OperationalError, OperationalError) as err:
            blocked.append(f"message {n} to {envelope.rcpt_to}: {err}")

    assert Sender(new_session, Hooked(transport, try_to_write), clock).drain().sent == 3
    assert blocked == []


# -- when -------------------------------------------------------------------------------------


def test_send_after_in_the_future_waits_for_the_clock(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    start = clock()
    queue(new_session, clock, addresses(3), send_after=start + timedelta(hours=2))
    now_campaign = queue(new_session, clock, ["now@example.org"])

    assert sender.drain().sent == 1
    clock.advance(minutes=119, seconds=59)
    assert sender.drain().sent == 0
    assert set(received(smtp)) == {"now@example.org"}
    clock.advance(seconds=1)
    assert sender.drain().sent == 3
    assert received(smtp) == Counter(dict.fromkeys([*addresses(3), "now@example.org"], 1))
    late = [m.message for m in smtp.messages if m.rcpt_tos[0] != "now@example.org"]
    assert all(m["Date"].datetime == start + timedelta(hours=2) for m in late)
    assert state_counts(new_session, now_campaign)["sent"] == 1


# -- one bad campaign -------------------------------------------------------------------------


def test_a_campaign_that_cannot_be_built_fails_its_rows_and_others_still_go_out(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    """A campaign whose headers cannot be built (here a line break stored in its subject; in
    practice e.g. a list's long non-ASCII From name) must fail its own deliveries, not stop
    the drain, leave its rows stuck in ``sending`` and block every later campaign."""
    broken = RenderedMail(kind="announcement", subject="Hi\r\nBcc: x@example.org", html="", text="")
    bad = queue(new_session, clock, ["bad0@example.org", "bad1@example.org"], mail=broken)
    good = queue(new_session, clock, ["good@example.org"])

    report = sender.drain()

    assert report.sent == 1 and report.failed == 2
    assert received(smtp) == Counter({"good@example.org": 1})
    assert state_counts(new_session, bad)["failed"] == 2
    assert state_counts(new_session, good)["sent"] == 1
    rows = deliveries(new_session, bad)
    assert all("cannot build message" in (r.last_error or "") for r in rows.values())


def test_messages_carry_personal_values_and_list_headers(
    sender: Sender, new_session: NewSession, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    queue(new_session, clock, ["m00@example.org"])
    sender.drain()
    (message,) = [m.message for m in smtp.messages]
    assert message["To"] == "Member 0 <m00@example.org>"
    assert message["List-Unsubscribe"] == "<http://newsletter.test/unsubscribe/1>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Hello Member 0," in text and "http://newsletter.test/unsubscribe/1" in text
    assert smtp.messages[0].mail_from == "news@network.test"


def take_sqlite_write_lock(engine: Engine, *, timeout: float) -> None:
    """Take SQLite's write lock from a connection of its own and give it back at once; raises
    sqlite3.OperationalError ("database is locked") if another holds it for ``timeout``."""
    db = sqlite3.connect(engine.url.database or "", timeout=timeout, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    finally:
        db.close()


def test_the_recheck_reads_without_the_write_lock(
    new_session: NewSession, engine: Engine, transport: SmtpTransport, clock: FrozenClock
) -> None:
    """On SQLite, the claim's re-check (who still wants the mail, suppressions) runs after the
    claim is committed, in a read transaction: a registration waiting for the write lock waits
    for the claim alone, not for the re-check too. The re-check's decisions are still written:
    the recipient who left is skipped, the others are sent."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock")
    queue(new_session, clock, addresses(3))
    locked: list[str] = []

    def still_wanted(session: Session, _campaign: object, rows: list) -> set[int]:  # type: ignore[type-arg]
        try:
            take_sqlite_write_lock(engine, timeout=0)  # another writer: the lock must be free
        except sqlite3.OperationalError as err:
            locked.append(str(err))
        return {row.recipient_id for row in rows if row.address != "m01@example.org"}

    report = Sender(new_session, transport, clock, still_wanted=still_wanted).drain()
    assert locked == []
    assert (report.sent, report.skipped) == (2, 1)
    with new_session() as s:
        states = dict(s.execute(select(Delivery.address, Delivery.state)).all())
    assert states == {
        "m00@example.org": outbox.SENT,
        "m01@example.org": outbox.SKIPPED,
        "m02@example.org": outbox.SENT,
    }
