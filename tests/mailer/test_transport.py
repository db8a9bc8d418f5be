"""Tests for mailer.transport against a real SMTP server on loopback (no smtplib mocks)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from mailer.message import SENT, CapturedMail, Envelope, SendResult
from mailer.transport import (
    CaptureTransport,
    RateLimiter,
    SmtpTransport,
    classify,
    transport_from_url,
)
from tests.smtp_server import ScriptedSMTP, TlsContexts

BOUNCES = "bounces+42@lists.example.org"


def build(rcpt: str, subject: str = "Hello") -> tuple[Envelope, bytes]:
    """An envelope and a small message for ``rcpt``."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = "Newsletter <news@lists.example.org>"
    msg["To"] = rcpt
    msg["Subject"] = subject
    msg.set_content(f"Hello {rcpt}, this is {subject}.\n")
    return Envelope(mail_from=BOUNCES, rcpt_to=rcpt), msg.as_bytes()


@pytest.fixture(params=[True, False], ids=["pipelining", "serial"])
def smtp(request: pytest.FixtureRequest) -> Iterator[ScriptedSMTP]:
    """Every test of a plain server runs twice: against a server offering PIPELINING (the
    commands of a message go out in one write) and one that does not (one at a time)."""
    with ScriptedSMTP(pipelining=request.param) as server:
        yield server


@pytest.fixture
def transport(smtp: ScriptedSMTP) -> Iterator[SmtpTransport]:
    """A one-connection transport to the ``smtp`` server."""
    with SmtpTransport(smtp.host, smtp.port, connections=1, timeout=5) as t:
        yield t


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


# -- classify ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(250, "sent"), (251, "sent"), (421, "retry"), (451, "retry"), (452, "retry")]
    + [(550, "reject"), (554, "reject"), (None, "retry"), (354, "retry"), (-1, "retry")],
)
def test_classify_maps_reply_codes(code: int | None, outcome: str) -> None:
    assert classify(code, "why") == SendResult(outcome, code, "why")  # type: ignore[arg-type]


# -- plain SMTP --------------------------------------------------------------------------------


def test_delivers_message_with_its_envelope(smtp: ScriptedSMTP, transport: SmtpTransport) -> None:
    envelope, data = build("ana@example.org", "Issue 7")

    result = transport.send(envelope, data)

    assert result == SENT
    [received] = smtp.messages
    assert received.mail_from == BOUNCES
    assert received.rcpt_tos == ["ana@example.org"]
    assert received.message["Subject"] == "Issue 7"
    assert received.message.get_content() == "Hello ana@example.org, this is Issue 7.\n"
    assert not received.tls and received.login is None


@pytest.mark.parametrize(
    ("sent", "arrives"),
    [
        # Lines that start with a dot must be stuffed on the wire and arrive unchanged.
        (
            b"Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n",
            b"Subject: dots\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n",
        ),
        # A message without a final line end, or with bare LF or CR, still arrives whole.
        (
            b"Subject: bare\n\nline one\rline two\n.dot",
            b"Subject: bare\r\n\r\nline one\r\nline two\r\n.dot\r\n",
        ),
    ],
)
def test_message_bytes_arrive_exactly(
    smtp: ScriptedSMTP, transport: SmtpTransport, sent: bytes, arrives: bytes
) -> None:
    result = transport.send(Envelope(mail_from=BOUNCES, rcpt_to="ana@example.org"), sent)

    assert result == SENT
    [received] = smtp.messages
    assert received.data == arrives


@pytest.mark.parametrize(
    "rcpt", ["ana@example.org>\r\nRCPT TO:<eve@example.org", "a b@example.org"]
)
def test_an_address_that_would_break_the_smtp_command_is_rejected(
    smtp: ScriptedSMTP, transport: SmtpTransport, rcpt: str
) -> None:
    result = transport.send(Envelope(mail_from=BOUNCES, rcpt_to=rcpt), b"Subject: x\r\n\r\nx\r\n")

    assert result.outcome == "reject"
    assert smtp.messages == []
    assert transport.send(*build("ana@example.org")) == SENT  # the connection is still good


def test_reuses_one_connection_for_many_messages(
    smtp: ScriptedSMTP, transport: SmtpTransport
) -> None:
    results = [transport.send(*build(f"m{i}@example.org")) for i in range(20)]

    assert all(r.ok for r in results)
    assert len(smtp.messages) == 20
    assert smtp.connections == 1


def test_sequential_sends_stay_on_one_connection_even_with_a_larger_pool(
    smtp: ScriptedSMTP,
) -> None:
    with SmtpTransport(smtp.host, smtp.port, connections=4) as transport:
        for i in range(5):
            assert transport.send(*build(f"m{i}@example.org")).ok

    assert smtp.connections == 1


