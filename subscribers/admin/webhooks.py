"""Outgoing webhooks: endpoints, the events they get, and the signed messages for them.

``emit`` writes the event and one delivery row per subscribed endpoint in the caller's
transaction, so a change and its webhook commit together or not at all (the outbox pattern of
mailer/outbox.py); subscribers/admin/webhook_sender.py delivers them. Signatures follow Standard
Webhooks: ``v1,base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{body}"))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from mailer import outbox
from mailer.outbox import Campaign
from subscribers.core import ids
from subscribers.core.errors import Conflict, InvalidInput, NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

EVENTS = (
    "member.subscribed",
    "member.confirmed",
    "member.unsubscribed",
    "member.erased",
    "bounce.hard",
    "complaint",
    "rsvp.changed",
    "campaign.finished",
)
SECRET_PREFIX = "whsec_"
RETRY_FOR = timedelta(hours=24)
FINISHED_LOOKBACK = timedelta(days=7)

Resolver = Callable[[str, int], Sequence[str]]


# -- addresses (SSRF) -------------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_private(address: str) -> bool:
    """Loopback, private, link-local, unspecified, multicast or reserved: not the internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str) -> tuple[str, str, int]:
    """(url, host, port) of an http(s) URL fit for a webhook, or InvalidInput."""
    text = (url or "").strip()
    if len(text) > 500 or any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise InvalidInput(_("url: a URL without spaces, at most 500 characters"), field="url")
    no_host = InvalidInput(
        _("url: must start with https:// or http:// and name a host"), field="url"
    )
    try:
        parts = urlsplit(text)
    except ValueError:  # "http://[x": a host in brackets that is no IPv6 address
        raise no_host from None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(_("url: the port is not a number"), field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise no_host
    if parts.username or parts.password:
        raise InvalidInput(_("url: must not contain a user name or password"), field="url")
    return text, parts.hostname, port


def public_addresses(
    host: str, port: int, *, allow_private: bool, resolve: Resolver = system_resolver
) -> list[str]:
    """The addresses to connect to; InvalidInput if one is private (unless allowed) or none.

    Checked at registration and again right before each delivery, connecting only to the
    addresses checked: a name that later resolves to 127.0.0.1 (DNS rebinding) is refused then.
    """
    try:
        addresses = list(resolve(host, port))
    except (OSError, UnicodeError):
        raise InvalidInput(_("url: the host name does not resolve"), field="url") from None
    if not addresses:
        raise InvalidInput(_("url: the host name does not resolve"), field="url")
    if not allow_private and any(is_private(a) for a in addresses):
        raise InvalidInput(
            _(
                "url: the host is on a loopback, private or link-local address; "
                "set NEWSLETTER_WEBHOOK_ALLOW_PRIVATE=1 to allow it"
            ),
            field="url",
        )
    return addresses


def check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(e.strip() for e in events if e and e.strip()))
    unknown = [e for e in chosen if e not in EVENTS]
    if not chosen or unknown:
        raise InvalidInput(
            _("events: choose from %(events)s", events=", ".join(EVENTS)), field="events"
        )
    return chosen


# -- endpoints --------------------------------------------------------------------------------


