"""A worker process killed with SIGKILL in the middle of a drain, then a second drain.

The child process is a real sender against the test database and the test's ScriptedSMTP
server; a 5 ms pause per message (in the child, through a transport wrapper) makes a 300-message
drain last long enough to kill it part-way. The child runs on the wall clock, so the second
drain, in this process, gets a FrozenClock set past the child's leases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from mailer.clock import FrozenClock
from mailer.compose import RenderedMail
from mailer.outbox import Delivery, Recipient
from mailer.sender import Sender
from mailer.transport import SmtpTransport
from subscribers.core.db import transaction
from tests.smtp_server import ScriptedSMTP

ROOT = Path(__file__).resolve().parents[2]
LEASE = timedelta(minutes=5)
MEMBERS = 300
KILL_AFTER = 90

CHILD = r"""
import sys
import time
from datetime import timedelta

from sqlmodel import Session

from mailer.clock import system_clock
from mailer.engine import make_engine
from mailer.sender import Sender
from mailer.transport import SmtpTransport

url, port, threads, lease_minutes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]


class Slow:
    # A wrapper that makes each message take a little longer, so the drain can be killed.
    def __init__(self, inner):
        self.inner = inner

    def send(self, envelope, message):
        time.sleep(0.005)
        return self.inner.send(envelope, message)

    def close(self):
        self.inner.close()


engine = make_engine(url)
transport = Slow(SmtpTransport("127.0.0.1", port, connections=threads, timeout=10))
sender = Sender(
    lambda: Session(engine, expire_on_commit=False),
    transport,
    system_clock,
    lease=timedelta(minutes=float(lease_minutes)),
)
print("draining", flush=True)
print(sender.drain(threads=threads).describe(), flush=True)
"""

MAIL = RenderedMail(
    kind="announcement",
    subject="Second transnational workshop",
    html="<p>Hello @@name@@,</p><p>We meet online on 6 November.</p>",
    text="Hello @@name@@,\n\nWe meet online on 6 November.\n",
)


def queue_campaign(new_session: Callable[[], Session], now: datetime, emails: list[str]) -> int:
    with transaction(new_session()) as s:
        campaign = outbox.create_campaign(
            s, rendered=MAIL, sender="Frontline Network <news@network.test>", now=now
        )
        recipients = [Recipient(i + 1, e, f"Member {i}") for i, e in enumerate(emails)]
        outbox.enqueue(s, campaign, recipients, now=now)
        assert campaign.id is not None
        return campaign.id


def states(new_session: Callable[[], Session]) -> Counter[str]:
    with new_session() as s:
        return Counter(s.execute(select(Delivery.state)).scalars())


@pytest.mark.parametrize("threads", [1, 3])
def test_worker_killed_mid_drain_repeats_at_most_the_messages_in_flight(
    threads: int,
    database_url: str,
    new_session: Callable[[], Session],
    transport: SmtpTransport,
    smtp: ScriptedSMTP,
    tmp_path: Path,
) -> None:
    emails = [f"member{i:03d}@example.org" for i in range(MEMBERS)]
    start = datetime.now(UTC) - timedelta(seconds=1)
    queue_campaign(new_session, start, emails)

    log = (tmp_path / "child.out").open("w+")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, str(smtp.port), str(threads), "5"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        try:
            smtp.wait_for(KILL_AFTER, timeout=30)
        except AssertionError:
            log.seek(0)
            raise AssertionError(f"child did not send; its output:\n{log.read()}") from None
        child.kill()  # SIGKILL: no clean-up, no release of claimed rows
    finally:
        child.kill()
        child.wait(timeout=10)
        log.close()
    assert child.returncode == -9

    at_kill = len(smtp.messages)
    assert at_kill < MEMBERS, "the child finished before it could be killed"
    # The child died holding a claimed batch (unless killed in the instant between batches).
    left = states(new_session)

    # A second worker on the wall clock sends what was never claimed, not the leased rows.
    now = datetime.now(UTC)
    Sender(new_session, transport, FrozenClock(now), lease=LEASE).drain()
    assert states(new_session)["queued"] == 0
    leased = states(new_session)["sending"]
    assert leased == left["sending"]

    # Past the dead worker's lease, its rows go out too.
    later = FrozenClock(now + LEASE + timedelta(minutes=1))
    report = Sender(new_session, transport, later, lease=LEASE).drain()
    assert report.sent == leased
    assert states(new_session) == Counter({"sent": MEMBERS})

    got = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
    assert set(got) == set(emails), f"lost: {sorted(set(emails) - set(got))[:10]}"
    duplicates = sum(n - 1 for n in got.values())
    # Each sender thread has at most one message in flight when the process dies.
    assert duplicates <= threads, sorted(a for a, n in got.items() if n > 1)


# -- five SIGKILLs in one campaign, on the wall clock with a short lease ---------------------------

WORKER = r"""
import signal
import sys
import threading
from dataclasses import replace
from datetime import timedelta