@pytest.mark.parametrize(
    ("command", "code", "outcome"),
    [
        ("MAIL", 451, "retry"),
        ("MAIL", 553, "reject"),
        ("RCPT", 451, "retry"),
        ("RCPT", 550, "reject"),
        ("DATA", 452, "retry"),
        ("DATA", 554, "reject"),
    ],
)
def test_refusal_is_classified_and_connection_stays_usable(
    smtp: ScriptedSMTP, transport: SmtpTransport, command: str, code: int, outcome: str
) -> None:
    smtp.answer_next(command, code)

    refused = transport.send(*build("first@example.org"))
    following = transport.send(*build("second@example.org"))

    assert (refused.outcome, refused.code) == (outcome, code)
    assert "scripted" in refused.detail
    assert following == SENT
    assert [m.rcpt_tos for m in smtp.messages] == [["second@example.org"]]
    assert smtp.connections == 1  # the refusal was RSET away, not reconnected


def test_rejected_recipient_does_not_block_the_others(
    smtp: ScriptedSMTP, transport: SmtpTransport
) -> None:
    smtp.reject_recipient("gone@example.org", 550)

    results = [
        transport.send(*build(rcpt))
        for rcpt in ["a@example.org", "gone@example.org", "b@example.org", "gone@example.org"]
    ]

    assert [r.outcome for r in results] == ["sent", "reject", "sent", "reject"]
    assert results[1].code == 550
    assert [m.rcpt_tos[0] for m in smtp.messages] == ["a@example.org", "b@example.org"]
    assert smtp.connections == 1


def test_connection_dropped_mid_data_is_a_retry_and_next_send_reconnects(
    smtp: ScriptedSMTP, transport: SmtpTransport
) -> None:
    assert transport.send(*build("before@example.org")).ok
    smtp.drop_next("DATA")

    dropped = transport.send(*build("dropped@example.org"))
    after = transport.send(*build("after@example.org"))

    assert dropped.outcome == "retry" and dropped.code is None
    assert "Disconnected" in dropped.detail
    assert after == SENT
    assert [m.rcpt_tos[0] for m in smtp.messages] == ["before@example.org", "after@example.org"]
    assert smtp.connections == 2


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
def test_421_is_a_retry_and_next_send_reconnects(
    smtp: ScriptedSMTP, transport: SmtpTransport, command: str
) -> None:
    assert transport.send(*build("before@example.org")).ok
    smtp.answer_next(command, 421)

    closing = transport.send(*build("closing@example.org"))
    after = transport.send(*build("after@example.org"))

    assert (closing.outcome, closing.code) == ("retry", 421)
    assert after == SENT
    assert [m.rcpt_tos[0] for m in smtp.messages] == ["before@example.org", "after@example.org"]
    assert smtp.connections == 2


def test_connection_closed_by_server_while_idle_is_probed_and_replaced(
    smtp: ScriptedSMTP,
) -> None:
    # probe_idle_after=0: every reuse is checked with NOOP, standing in for a long idle gap.
    with SmtpTransport(smtp.host, smtp.port, connections=1, probe_idle_after=0) as transport:
        assert transport.send(*build("before@example.org")).ok
        smtp.disconnect_all()

        after = transport.send(*build("after@example.org"))

    assert after == SENT
    assert smtp.connections == 2


def test_unreachable_server_is_a_retry_not_an_exception() -> None:
    # A bound but not listening socket: connecting to it is refused at once.
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        transport = SmtpTransport("127.0.0.1", port, timeout=2)

        result = transport.send(*build("ana@example.org"))
        transport.close()

    assert result.outcome == "retry" and result.code is None and result.unreachable
    assert "ConnectionRefusedError" in result.detail


def test_many_threads_share_the_pool_and_every_message_arrives_once(
    smtp: ScriptedSMTP,
) -> None:
    rcpts = [f"member{i}@example.org" for i in range(200)]
    with SmtpTransport(smtp.host, smtp.port, connections=4, timeout=5) as transport:
        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(lambda r: transport.send(*build(r)), rcpts))

    assert all(r == SENT for r in results)
    received = sorted(m.rcpt_tos[0] for m in smtp.messages)
    assert received == sorted(rcpts)
    assert 1 <= smtp.connections <= 4
    assert smtp.quits == smtp.connections  # close() said goodbye on every connection


