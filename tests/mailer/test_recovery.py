"""Short leases kept alive by a heartbeat, graceful hand-back, and who holds the rows in sending.

All on an injected clock: a test calls ``Sender.heartbeat`` where the worker's heartbeat thread
would (every ``lease / 3``), and advances the clock instead of waiting for a lease to run out.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from mailer import outbox, workers
from mailer.clock import FrozenClock
from mailer.message import Envelope
from mailer.sender import Sender
from mailer.transport import SmtpTransport
from subscribers.core.db import transaction
from tests.mailer.test_sender import (
    Hooked,
    NewSession,
    addresses,
    deliveries,
    queue,
    received,
    state_counts,
)
from tests.smtp_server import ScriptedSMTP

LEASE = workers.LEASE


def test_a_live_worker_keeps_its_rows_past_the_lease_by_its_heartbeat(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    """A slow server: 20 s per message, so a 10-row batch takes 200 s, well past the 30 s lease.
    The heartbeat renews the batch every 20 s: the worker keeps it all, and another worker
    finds nothing to take over."""
    emails = addresses(10)
    cid = queue(new_session, clock, emails)
    with SmtpTransport(smtp.host, smtp.port, connections=1, timeout=5) as other:
        worker_b = Sender(new_session, other, clock)
        taken_by_b: list[int] = []

        def slow_server(n: int, _envelope: Envelope) -> None:
            clock.advance(seconds=20)
            assert worker_a.heartbeat()
            if n == 6:
                taken_by_b.append(worker_b.drain().sent)

        worker_a = Sender(new_session, Hooked(transport, slow_server), clock, batch=10)
        report = worker_a.drain()

    assert (report.sent, report.released, taken_by_b) == (10, 0, [0])
    assert received(smtp) == Counter(dict.fromkeys(emails, 1))
    assert state_counts(new_session, cid)["sent"] == 10


def test_without_a_heartbeat_the_same_batch_is_handed_back_before_its_lease_ends(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    """The control for the test above: the heartbeat is what keeps the rows."""
    emails = addresses(10)
    queue(new_session, clock, emails)

    def slow_server(_n: int, _envelope: Envelope) -> None:
        clock.advance(seconds=20)

    worker_a = Sender(new_session, Hooked(transport, slow_server), clock, batch=10)
    first = worker_a.drain()
    # 20 s after the claim the 30 s lease is within its last tenth plus one message: the rest
    # goes back at once, so the drain goes on batch by batch; never two sends of one row.
    assert first.sent == 10 and first.released > 0
    assert received(smtp) == Counter(dict.fromkeys(emails, 1))


def test_a_dead_workers_rows_are_claimable_again_within_one_lease(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    emails = addresses(6)
    queue(new_session, clock, emails)
    with transaction(new_session()) as s:  # a worker claims three rows, commits, and dies
        dead = workers.register(s, now=clock())
        held = outbox.claim(s, now=clock(), lease=LEASE, limit=3, worker_id=dead.id)
    assert len(held) == 3

    survivor = Sender(new_session, transport, clock)
    assert survivor.drain().sent == 3  # the rest; the dead worker's rows wait for its lease
    clock.advance(seconds=29)
    assert survivor.drain().sent == 0
    clock.advance(seconds=2)  # one lease (30 s) and a second after the dead worker's claim
    assert survivor.drain().sent == 3
    clock.advance(hours=1)
    assert survivor.drain().sent == 0
    assert received(smtp) == Counter(dict.fromkeys(emails, 1))
    for row in deliveries(new_session).values():
        assert (row.state, row.attempts, row.lease_until) == ("sent", 1, None)
        assert row.worker_id == survivor.worker_id


def test_sigterm_hands_back_unstarted_rows_at_once_and_finishes_the_one_in_flight(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    """``hand_back`` is what the worker's main thread runs on SIGTERM, while a sender thread is
    in the middle of a message: the other 7 rows of the batch are queued again before that
    message even finishes, so another worker can take them right away."""
    emails = addresses(10)
    cid = queue(new_session, clock, emails)
    during: list[tuple[int, dict[str, int]]] = []

    def sigterm_during_third(n: int, _envelope: Envelope) -> None:
        if n == 3:
            during.append((worker.hand_back(), state_counts(new_session, cid)))

    worker = Sender(new_session, Hooked(transport, sigterm_during_third), clock, batch=10)
    report = worker.drain()

    released, states = during[0]
    assert released == 7
    assert (states["sent"], states["sending"], states["queued"]) == (2, 1, 7)
    assert report.sent == 3  # the message in flight was finished and marked
    after = state_counts(new_session, cid)
    assert (after["sent"], after["sending"], after["queued"]) == (3, 0, 7)
    assert sum(received(smtp).values()) == 3
    worker.sign_off()
    with new_session() as s:
        (me,) = s.execute(select(workers.Worker)).scalars()
        assert me.stopped_at == clock() and not me.alive(clock())
