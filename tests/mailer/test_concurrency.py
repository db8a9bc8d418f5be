"""Two worker processes drain one large outbox side by side (PostgreSQL only).

Workers claim rows with ``FOR UPDATE SKIP LOCKED``; this checks, against a real server and a
real SMTP server, that two processes with several threads each never send a row twice and
together send every row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from mailer.compose import RenderedMail
from mailer.outbox import Delivery, Recipient
from subscribers.core.db import transaction
from tests.conftest import on_postgres
from tests.smtp_server import ScriptedSMTP

pytestmark = pytest.mark.skipif(
    not on_postgres(),
    reason="concurrent workers need PostgreSQL (FOR UPDATE SKIP LOCKED); SQLite serialises "
    "writers. Set NEWSLETTER_TEST_DATABASE_URL to a PostgreSQL database to run this.",
)

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 5000
WORKERS = 2
THREADS = 4  # sender threads, and SMTP connections, per worker process

CHILD = r"""
import json
import sys
from datetime import timedelta

from sqlmodel import Session

from mailer.clock import system_clock
from mailer.engine import make_engine
from mailer.sender import Sender
from mailer.transport import SmtpTransport

url, port, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
engine = make_engine(url, pool_size=threads + 1)
transport = SmtpTransport("127.0.0.1", port, connections=threads, timeout=10)
sender = Sender(lambda: Session(engine, expire_on_commit=False), transport, system_clock)
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"  # start together with the other worker
report = sender.drain(threads=threads)
transport.close()
print(json.dumps({"sent": report.sent, "failed": report.failed, "retried": report.retried,
                  "errors": report.errors[:5]}), flush=True)
"""

MAIL = RenderedMail(
    kind="announcement",
    subject="Network news",
    html="<p>Hello @@name@@,</p><p>The network meets online on 6 November.</p>",
    text="Hello @@name@@,\n\nThe network meets online on 6 November.\n",
)


def queue_campaign(new_session: Callable[[], Session], emails: list[str]) -> int:
    now = datetime.now(UTC) - timedelta(seconds=1)
    with transaction(new_session()) as s:
        campaign = outbox.create_campaign(
            s, rendered=MAIL, sender="Frontline Network <news@network.test>", now=now
        )
        recipients = [Recipient(i + 1, e, f"Member {i}") for i, e in enumerate(emails)]
        assert outbox.enqueue(s, campaign, recipients, now=now) == len(emails)
        assert campaign.id is not None
        return campaign.id


def test_two_worker_processes_send_every_message_exactly_once(
    database_url: str, new_session: Callable[[], Session], smtp: ScriptedSMTP
) -> None:
    emails = [f"member{i:05d}@example.org" for i in range(MESSAGES)]
    queue_campaign(new_session, emails)
    started = time.monotonic()

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, database_url, str(smtp.port), str(THREADS)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            assert line == "ready", f"worker did not start: {line} {worker.stderr.read()}"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [worker.communicate(timeout=90) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)
    elapsed = time.monotonic() - started

    reports = []
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{MESSAGES} messages by {WORKERS} workers in {elapsed:.1f}s: {reports}")  # noqa: T201
    assert [r["failed"] for r in reports] == [0] * WORKERS, reports
    assert [r["retried"] for r in reports] == [0] * WORKERS, reports
    assert sum(r["sent"] for r in reports) == MESSAGES, reports
    # Both processes really took part (they started together on a 5,000-row outbox).
    assert all(r["sent"] > 0 for r in reports), reports

    got = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
    assert [a for a, n in got.items() if n > 1] == []
    assert set(got) == set(emails)
    assert len(smtp.messages) == MESSAGES
    assert len({m.message["Message-ID"] for m in smtp.messages}) == MESSAGES
    with new_session() as s:
        assert Counter(s.execute(select(Delivery.state)).scalars()) == {"sent": MESSAGES}