def test_close_quits_connections_and_the_transport_reopens_lazily(
    smtp: ScriptedSMTP, transport: SmtpTransport
) -> None:
    assert transport.send(*build("a@example.org")).ok

    transport.close()
    transport.close()  # idempotent
    assert smtp.quits == 1

    assert transport.send(*build("b@example.org")).ok
    assert smtp.connections == 2


def test_concurrent_closes_do_not_deadlock(smtp: ScriptedSMTP) -> None:
    transport = SmtpTransport(smtp.host, smtp.port, connections=4)
    assert transport.send(*build("a@example.org")).ok

    closers = [threading.Thread(target=transport.close) for _ in range(4)]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(timeout=5)

    assert not any(closer.is_alive() for closer in closers)
    assert smtp.quits == 1


def test_send_is_rate_limited_per_message(smtp: ScriptedSMTP) -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, monotonic=clock.monotonic, sleep=clock.sleep)
    with SmtpTransport(smtp.host, smtp.port, rate=limiter) as transport:
        for i in range(6):
            assert transport.send(*build(f"m{i}@example.org")).ok

    # Two go out at once (the burst), the other four are spaced half a second apart.
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5, 0.5])


# -- TLS and AUTH ----------------------------------------------------------------------------


def test_starttls(tls_contexts: TlsContexts) -> None:
    with ScriptedSMTP(tls_context=tls_contexts.server) as server:
        with SmtpTransport(
            server.host, server.port, security="starttls", ssl_context=tls_contexts.client
        ) as transport:
            assert transport.send(*build("a@example.org")) == SENT
            assert transport.send(*build("b@example.org")) == SENT

    assert [m.tls for m in server.messages] == [True, True]
    assert server.connections == 1


def test_starttls_verifies_the_certificate_by_default(tls_contexts: TlsContexts) -> None:
    with ScriptedSMTP(tls_context=tls_contexts.server) as server:
        with SmtpTransport(server.host, server.port, security="starttls") as transport:
            result = transport.send(*build("a@example.org"))

    assert result.outcome == "retry"
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail
    assert server.messages == []


def test_implicit_tls(tls_contexts: TlsContexts) -> None:
    with ScriptedSMTP(ssl_context=tls_contexts.server) as server:
        with SmtpTransport(
            server.host, server.port, security="tls", ssl_context=tls_contexts.client
        ) as transport:
            assert transport.send(*build("a@example.org")) == SENT

    [received] = server.messages
    assert received.tls


def test_auth_login(smtp_auth: ScriptedSMTP) -> None:
    with SmtpTransport(
        smtp_auth.host, smtp_auth.port, username="newsletter", password="s3cret"
    ) as transport:
        assert transport.send(*build("a@example.org")) == SENT
        assert transport.send(*build("b@example.org")) == SENT

    assert [m.login for m in smtp_auth.messages] == ["newsletter", "newsletter"]
    assert smtp_auth.connections == 1


def test_wrong_password_is_a_retry_not_a_reject(smtp_auth: ScriptedSMTP) -> None:
    with SmtpTransport(
        smtp_auth.host, smtp_auth.port, username="newsletter", password="wrong"
    ) as transport:
        result = transport.send(*build("a@example.org"))

    # Bad credentials are our configuration problem, never the subscriber's.
    assert result.outcome == "retry"
    assert "535" in result.detail
    assert smtp_auth.messages == []


def test_auth_after_starttls_from_url(tls_contexts: TlsContexts) -> None:
    with ScriptedSMTP(auth={"news@lists": "p@ss:word"}, tls_context=tls_contexts.server) as srv:
        transport = transport_from_url(
            f"smtp://news%40lists:p%40ss%3Aword@{srv.host}:{srv.port}?starttls=1",
            ssl_context=tls_contexts.client,
        )
        assert isinstance(transport, SmtpTransport)
        with transport:
            assert transport.send(*build("a@example.org")) == SENT

    [received] = srv.messages
    assert received.tls and received.login == "news@lists"


@pytest.fixture
def smtp_auth() -> Iterator[ScriptedSMTP]:
    """A plain server that requires AUTH as newsletter/s3cret."""
    with ScriptedSMTP(auth={"newsletter": "s3cret"}) as server:
        yield server


# -- RateLimiter ----------------------------------------------------------------------------


def test_rate_limiter_allows_rate_per_second_after_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, monotonic=clock.monotonic, sleep=clock.sleep)
    start = clock.now

    for _ in range(40):
        limiter.acquire()

    # 10 immediately, then one every 0.1 s: 30 more take 3 seconds of (fake) time.
    assert clock.sleeps[:1] == [pytest.approx(0.1)]
    assert len(clock.sleeps) == 30
    assert clock.now - start == pytest.approx(3.0)


