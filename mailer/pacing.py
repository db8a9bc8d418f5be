"""Per-recipient-domain pacing: how fast each receiving domain is sent to, and its back-off.

Large providers throttle senders per domain: too many messages a minute, or too many at once,
and they answer ``421``/``451`` ("try again later"). ``Pacer`` keeps, in one sending process, a
token bucket (messages per minute) and a count of messages on the wire for each limited domain;
a message that would exceed either waits in the outbox (its row is deferred, no attempt counted)
while messages to other domains keep going. A ``421`` or ``451`` from one domain pauses that
domain alone for ``PAUSE`` (a ``451`` only when it speaks of our pace: greylisting a mailbox
pauses nothing): the pause is a ``DomainPause`` row, so every worker honours it and
the campaign monitor can say "gmail.com: paused 5 min after 421".

Limits are per sending process: ``share`` divides them when several processes drain one outbox
(as ``NEWSLETTER_SEND_RATE`` is divided).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Field, Session, SQLModel, col

from mailer.dbtypes import UTCDateTime

PAUSE = timedelta(minutes=5)
# A 451 says "later" for many reasons, most of them about one mailbox (greylisting, a full
# disk); only one that speaks of our pace pauses the whole domain. A 421 always does: the
# server is closing the door on us.
_PACE_WORDS = re.compile(r"rate|limit|throttl|too many|too fast|slow down|busy|deferred due", re.I)
# A message held back by the connection limit is tried again this much later.
BUSY_DELAY = 1.0


@dataclass(frozen=True, slots=True)
class DomainLimit:
    """At most ``connections`` messages on the wire at once and ``per_minute`` a minute."""

    connections: int
    per_minute: float


# Starting points for the providers most members use, well under what they accept from a
# sender with a good reputation; NEWSLETTER_DOMAIN_LIMITS changes or adds to them.
DEFAULT_LIMITS: Mapping[str, DomainLimit] = {
    "gmail.com": DomainLimit(10, 1200),
    "googlemail.com": DomainLimit(10, 1200),
    "outlook.com": DomainLimit(5, 600),
    "hotmail.com": DomainLimit(5, 600),
    "live.com": DomainLimit(5, 600),
    "msn.com": DomainLimit(5, 600),
    "yahoo.com": DomainLimit(5, 600),
    "ymail.com": DomainLimit(5, 600),
    "aol.com": DomainLimit(5, 600),
    "icloud.com": DomainLimit(5, 600),
    "me.com": DomainLimit(5, 600),
    "gmx.de": DomainLimit(3, 300),
    "web.de": DomainLimit(3, 300),
    "wp.pl": DomainLimit(3, 300),
    "o2.pl": DomainLimit(3, 300),
}


def throttled(code: int | None, detail: str) -> bool:
    """Whether a reply asks us to slow down for the whole domain (then it is paused)."""
    return code == 421 or (code == 451 and _PACE_WORDS.search(detail) is not None)


def parse_limits(text: str | None) -> dict[str, DomainLimit]:
    """The limits in force: the defaults, changed by ``domain=connections/per_minute, ...``.

    ``off`` turns pacing off (no domain limited); an empty value keeps the defaults. Raises
    ``ValueError`` with a one-line message naming the bad entry.
    """
    value = (text or "").strip()
    if value.lower() == "off":
        return {}
    limits = dict(DEFAULT_LIMITS)
    for entry in filter(None, (part.strip() for part in value.split(","))):
        domain, sep, figures = entry.partition("=")
        connections, slash, per_minute = figures.partition("/")
        domain = domain.strip().lower()
        try:
            limit = DomainLimit(int(connections), float(per_minute))
        except ValueError:
            limit = None
        if (
            not sep
            or not slash
            or not domain
            or "@" in domain
            or " " in domain
            or limit is None
            or limit.connections < 1
            or not limit.per_minute > 0
            or math.isinf(limit.per_minute)
        ):
            raise ValueError(
                f"expected domain=connections/messages-per-minute (e.g. gmail.com=10/1200), "
                f"got {entry!r}"
            )
        limits[domain] = limit
    return limits


class DomainPause(SQLModel, table=True):
    """A receiving domain that asked us to slow down: nothing is sent to it until ``until``."""

    __tablename__ = "domain_pause"

    domain: str = Field(primary_key=True, max_length=255)
    until: datetime = Field(sa_type=UTCDateTime)
    paused_at: datetime = Field(sa_type=UTCDateTime)
    code: int | None = None
    detail: str = Field(default="", max_length=500)

    @property
    def minutes(self) -> int:
        """How long the pause is, in whole minutes (at least 1)."""
        return max(1, round((self.until - self.paused_at).total_seconds() / 60))


def pause(
    session: Session,
    domain: str,
    *,
    now: datetime,
    code: int | None,
    detail: str,
    length: timedelta = PAUSE,
) -> datetime:
    """Pause ``domain`` from ``now`` for ``length`` (in the caller's transaction); its end."""
    until = now + length
    row = session.get(DomainPause, domain)
    if row is None:
        row = DomainPause(domain=domain, until=until, paused_at=now)
    elif row.until >= until:
        return row.until  # already paused at least that long (another worker got there first)
    row.until, row.paused_at, row.code, row.detail = until, now, code, detail[:500]
    session.add(row)
    session.flush()
    return until


def active_pauses(session: Session, now: datetime) -> list[DomainPause]:
    """The domains paused at ``now``, by domain."""
    return list(
        session.execute(
            select(DomainPause)
            .where(col(DomainPause.until) > now)
            .order_by(col(DomainPause.domain))
        ).scalars()
    )


def share(limits: Mapping[str, DomainLimit], processes: int) -> dict[str, DomainLimit]:
    """Each of ``processes`` sending processes' part of ``limits``."""
    return {
        domain: DomainLimit(max(1, limit.connections // processes), limit.per_minute / processes)
        for domain, limit in limits.items()
    }


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


@dataclass
class _Domain:
    limit: DomainLimit
    tokens: float
    last: float
    on_wire: int = 0
    # Where the next deferred message is put, so that deferred ones come back at the domain's
    # pace instead of all at once.
    next_deferred: float = 0.0


@dataclass
class Pacer:
    """The pace of one sending process, per recipient domain; thread-safe."""

    limits: Mapping[str, DomainLimit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    monotonic: Callable[[], float] = time.monotonic
    _domains: dict[str, _Domain] = field(default_factory=dict, init=False, repr=False)
    _paused: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def slot(self, domain: str) -> float:
        """0 when a message to ``domain`` may go now (call ``done`` after it); otherwise how
        many seconds later it should be tried again."""
        limit = self.limits.get(domain)
        if limit is None:
            return 0.0
        rate = limit.per_minute / 60  # messages a second
        connections = limit.connections
        now = self.monotonic()
        with self._lock:
            state = self._domains.get(domain)
            burst = max(1.0, rate)
            if state is None:
                state = self._domains[domain] = _Domain(limit, burst, now)
            state.tokens = min(burst, state.tokens + (now - state.last) * rate)
            state.last = now
            if state.tokens >= 1.0 and state.on_wire < connections:
                state.tokens -= 1.0
                state.on_wire += 1
                return 0.0
            if state.tokens >= 1.0:
                return BUSY_DELAY
            at = max(now + (1.0 - state.tokens) / rate, state.next_deferred)
            state.next_deferred = at + 1.0 / rate
            return at - now

    def done(self, domain: str) -> None:
        """A message to ``domain`` given a slot has left the wire."""
        with self._lock:
            state = self._domains.get(domain)
            if state is not None and state.on_wire > 0:
                state.on_wire -= 1

    def paused_until(self, domain: str, now: datetime) -> datetime | None:
        """When a pause this process knows of ends, if ``domain`` is paused at ``now``."""
        with self._lock:
            until = self._paused.get(domain)
        return until if until is not None and until > now else None

    def know_pauses(self, pauses: Mapping[str, datetime]) -> None:
        """Remember pauses read from the database (or set by this process)."""
        with self._lock:
            self._paused.update(pauses)