def add(
    session: Session,
    url: str,
    events: Iterable[str],
    *,
    now: datetime,
    allow_private: bool,
    created_by: str = "",
    resolve: Resolver = system_resolver,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once to whoever added it)."""
    text, host, port = check_url(url)
    chosen = check_events(events)
    public_addresses(host, port, allow_private=allow_private, resolve=resolve)
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
    endpoint = WebhookEndpoint(
        url=text,
        events=",".join(chosen),
        secret=secret,
        created_at=now,
        created_by=created_by[:320],
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


# Built once: every registration and confirmation asks (``emit``).
_ENDPOINTS = (
    select(WebhookEndpoint)
    .where(col(WebhookEndpoint.removed_at).is_(None))
    .order_by(col(WebhookEndpoint.id))
)


# "Is any endpoint set up?" as a scalar subquery, for a statement the caller sends anyway (a
# registration asks it in its member insert and skips ``emit`` when the answer is 0).
ANY_ENDPOINT = (
    select(func.count())
    .select_from(WebhookEndpoint)
    .where(col(WebhookEndpoint.removed_at).is_(None))
    .scalar_subquery()
)


def endpoints(session: Session) -> list[WebhookEndpoint]:
    """Every endpoint still registered, oldest first."""
    return list(session.execute(_ENDPOINTS).scalars())


def get(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = ids.get(session, WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.removed_at is not None:
        raise NotFound(_("no webhook %(id)s", id=endpoint_id))
    return endpoint


def remove(session: Session, endpoint_id: int, *, now: datetime) -> WebhookEndpoint:
    """Stop an endpoint: nothing more is queued for it and what waits is dropped.

    Its row stays (marked removed) so the deliveries it had remain readable.
    """
    endpoint = get(session, endpoint_id)
    endpoint.removed_at = now
    session.add(endpoint)
    session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == endpoint_id,
            col(WebhookDelivery.state) == outbox.QUEUED,
        )
        .values(state=outbox.SKIPPED, last_error="webhook removed")
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return endpoint


def event_list(endpoint: WebhookEndpoint) -> list[str]:
    return [e for e in endpoint.events.split(",") if e]


# -- events -----------------------------------------------------------------------------------


def emit(
    session: Session, event: str, data: dict[str, Any], *, now: datetime, ref: str | None = None
) -> WebhookMessage | None:
    """Queue ``event`` for every endpoint that wants it, in the caller's transaction.

    ``ref`` names an event that may be noticed twice (campaign.finished): it is queued once.
    Returns the message, or None when no endpoint wants the event.
    """
    wanting = _wanting(session, event)
    if not wanting:
        return None
    return _queue(session, wanting, event, data, now=now, ref=ref)


def emit_each(session: Session, event: str, datas: list[dict[str, Any]], *, now: datetime) -> int:
    """``emit`` for many (an import's members), asking once which endpoints want the event."""
    wanting = _wanting(session, event) if datas else []
    for data in datas if wanting else []:
        _queue(session, wanting, event, data, now=now, ref=None)
    return len(datas) if wanting else 0


def _wanting(session: Session, event: str) -> list[WebhookEndpoint]:
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return [e for e in endpoints(session) if event in event_list(e)]


def _queue(
    session: Session,
    wanting: list[WebhookEndpoint],
    event: str,
    data: dict[str, Any],
    *,
    now: datetime,
    ref: str | None,
) -> WebhookMessage | None:
    if (
        ref is not None
        and session.execute(
            select(col(WebhookMessage.id)).where(col(WebhookMessage.ref) == ref)
        ).first()
    ):
        return None
    payload = {"type": event, "timestamp": now.isoformat(), "data": data}
    message = WebhookMessage(
        msg_id="msg_" + secrets.token_hex(12),
        ref=ref,
        event=event,
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
        created_at=now,
    )
    session.add(message)
    session.flush()
    assert message.id is not None
    for endpoint in wanting:
        assert endpoint.id is not None
        session.add(
            WebhookDelivery(message_id=message.id, endpoint_id=endpoint.id, next_attempt_at=now)
        )
    session.flush()
    return message


def member_data(member: Any, **extra: Any) -> dict[str, Any]:
    """What a member event says: who, and their state (an erased member only by id)."""
    return {
        "member_id": member.id,
        "email": member.email,
        "status": member.status,
        "language": member.language,
        **extra,
    }


def note_finished_campaigns(session: Session, *, now: datetime) -> int:
    """campaign.finished for each recent campaign with nothing left to send (once each)."""
    if not any("campaign.finished" in event_list(e) for e in endpoints(session)):
        return 0
    done = session.execute(
        select(Campaign)
        .where(
            col(Campaign.created_at) >= now - FINISHED_LOOKBACK,
            col(Campaign.total) > 0,
            ~outbox.unfinished(),
            col(Campaign.kind).in_(("announcement", "digest", "invitation")),
        )
        .order_by(col(Campaign.id))
    ).scalars()
    count = 0
    for campaign in done:
        counts = outbox.counts(session, campaign.id).get(campaign.id or 0, {})
        data = {
            "campaign_id": campaign.id,
            "kind": campaign.kind,
            "subject": campaign.subject,
            "status": campaign.status,
            "counts": counts,
        }
        ref = f"campaign.finished:{campaign.id}"
        if emit(session, "campaign.finished", data, now=now, ref=ref) is not None:
            count += 1
    return count


# -- signing ----------------------------------------------------------------------------------


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The webhook-signature header value (Standard Webhooks, v1 = HMAC-SHA256)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# -- what the workspace and the API show ------------------------------------------------------


def deliveries(
    session: Session, *, endpoint_id: int | None = None, limit: int = 100
) -> list[tuple[WebhookDelivery, WebhookMessage]]:
    """The latest deliveries, newest first, with their message."""
    stmt = (
        select(WebhookDelivery, WebhookMessage)
        .join(WebhookMessage, col(WebhookMessage.id) == col(WebhookDelivery.message_id))
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        stmt = stmt.where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    return [(d, m) for d, m in session.execute(stmt).all()]


def attempts(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if not delivery_ids:
        return found
    rows = session.execute(
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(list(delivery_ids)))
        .order_by(col(WebhookAttempt.id))
    ).scalars()
    for row in rows:
        found[row.delivery_id].append(row)
    return found


def pending_count(session: Session) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(col(WebhookDelivery.state).in_((outbox.QUEUED, outbox.SENDING)))
        ).scalar_one()
    )


def replay(session: Session, delivery_id: int, *, now: datetime) -> WebhookDelivery:
    """Send a delivery again now (same webhook-id, so a receiver that has it can drop it)."""
    delivery = ids.get(session, WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(_("no webhook delivery %(id)s", id=delivery_id))
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or endpoint.removed_at is not None:
        raise Conflict(_("this webhook was removed"))
    if delivery.state in (outbox.QUEUED, outbox.SENDING):
        raise Conflict(_("this delivery is waiting to be sent already"))
    delivery.state, delivery.next_attempt_at, delivery.lease_until = outbox.QUEUED, now, None
    # A fresh 24 hours of retries from the replay on.
    delivery.attempts = 0
    session.add(delivery)
    session.flush()
    return delivery


def bounce_recorded(session: Session, outcome: Any, *, now: datetime) -> None:
    """bounce.hard for each address a hard bounce was recorded for (mailer.bounce_log.record)."""
    if outcome.report.kind != "hard":
        return
    for address in outcome.addresses:
        data = {
            "email": address,
            "address_hash": outbox.address_hash(address),
            "status": outcome.report.status,
            "diagnostic": outcome.report.diagnostic,
            "delivery_id": outcome.report.delivery_id,
        }
        emit(session, "bounce.hard", data, now=now)
