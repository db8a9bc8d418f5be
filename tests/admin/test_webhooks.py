"""Webhooks end to end: a receiver on loopback, signed deliveries, retries, a killed worker."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from mailer import outbox
from mailer.clock import FrozenClock
from subscribers.admin import webhook_sender, webhooks
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput
from subscribers.core.models import Member, WebhookAttempt, WebhookDelivery, WebhookMessage
from subscribers.core.settings import Settings
from subscribers.people import registration
from subscribers.runtime import Runtime
from tests.api.conftest import Api, make_token
from tests.factories import make_list

NEWSLETTER = Path(sys.executable).parent / "newsletter"


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The README's check, as a receiver writes it (Standard Webhooks, v1)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [
        s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")
    ]
    return any(hmac.compare_digest(expected, sig) for sig in given)


class Receiver:
    """An HTTP server on loopback that fails the first ``failures`` tries of each webhook-id."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.seen: list[tuple[str, int, dict[str, str], bytes]] = []  # id, answer, headers, body
        self.hold = threading.Event()  # set: the next request hangs until released
        self.release = threading.Event()
        self.held = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver.hold.is_set():
                    receiver.hold.clear()
                    receiver.held.set()
                    receiver.release.wait(30)
                    return  # the worker is gone: nobody reads an answer
                tries = sum(1 for s in receiver.seen if s[0] == headers["webhook-id"])
                status = 500 if tries < receiver.failures else 204
                receiver.seen.append((headers["webhook-id"], status, headers, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/newsletter?src=test"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered(self) -> list[str]:
        return [msg_id for msg_id, status, _h, _b in self.seen if status == 204]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=3)
    yield r
    r.close()


@pytest.fixture
def open_rt(settings: Settings, clock: FrozenClock, transport, engine) -> Runtime:  # type: ignore[no-untyped-def]
    """The runtime with NEWSLETTER_WEBHOOK_ALLOW_PRIVATE=1: the receiver is on loopback."""
    allowed = dataclasses.replace(settings, webhook_allow_private=True)
    return Runtime.build(allowed, clock=clock, transport=transport, engine=engine)


def register_and_confirm(rt: Runtime, email: str) -> None:
    with transaction(rt.new_session()) as s:
        request = registration.RegistrationRequest(
            email, "Ana", "", "PT", "", "pt", ["practitioners"], True
        )
        registration.register(s, rt.kit, request, now=rt.clock())
    with transaction(rt.new_session()) as s:
        member = s.execute(select(Member).where(Member.email == email)).scalar_one()
        token = rt.kit.signer.sign("confirm", member.id, member.nonce)
        registration.confirm(s, rt.kit, token, now=rt.clock())


def deliver(rt: Runtime) -> webhook_sender.Report:
    return webhook_sender.deliver_due(rt.new_session, rt.clock, allow_private=True)


def test_three_failures_then_the_fourth_arrives_signed_once_per_event(
    open_rt: Runtime, receiver: Receiver, session
) -> None:
    rt = open_rt
    make_list(session, rt.clock())
    with transaction(rt.new_session()) as s:
        _endpoint, secret = webhooks.add(
            s,
            receiver.url,
            ["member.subscribed", "member.confirmed"],
            now=rt.clock(),
            allow_private=True,
        )
    register_and_confirm(rt, "ana@example.org")
    for _round in range(6):  # retries come within minutes: 1, 2, 4 (with jitter)
        deliver(rt)
        rt.clock.advance(minutes=10)
    ids = receiver.delivered()
    assert len(ids) == 2 and len(set(ids)) == 2  # each event exactly once
    for msg_id in ids:
        tries = [status for seen_id, status, _h, _b in receiver.seen if seen_id == msg_id]
        assert tries == [500, 500, 500, 204]
    events = []
    for _id, status, headers, body in receiver.seen:
        assert verify(secret, headers, body)
        assert not verify(secret, headers, body + b" ")
        if status == 204:
            events.append(json.loads(body)["type"])
    assert events == ["member.subscribed", "member.confirmed"]
    with rt.new_session() as s:
        states = s.execute(select(WebhookDelivery.state)).scalars().all()
        assert states == [outbox.SENT, outbox.SENT]
        codes = s.execute(select(WebhookAttempt.code).order_by(WebhookAttempt.id)).scalars()
        assert sorted(codes, key=str) == sorted([500] * 6 + [204] * 2, key=str)


def test_a_worker_killed_mid_delivery_loses_nothing(
    open_rt: Runtime, receiver: Receiver, session, database_url: str, tmp_path: Path
) -> None:
    rt = open_rt
    receiver.failures = 0
    make_list(session, rt.clock())
    with transaction(rt.new_session()) as s:
        webhooks.add(s, receiver.url, ["member.subscribed"], now=rt.clock(), allow_private=True)
    for n in range(3):
        with transaction(rt.new_session()) as s:
            request = registration.RegistrationRequest(
                f"m{n}@example.org", "", "", "", "", "en", ["practitioners"], True
            )
            registration.register(s, rt.kit, request, now=rt.clock())
    receiver.hold.set()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"),
        NEWSLETTER_SECRET_KEY="test-secret-key-that-is-long-enough",
        NEWSLETTER_WEBHOOK_ALLOW_PRIVATE="1",
    )
    worker = subprocess.Popen(
        [str(NEWSLETTER), "webhooks", "deliver"], env=env, cwd=tmp_path, start_new_session=True
    )
    try:
        assert receiver.held.wait(60), "the worker never reached the receiver"
        os.killpg(worker.pid, signal.SIGKILL)  # dies with the first POST in flight
        worker.wait(30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    receiver.release.set()
    with rt.new_session() as s:
        states = s.execute(select(WebhookDelivery.state)).scalars().all()
        assert states == [outbox.SENDING] * 3  # claimed with a lease, none marked
    # The worker used the real clock; once its lease has run out, another worker takes over.
    rt.clock.set(datetime.now(UTC) + webhook_sender.LEASE + timedelta(seconds=5))
    assert deliver(rt).delivered == 3
    assert len(set(receiver.delivered())) == 3
    with rt.new_session() as s:
        assert s.execute(select(WebhookDelivery.state)).scalars().all() == [outbox.SENT] * 3


def test_private_addresses_are_refused_unless_allowed(rt: Runtime) -> None:
    def resolve(host: str, port: int) -> list[str]:
        names = {"rebind.example": ["127.0.0.1"], "public.example": ["93.184.215.14"]}
        return names.get(host) or webhooks.system_resolver(host, port)  # literals as they are

    with transaction(rt.new_session()) as s:
        for url in (
            "http://127.0.0.1/x",
            "http://[::1]:8080/x",
            "http://10.0.0.5/x",
            "http://169.254.169.254/latest/meta-data",
            "http://192.168.1.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://rebind.example/",
        ):
            with pytest.raises(InvalidInput):
                webhooks.add(
                    s, url, ["complaint"], now=rt.clock(), allow_private=False, resolve=resolve
                )
        for url in (
            "ftp://public.example/",
            "http://user:pw@public.example/",
            "http:///x",
            "http://[public.example/",  # not a host: a ValueError, a 500, before
        ):
            with pytest.raises(InvalidInput):
                webhooks.add(s, url, ["complaint"], now=rt.clock(), allow_private=True)
        ok, _secret = webhooks.add(
            s, "https://public.example/h", ["complaint"], now=rt.clock(), allow_private=False,
            resolve=resolve,
        )  # fmt: skip
        assert ok.id is not None


def test_delivery_time_check_refuses_a_name_now_on_loopback(rt: Runtime, session) -> None:
    """DNS rebinding: registered while public, resolving to 127.0.0.1 when delivered."""
    outcome = webhook_sender.post("http://localhost:9/x", b"{}", {}, False)
    assert outcome.code is None and "private" in outcome.error


def test_webhooks_through_the_api_and_replay(
    app: Flask, open_rt: Runtime, receiver: Receiver, session
) -> None:
    app.extensions["newsletter"] = open_rt
    rt = open_rt
    make_list(session, rt.clock())
    api = Api(app.test_client(), make_token(rt, "admin"))
    made = api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["member.erased"]})
    assert made.status_code == 201, made.text
    hook = made.get_json()
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in api.get("/api/v1/webhooks").get_json()["items"][0]
    bad = api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["nope"]})
    assert bad.status_code == 422
    receiver.failures = 0
    register_and_confirm(rt, "gone@example.org")
    assert api.delete("/api/v1/members/gone@example.org").status_code == 204
    deliver(rt)
    [(msg_id, _status, _headers, body)] = receiver.seen
    assert json.loads(body)["data"] == {"member_id": 1, "source": "api"}
    listed = api.get(f"/api/v1/webhooks/{hook['id']}/deliveries").get_json()["items"]
    assert [(d["webhook_id"], d["state"], len(d["tries"])) for d in listed] == [(msg_id, "sent", 1)]
    replay = api.post(f"/api/v1/webhook-deliveries/{listed[0]['id']}/replay")
    assert replay.status_code == 200
    deliver(rt)
    assert [s[0] for s in receiver.seen] == [msg_id, msg_id]  # the same id: receivers drop it
    assert api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert api.get("/api/v1/webhooks").get_json()["items"] == []