def test_rate_limiter_refills_while_idle_but_not_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, monotonic=clock.monotonic, sleep=clock.sleep)
    for _ in range(5):
        limiter.acquire()
    clock.now += 60  # a long pause must not bank 300 tokens

    for _ in range(6):
        limiter.acquire()

    assert clock.sleeps == [pytest.approx(0.2)]


def test_slow_rate_still_lets_one_message_through_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.5, monotonic=clock.monotonic, sleep=clock.sleep)

    limiter.acquire()
    limiter.acquire()

    assert clock.sleeps == [pytest.approx(2.0)]


@pytest.mark.parametrize("rate", [None, 0, -3])
def test_rate_limiter_unlimited(rate: float | None) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate, monotonic=clock.monotonic, sleep=clock.sleep)

    for _ in range(1000):
        limiter.acquire()

    assert clock.sleeps == []


def test_rate_limiter_is_thread_safe() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, monotonic=clock.monotonic, sleep=clock.sleep)
    start = clock.now

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: limiter.acquire(), range(400)))

    # Every token is accounted for exactly once: 100 in the burst, 300 paid for in waiting.
    assert sum(clock.sleeps) >= 3.0 - 1e-9
    assert clock.now - start == pytest.approx(sum(clock.sleeps))


# -- transport_from_url ---------------------------------------------------------------------


