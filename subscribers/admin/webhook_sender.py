"""Delivering webhooks: claim due rows with a lease, POST each signed, record the outcome.

The same life as a mail delivery in mailer/outbox.py (its states, its back-off, its lease): a
worker moves due rows to ``sending`` with a lease and commits; each outcome is its own commit.
A worker that dies mid-delivery leaves its rows ``sending`` until the lease runs out, and then
another takes them: a delivery may arrive twice (same ``webhook-id``, which receivers drop), but
is never lost. Retries back off as mail does (about 1, 2, 4... minutes, at most 6 hours apart)
until 24 hours of waiting are spent; then the delivery fails for good, and can be replayed.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from mailer import outbox
from mailer.clock import Clock
from mailer.dbtypes import table_of
from subscribers.admin import webhooks
from subscribers.core.errors import InvalidInput
from subscribers.core.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

LEASE = timedelta(minutes=2)
TIMEOUT = 10.0  # seconds for connecting and for the answer
BATCH = 50
USER_AGENT = "network-newsletter-webhooks/1"


@dataclass(frozen=True)
class Due:
    delivery_id: int
    attempts: int
    url: str
    secret: str
    msg_id: str
    payload: str


@dataclass(frozen=True)
class Outcome:
    code: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.code is not None and 200 <= self.code < 300


def retry_window_spent(attempts: int) -> bool:
    """Whether the back-off waits of ``attempts`` failures add up to the 24-hour window."""
    waited = sum((outbox.next_delay(n, _Midpoint()) for n in range(1, attempts + 1)), timedelta())
    return waited >= webhooks.RETRY_FOR


class _Midpoint:
    """The jitter's middle: the window is counted without chance."""

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2


def claim(
    session: Session, *, now: datetime, lease: timedelta = LEASE, limit: int = BATCH
) -> list[Due]:
    """Move due deliveries to ``sending`` with a lease and return them (caller commits at once).

    Due: queued and its time has come, or sending with a lease run out (its worker died).
    """
    table = table_of(WebhookDelivery)
    due = (
        select(table.c.id)
        .where(
            or_(
                (table.c.state == outbox.QUEUED) & (table.c.next_attempt_at <= now),
                (table.c.state == outbox.SENDING) & (table.c.lease_until < now),
            )
        )
        .order_by(table.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(
        session.execute(
            update(table)
            .where(table.c.id.in_(due.scalar_subquery()))
            .values(state=outbox.SENDING, lease_until=now + lease)
            .returning(table.c.id)
        ).scalars()
    )
    if not ids:
        return []
    rows = session.execute(
        select(WebhookDelivery, WebhookEndpoint, WebhookMessage)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
        .where(col(WebhookDelivery.id).in_(ids))
        .order_by(col(WebhookDelivery.id))
    ).all()
    return [
        Due(d.id, d.attempts, e.url, e.secret, m.msg_id, m.payload)
        for d, e, m in rows
        if d.id is not None
    ]


def record(session: Session, due: Due, outcome: Outcome, *, now: datetime, took_ms: int) -> str:
    """Write an attempt and the delivery's new state; returns that state.

    Only a row still ``sending`` is changed: a worker whose lease ran out and whose row was
    taken over must not overwrite the new holder's result.
    """
    session.add(
        WebhookAttempt(
            delivery_id=due.delivery_id,
            at=now,
            code=outcome.code,
            error=outcome.error[:500],
            duration_ms=took_ms,
        )
    )
    tried = due.attempts + 1
    values: dict[str, Any] = {
        "attempts": tried,
        "lease_until": None,
        "last_code": outcome.code,
        "last_error": outcome.error[:500] or None,
    }
    if outcome.ok:
        values.update(state=outbox.SENT, delivered_at=now, last_error=None)
    elif retry_window_spent(tried):
        values.update(state=outbox.FAILED)
    else:
        values.update(state=outbox.QUEUED, next_attempt_at=now + outbox.next_delay(tried))
    session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == due.delivery_id, col(WebhookDelivery.state) == outbox.SENDING
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return str(values["state"])


Poster = Callable[[str, bytes, dict[str, str], bool], Outcome]


def post(url: str, body: bytes, headers: dict[str, str], allow_private: bool) -> Outcome:
    """POST to the URL, connecting only to an address checked just now (no redirects)."""
    try:
        _text, host, port = webhooks.check_url(url)
        addresses = webhooks.public_addresses(host, port, allow_private=allow_private)
    except InvalidInput as err:
        return Outcome(None, str(err))
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    last_error = "no address"
    for address in addresses:
        connection = _connection(parts.scheme, host, address, port)
        try:
            connection.request("POST", target, body=body, headers={**headers, "Host": parts.netloc})
            response = connection.getresponse()
            response.read(64 * 1024)
            return Outcome(response.status, "" if 200 <= response.status < 300 else response.reason)
        except (OSError, http.client.HTTPException) as err:
            last_error = f"{type(err).__name__}: {err}"
        finally:
            connection.close()
    return Outcome(None, last_error)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to one checked address, with the certificate checked for the host name."""

    def __init__(self, host: str, address: str, port: int) -> None:
        tls = ssl.create_default_context()
        super().__init__(host, port, timeout=TIMEOUT, context=tls)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int) -> None:
        super().__init__(host, port, timeout=TIMEOUT)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def _connection(scheme: str, host: str, address: str, port: int) -> http.client.HTTPConnection:
    if scheme == "https":
        return _PinnedHTTPS(host, address, port)
    return _PinnedHTTP(host, address, port)


def signed_headers(due: Due, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": due.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.signature(due.secret, due.msg_id, timestamp, due.payload),
    }


@dataclass
class Report:
    delivered: int = 0
    retried: int = 0
    failed: int = 0

    def describe(self) -> str:
        return (
            f"webhooks: {self.delivered} delivered, {self.retried} to retry, {self.failed} failed"
        )


def deliver_due(
    new_session: Callable[[], Session],
    clock: Clock,
    *,
    allow_private: bool,
    poster: Poster = post,
    limit: int = BATCH,
) -> Report:
    """Deliver what is due now, one commit per outcome; returns what happened."""
    report = Report()
    with new_session() as session:
        due = claim(session, now=clock(), limit=limit)
        session.commit()
        for one in due:
            now = clock()
            started = time.monotonic()
            body = one.payload.encode("utf-8")
            outcome = poster(
                one.url, body, signed_headers(one, int(now.timestamp())), allow_private
            )
            took = int((time.monotonic() - started) * 1000)
            state = record(session, one, outcome, now=clock(), took_ms=took)
            session.commit()
            if state == outbox.SENT:
                report.delivered += 1
            elif state == outbox.FAILED:
                report.failed += 1
            else:
                report.retried += 1
    return report
