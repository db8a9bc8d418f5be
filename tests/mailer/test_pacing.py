"""Per-recipient-domain pacing (mailer.pacing) through the sender, against a real SMTP server
that throttles one domain only, on an injected clock."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox, pacing
from mailer.clock import FrozenClock
from mailer.compose import RenderedMail
from mailer.outbox import Delivery, Recipient
from mailer.pacing import BUSY_DELAY, DEFAULT_LIMITS, DomainLimit, DomainPause, Pacer
from mailer.sender import Sender
from mailer.transport import SmtpTransport
from subscribers.core.db import transaction
from tests.smtp_server import ScriptedSMTP

NewSession = Callable[[], Session]
MAIL = RenderedMail(kind="announcement", subject="Workshop", html="<p>Hi @@name@@</p>", text="Hi")
SLOW, FAST = "slow.test", "example.org"


def queue(new_session: NewSession, clock: FrozenClock, emails: list[str]) -> int:
    with transaction(new_session()) as s:
        campaign = outbox.create_campaign(s, rendered=MAIL, sender="news@network.test", now=clock())
        recipients = [Recipient(i + 1, email, f"Member {i}") for i, email in enumerate(emails)]
        outbox.enqueue(s, campaign, recipients, now=clock())
        assert campaign.id is not None
        return campaign.id


def mixed(per_domain: int) -> list[str]:
    """Addresses alternating between the slow and the fast domain."""
    return [f"m{i}@{domain}" for i in range(per_domain) for domain in (SLOW, FAST)]


def rows(new_session: NewSession) -> dict[str, Delivery]:
    with new_session() as s:
        return {d.address: d for d in s.execute(select(Delivery)).scalars()}


def received(smtp: ScriptedSMTP) -> Counter[str]:
    return Counter(rcpt.rpartition("@")[2] for m in smtp.messages for rcpt in m.rcpt_tos)


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_sender(
    new_session: NewSession, transport: SmtpTransport, clock: FrozenClock, pacer: Pacer
) -> Sender:
    return Sender(new_session, transport, clock, rng=random.Random(7), pacer=pacer)


def test_a_421_from_one_domain_pauses_that_domain_only(
    new_session: NewSession, smtp: ScriptedSMTP, transport: SmtpTransport, clock: FrozenClock
) -> None:
    queue(new_session, clock, mixed(6))
    smtp.answer_domain(SLOW, 421)
    sender = make_sender(new_session, transport, clock, Pacer({}))

    report = sender.drain()

    # The other domain went out in full in this drain; the slow one was tried once, then waited.
    assert received(smtp) == Counter({FAST: 6})
    assert smtp.refusals == 1
    assert (report.sent, report.retried, report.deferred) == (6, 1, 5)
    slow = [d for a, d in rows(new_session).items() if a.endswith(SLOW)]
    assert all(d.state == "queued" for d in slow)
    assert sorted(d.attempts for d in slow) == [0, 0, 0, 0, 0, 1]
    untouched = [d for d in slow if d.attempts == 0]
    assert all(d.next_attempt_at == clock() + pacing.PAUSE for d in untouched)
    with new_session() as s:
        (paused,) = pacing.active_pauses(s, clock())
    assert (paused.domain, paused.code, paused.minutes) == (SLOW, 421, 5)

    # Nothing goes to the paused domain before the pause ends, even from a new sender.
    clock.advance(minutes=4)
    other = make_sender(new_session, transport, clock, Pacer({}))
    assert other.drain().sent == 0 and smtp.refusals == 1

    smtp.lift_domain(SLOW)
    clock.advance(minutes=1)
    assert other.drain().sent == 6
    assert received(smtp) == Counter({FAST: 6, SLOW: 6})
    with new_session() as s:
        assert pacing.active_pauses(s, clock()) == []


def test_a_451_about_our_pace_pauses_too_but_greylisting_does_not(
    new_session: NewSession, smtp: ScriptedSMTP, transport: SmtpTransport, clock: FrozenClock
) -> None:
    queue(
        new_session, clock, [f"m{i}@{SLOW}" for i in range(3)] + [f"x{i}@{FAST}" for i in range(3)]
    )
    smtp.answer_domain(FAST, 451, "4.7.1 Greylisted, please try again later")
    smtp.answer_domain(SLOW, 451, "4.7.0 Rate limit exceeded, slow down")
    sender = make_sender(new_session, transport, clock, Pacer({}))

    report = sender.drain()

    # Each greylisted mailbox was tried (and will be again); the slow domain once, then paused.
    assert (report.retried, report.deferred) == (4, 2)
    with new_session() as s:
        assert [p.domain for p in pacing.active_pauses(s, clock())] == [SLOW]


def test_a_domain_over_its_pace_waits_while_the_others_go(
    new_session: NewSession, smtp: ScriptedSMTP, transport: SmtpTransport, clock: FrozenClock
) -> None:
    queue(new_session, clock, mixed(4))
    ticks = Ticks()
    sender = make_sender(
        new_session, transport, clock, Pacer({SLOW: DomainLimit(5, 60)}, monotonic=ticks)
    )

    report = sender.drain()

    # One a second: the first goes now, the others come back one second apart.
    assert received(smtp) == Counter({FAST: 4, SLOW: 1})
    assert report.deferred == 3
    waiting = sorted(d.next_attempt_at for a, d in rows(new_session).items() if d.state == "queued")
    assert waiting == [clock() + timedelta(seconds=s) for s in (1, 2, 3)]
    assert all(d.attempts == 0 for d in rows(new_session).values() if d.state == "queued")


def test_pacer_spaces_messages_and_limits_those_on_the_wire() -> None:
    ticks = Ticks()
    pacer = Pacer({SLOW: DomainLimit(1, 120)}, monotonic=ticks)  # two a second, one at a time

    assert pacer.slot(FAST) == 0.0  # an unlimited domain
    assert pacer.slot(SLOW) == 0.0
    ticks.now += 1.0
    assert pacer.slot(SLOW) == BUSY_DELAY  # a token, but one message already on the wire
    pacer.done(SLOW)
    assert pacer.slot(SLOW) == 0.0
    pacer.done(SLOW)
    assert pacer.slot(SLOW) == 0.0  # the bucket held two tokens (one second's worth)
    pacer.done(SLOW)
    assert [pacer.slot(SLOW) for _ in range(3)] == [0.5, 1.0, 1.5]


@pytest.mark.parametrize(
    ("code", "detail", "paused"),
    [(421, "4.7.0 Try again later, closing connection", True),
     (451, "4.7.28 Our system has detected an unusual rate of mail", True),
     (451, "4.3.2 Too many connections from your IP", True),
     (451, "4.7.1 Greylisting in action, please come back later", False),
     (450, "4.2.1 Rate limited", False), (452, "4.2.2 Mailbox full", False)],
)  # fmt: skip
def test_which_replies_pause_the_domain(code: int, detail: str, paused: bool) -> None:
    assert pacing.throttled(code, detail) is paused


def test_limits_setting() -> None:
    assert pacing.parse_limits("") == dict(DEFAULT_LIMITS)
    assert pacing.parse_limits("off") == {}
    limits = pacing.parse_limits(" gmail.com=2/100 , Lists.Example.ORG=1/30")
    assert limits["gmail.com"] == DomainLimit(2, 100)
    assert limits["lists.example.org"] == DomainLimit(1, 30)
    assert limits["yahoo.com"] == DEFAULT_LIMITS["yahoo.com"]
    assert pacing.share(limits, 2)["gmail.com"] == DomainLimit(1, 50)


@pytest.mark.parametrize("bad", ["gmail.com", "gmail.com=2", "=2/10", "x.org=0/10", "x.org=2/0",
                                 "x.org=a/10", "a@x.org=1/10", "x.org=1/inf"])  # fmt: skip
def test_bad_limits_are_refused_with_one_line(bad: str) -> None:
    with pytest.raises(ValueError, match="domain=connections/messages-per-minute"):
        pacing.parse_limits(bad)


def test_a_longer_pause_is_kept(new_session: NewSession, clock: FrozenClock) -> None:
    with transaction(new_session()) as s:
        long = pacing.pause(s, SLOW, now=clock(), code=421, detail="x", length=timedelta(hours=1))
        assert pacing.pause(s, SLOW, now=clock(), code=451, detail="y") == long
    with new_session() as s:
        row = s.get(DomainPause, SLOW)
        assert row is not None and (row.code, row.minutes) == (421, 60)
