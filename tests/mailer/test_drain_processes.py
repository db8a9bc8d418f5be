"""``drain_processes``: one campaign drained by several processes against the real SMTP server.

Each process builds its own sender from a picklable factory (its own engine and transport), as
``drain_processes`` requires; they share only the outbox. Every message must go out exactly once.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from mailer.clock import FrozenClock
from mailer.compose import RenderedMail
from mailer.engine import make_engine
from mailer.outbox import Delivery, Recipient
from mailer.sender import Sender, drain_processes
from mailer.transport import SmtpTransport
from subscribers.core.db import session_factory, transaction
from tests.smtp_server import ScriptedSMTP

MAIL = RenderedMail(
    kind="announcement",
    subject="Network news",
    html='<p>Hello @@name@@,</p><p><a href="@@unsubscribe_url@@">Unsubscribe</a></p>',
    text="Hello @@name@@,\n\nUnsubscribe: @@unsubscribe_url@@\n",
)


def make_sender(database_url: str, port: int, now: datetime, threads: int) -> Sender:
    """Runs in each drain process: everything is built there."""
    engine = make_engine(database_url)
    transport = SmtpTransport("127.0.0.1", port, connections=threads, timeout=10)
    return Sender(session_factory(engine), transport, FrozenClock(now), batch=7)


def broken_sender() -> Sender:
    raise RuntimeError("no database today")


def queue(new_session: Callable[[], Session], now: datetime, emails: list[str]) -> None:
    with transaction(new_session()) as s:
        campaign = outbox.create_campaign(
            s, rendered=MAIL, sender="Frontline Network <news@network.test>", now=now
        )
        recipients = [
            Recipient(i + 1, e, f"Member {i}", {"unsubscribe_url": f"http://x.test/u/{i + 1}"})
            for i, e in enumerate(emails)
        ]
        outbox.enqueue(s, campaign, recipients, now=now)


def test_two_processes_send_every_message_exactly_once(
    database_url: str,
    new_session: Callable[[], Session],
    clock: FrozenClock,
    smtp: ScriptedSMTP,
) -> None:
    emails = [f"member{i:03d}@example.org" for i in range(60)]
    queue(new_session, clock(), emails)

    factory = functools.partial(make_sender, database_url, smtp.port, clock(), 2)
    report = drain_processes(factory, processes=2, threads=2)

    assert (report.sent, report.failed, report.retried, report.errors) == (60, 0, 0, [])
    got = Counter(rcpt for m in smtp.messages for rcpt in m.rcpt_tos)
    assert got == Counter(dict.fromkeys(emails, 1))
    assert len({m.message["Message-ID"] for m in smtp.messages}) == 60
    with new_session() as s:
        assert Counter(s.execute(select(Delivery.state)).scalars()) == {"sent": 60}
    # Nothing is left to do for anyone.
    assert drain_processes(factory, processes=1, threads=1).sent == 0


def test_one_process_drains_here(
    database_url: str,
    new_session: Callable[[], Session],
    clock: FrozenClock,
    smtp: ScriptedSMTP,
) -> None:
    emails = [f"member{i:03d}@example.org" for i in range(5)]
    queue(new_session, clock(), emails)
    report = drain_processes(
        functools.partial(make_sender, database_url, smtp.port, clock(), 1), 1, 1
    )
    assert report.sent == 5
    received = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert received == Counter(dict.fromkeys(emails, 1))


def test_a_process_that_cannot_start_is_reported_not_waited_for(
    new_session: Callable[[], Session], clock: FrozenClock, smtp: ScriptedSMTP
) -> None:
    queue(new_session, clock(), ["member@example.org"])
    report = drain_processes(broken_sender, processes=2, threads=1)
    assert report.sent == 0
    assert len(report.errors) == 2
    assert all("RuntimeError: no database today" in e for e in report.errors)
    assert smtp.messages == []