from mailer.engine import make_engine
from mailer.sender import Sender
from mailer.transport import SmtpTransport
from subscribers import worker
from subscribers.runtime import Runtime
from subscribers.core.settings import load

url, port, threads, lease, instance = sys.argv[1:6]
settings = load(
    {
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_INSTANCE_PATH": instance,
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_SMTP_CONNECTIONS": threads,
    },
    dotenv=None,
)
engine = make_engine(url)
# A rate limit stretches the campaign over a few seconds, so that it can be killed part-way.
transport = SmtpTransport("127.0.0.1", int(port), connections=int(threads), rate=RATE)
rt = Runtime.build(settings, engine=engine, transport=transport)
# The worker's own loop and sender, with everyone still wanting the mail and a short lease.
rt._sender = Sender(rt.new_session, transport, rt.clock, lease=timedelta(seconds=float(lease)))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print("draining", flush=True)
worker.drain_forever(rt, stop, interval=0.1)
"""
KILLS = 5
KILL_MEMBERS = 400
KILL_THREADS = 2
KILL_LEASE = 2.0  # seconds; the heartbeat renews every third of it
RATE = 200  # messages per second per worker


def start_worker(database_url: str, smtp: ScriptedSMTP, tmp_path: Path, n: int) -> Any:
    log = (tmp_path / f"worker{n}.out").open("w")
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER.replace("RATE", str(RATE)),
            database_url,
            str(smtp.port),
            str(KILL_THREADS),
            str(KILL_LEASE),
            str(tmp_path / "instance"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_five_times_mid_campaign_loses_nothing_and_recovers_within_a_lease(
    database_url: str,
    new_session: Callable[[], Session],
    smtp: ScriptedSMTP,
    tmp_path: Path,
) -> None:
    emails = [f"member{i:03d}@example.org" for i in range(KILL_MEMBERS)]
    queue_campaign(new_session, datetime.now(UTC) - timedelta(seconds=1), emails)
    step = KILL_MEMBERS // (KILLS + 2)
    workers_started = []
    try:
        for kill in range(KILLS):
            child = start_worker(database_url, smtp, tmp_path, kill)
            workers_started.append(child)
            # Let it send a share of the campaign (and hold a claimed batch), then SIGKILL it.
            smtp.wait_for(step * (kill + 1), timeout=60)
            child.kill()
            child.wait(timeout=10)
            assert child.returncode == -9
        assert states(new_session)["sending"] > 0, "no claimed rows left behind by the kills"
        restarted = time.monotonic()
        last = start_worker(database_url, smtp, tmp_path, KILLS)
        workers_started.append(last)
        while states(new_session)["sent"] < KILL_MEMBERS:
            assert last.poll() is None, (tmp_path / f"worker{KILLS}.out").read_text()
            assert time.monotonic() - restarted < 60, f"not done 60 s after: {states(new_session)}"
            time.sleep(0.05)
        recovered = time.monotonic() - restarted
    finally:
        for child in workers_started:
            child.kill()
            child.wait(timeout=10)
    print(  # noqa: T201 - the time-to-recover figure the README quotes
        f"\n{KILLS} SIGKILLs, {KILL_MEMBERS} members, lease {KILL_LEASE:g} s: campaign complete "
        f"{recovered:.1f} s after the last restart"
    )
    got = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
    assert set(got) == set(emails), f"lost: {sorted(set(emails) - set(got))[:10]}"
    duplicates = sum(n - 1 for n in got.values())
    # Each sender thread has at most one message in flight when its process dies.
    assert duplicates <= KILLS * KILL_THREADS, sorted(a for a, n in got.items() if n > 1)
    assert states(new_session) == Counter({"sent": KILL_MEMBERS})