def test_capture_url_uses_the_given_capture_transport() -> None:
    capture = CaptureTransport()
    assert transport_from_url("capture://", capture=capture) is capture
    assert isinstance(transport_from_url("capture://"), CaptureTransport)


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "username"),
    [
        ("smtp://mail.example.org", "mail.example.org", 25, "plain", None),
        ("smtp://mail.example.org:2525", "mail.example.org", 2525, "plain", None),
        ("smtp://mail.example.org:587?starttls=1", "mail.example.org", 587, "starttls", None),
        ("smtp://mail.example.org?starttls=0", "mail.example.org", 25, "plain", None),
        ("smtps://mail.example.org", "mail.example.org", 465, "tls", None),
        ("smtps://u:p@mail.example.org:2465", "mail.example.org", 2465, "tls", "u"),
        ("SMTP://bob%40corp:x@[::1]:25/", "::1", 25, "plain", "bob@corp"),
    ],
)
def test_smtp_urls(url: str, host: str, port: int, security: str, username: str | None) -> None:
    transport = transport_from_url(url, connections=2, rate=5, timeout=3)

    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.security) == (host, port, security)
    assert transport.username == username
    assert (transport.connections, transport.limiter.rate, transport.timeout) == (2, 5, 3)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "mail.example.org:25",
        "http://mail.example.org",
        "lmtp://mail.example.org",
        "smtp://",
        "smtp://:secret@mail.example.org",
        "smtp://user:secret@",
        "smtp://mail.example.org:notaport",
        "smtp://mail.example.org:70000",
        "smtp://mail.example.org:0",
        "smtp://mail.example.org/relay",
        "smtp://mail.example.org?starttls=maybe",
        "smtp://mail.example.org?tls=1",
        "smtps://mail.example.org?starttls=1",
        "capture://somewhere",
        "smtp://[::1",
    ],
)
def test_bad_urls_are_rejected_with_one_line_messages(url: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        transport_from_url(url)

    message = str(excinfo.value)
    assert "\n" not in message and message
    assert "secret" not in message  # never echo a password back into logs


# -- CaptureTransport -----------------------------------------------------------------------


def test_capture_transport_keeps_messages() -> None:
    capture = CaptureTransport()
    envelope, data = build("ana@example.org")

    assert capture.send(envelope, data) == SENT
    capture.close()

    assert capture.messages == [CapturedMail(envelope=envelope, data=data)]


def test_capture_transport_hands_messages_to_a_sink() -> None:
    seen: list[CapturedMail] = []
    capture = CaptureTransport(sink=seen.append)

    capture.send(*build("ana@example.org"))

    assert capture.messages == [] and len(seen) == 1


def test_transport_repr_does_not_show_the_password() -> None:
    transport = transport_from_url("smtp://news:secret@mail.example.org:587?starttls=1")

    assert "secret" not in repr(transport)
    assert "mail.example.org:587" in repr(transport)


# -- PIPELINING (RFC 2920) -----------------------------------------------------------------------


class _StrictPipeliningServer:
    """A one-connection SMTP server that answers MAIL only once RCPT and DATA have arrived too.

    A client that waits for each reply before the next command never gets one (it times out):
    only a pipelining client can deliver through it.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as reader:
            conn.sendall(b"220 strict ESMTP\r\n")
            reader.readline()  # EHLO
            conn.sendall(b"250-strict\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            while True:
                line = reader.readline()
                if not line or line.upper().startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                group = [line, reader.readline(), reader.readline()]  # MAIL, RCPT, DATA
                assert group[2].upper() == b"DATA\r\n", group
                conn.sendall(b"250 sender ok\r\n250 rcpt ok\r\n354 go ahead\r\n")
                body = b"".join(iter(reader.readline, b".\r\n"))
                self.received.append(body)
                conn.sendall(b"250 queued\r\n")

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)


def test_pipelining_sends_mail_rcpt_and_data_without_waiting_between_them() -> None:
    server = _StrictPipeliningServer()
    try:
        with SmtpTransport("127.0.0.1", server.port, connections=1, timeout=3) as transport:
            for rcpt in ("ana@example.org", "rui@example.org"):
                envelope, data = build(rcpt)
                assert transport.send(envelope, data) == SENT
    finally:
        server.close()
    assert len(server.received) == 2
    assert b"rui@example.org" in server.received[1]


@pytest.mark.parametrize("command", ["MAIL", "RCPT", "DATA"])
def test_a_pipelined_refusal_leaves_the_connection_usable(
    smtp: ScriptedSMTP, transport: SmtpTransport, command: str
) -> None:
    smtp.answer_next(command, 451)
    first = transport.send(*build("ana@example.org"))
    second = transport.send(*build("rui@example.org"))

    assert (first.outcome, first.code) == ("retry", 451)
    assert second == SENT
    assert [m.rcpt_tos for m in smtp.messages] == [["rui@example.org"]]
    assert smtp.connections == 1


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("Hello @@name@@,\nplain lines only.\n", "Ana"),
        ("Hello,\n.a literal line starting with a dot\n@@name@@\n", "Ana"),
        ("Hello,\n@@name@@ and more\n", ".Ana starts a line"),
        ("Hello, @@name@@\n", ".Ana after a soft break"),
        ("x" * 75 + ".." + "y" * 80 + "\n", "Ana"),  # QP wraps right before the dots
    ],
    ids=["clean", "dotted-literal", "dotted-value", "value-after-soft-break", "wrapped-dots"],
)
def test_built_messages_need_no_dot_stuffing_and_arrive_exactly(
    smtp: ScriptedSMTP, transport: SmtpTransport, template: str, name: str
) -> None:
    # The transport trusts WireReady and sends it without its scan: no line of a built message
    # may start with a dot (quoted-printable writes it =2E), and the text must decode unchanged.
    from mailer.compose import Personaliser, RenderedMail
    from mailer.message import Address, WireReady
    from mailer.mime import MessageLayout

    rendered = RenderedMail(kind="t", subject="s", html=f"<p>{template}</p>", text=template)
    layout = MessageLayout(subject="s", sender=Address("news@network.test", "News"))
    bodies = Personaliser(rendered).fill({"name": name})
    message = layout.build(
        to=Address("ana@example.org", "Ana"),
        bodies=bodies,
        message_id="<1.x@network.test>",
        date=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert type(message) is WireReady
    lines = message.split(b"\r\n")
    assert not any(line.startswith(b".") for line in lines)
    assert all(len(line) <= 76 for line in lines[lines.index(b"") :])
    assert message.count(b"\n") == message.count(b"\r\n") == message.count(b"\r")

    assert transport.send(Envelope(mail_from=BOUNCES, rcpt_to="ana@example.org"), message) == SENT
    [received] = smtp.messages
    assert received.data == message
    plain = received.message.get_body(preferencelist=("plain",))
    assert plain is not None and plain.get_content() == bodies.text.replace("\r\n", "\n")


def test_a_message_with_a_dotted_header_is_not_trusted(
    smtp: ScriptedSMTP, transport: SmtpTransport
) -> None:
    from mailer.compose import Personalised
    from mailer.message import Address, WireReady
    from mailer.mime import MessageLayout

    layout = MessageLayout(
        subject="s", sender=Address("news@network.test"), extra_headers=((".X-Odd", "1"),)
    )
    message = layout.build(
        to=Address("ana@example.org"),
        bodies=Personalised(html="<p>x</p>", text="x"),
        message_id="<2.x@network.test>",
        date=datetime(2026, 12, 5, tzinfo=UTC),
    )
    assert type(message) is not WireReady
    assert transport.send(Envelope(mail_from=BOUNCES, rcpt_to="ana@example.org"), message) == SENT
    assert smtp.messages[0].data == message