def test_each_change_queues_its_event_in_the_same_transaction(rt: Runtime, session) -> None:
    lst = make_list(session, rt.clock())
    with transaction(rt.new_session()) as s:
        webhooks.add(
            s,
            "http://127.0.0.1:9/hook",
            ["member.subscribed", "member.unsubscribed"],
            now=rt.clock(),
            allow_private=True,
        )
    with transaction(rt.new_session()) as s:
        from subscribers.people import imports, preferences

        imports.import_member(
            s, [lst.slug], {"email": "crm@example.org"}, consent_note="CRM", now=rt.clock(),
            actor="test",
        )  # fmt: skip
        member = s.execute(select(Member)).scalar_one()
        preferences.unsubscribe(s, member, now=rt.clock())
    with pytest.raises(InvalidInput), transaction(rt.new_session()) as s:
        imports.import_member(
            s, [lst.slug], {"email": "b@example.org"}, consent_note="", now=rt.clock(),
            actor="test",
        )  # fmt: skip
    with rt.new_session() as s:
        rows = s.execute(select(WebhookMessage).order_by(WebhookMessage.id)).scalars().all()
        assert [(m.event, json.loads(m.payload)["data"]["email"]) for m in rows] == [
            ("member.subscribed", "crm@example.org"),
            ("member.unsubscribed", "crm@example.org"),
        ]  # the refused import left nothing
        assert len(s.execute(select(WebhookDelivery)).scalars().all()) == 2
