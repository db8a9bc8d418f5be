"""Transports: how a built message leaves the process.

``Transport`` is the small protocol the sender depends on; ``CaptureTransport`` keeps mail in
memory (tests, ``capture://``), ``SmtpTransport`` talks to a real server through a small pool of
reused connections. ``transport_from_url`` builds one from configuration.
"""

from __future__ import annotations

import queue
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from mailer.message import SENT, CapturedMail, Envelope, SendResult, WireReady

Security = Literal["plain", "starttls", "tls"]

_SECURITY_MODES: frozenset[str] = frozenset({"plain", "starttls", "tls"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
# What may not appear in an envelope address: it would end or split the SMTP command.
_UNSAFE_ADDRESS = re.compile(r"[\x00-\x20<>\x7f]")
_LINE_END = re.compile(rb"\r\n|\n|\r")


class Transport(Protocol):
    def send(self, envelope: Envelope, message: bytes) -> SendResult: ...

    def close(self) -> None: ...


class CaptureTransport:
    """Accepts every message and hands it to ``sink`` (by default a list in memory)."""

    def __init__(self, sink: Callable[[CapturedMail], None] | None = None) -> None:
        self.messages: list[CapturedMail] = []
        self._sink = sink
        self._lock = threading.Lock()

    def send(self, envelope: Envelope, message: bytes) -> SendResult:
        mail = CapturedMail(envelope=envelope, data=message)
        with self._lock:
            if self._sink is None:
                self.messages.append(mail)
            else:
                self._sink(mail)
        return SENT

    def close(self) -> None:
        pass


def classify(code: int | None, detail: str) -> SendResult:
    """Turn an SMTP reply code into a send outcome: 2xx sent, 5xx reject, anything else retry."""
    if code is not None and 200 <= code < 300:
        return SendResult("sent", code, detail)
    if code is not None and 500 <= code < 600:
        return SendResult("reject", code, detail)
    # 4xx is a temporary failure by definition; None means we never got a reply (network
    # trouble), and an unexpected code means we do not know what happened. Retrying is the
    # only answer that cannot wrongly drop a subscriber.
    return SendResult("retry", code, detail)


class RateLimiter:
    """Thread-safe token bucket: ``acquire()`` blocks so callers average ``rate_per_second``."""

    def __init__(
        self,
        rate_per_second: float | None,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate: float | None = (
            float(rate_per_second) if rate_per_second and rate_per_second > 0 else None
        )
        # One second's worth of tokens, but at least one, so a slow rate still lets a message out.
        self.burst = max(1.0, burst if burst is not None else (self.rate or 1.0))
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = monotonic()

    def acquire(self) -> None:
        """Take one token, sleeping until it is available (returns at once when unlimited)."""
        if self.rate is None:
            return
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            # Reserve the token even if it is not there yet: the balance goes negative and the
            # next caller waits behind us, so waiting threads are served in arrival order and
            # nobody sleeps while holding the lock.
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


@dataclass(slots=True)
class _Pooled:
    """One open SMTP connection and when it last did useful work."""

    smtp: smtplib.SMTP
    last_used: float = field(default_factory=time.monotonic)


class SmtpTransport:
    """Sends through an SMTP server over a thread-safe pool of reused connections."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "plain",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        connections: int = 4,
        rate: float | RateLimiter | None = None,
        local_hostname: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        probe_idle_after: float | None = 10.0,
    ) -> None:
        if security not in _SECURITY_MODES:
            raise ValueError(f"security must be one of plain, starttls, tls; got {security!r}")
        if connections < 1:
            raise ValueError(f"connections must be at least 1; got {connections}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive; got {timeout}")
        self.host = host
        self.port = port
        self.security: Security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self.connections = connections
        self.local_hostname = local_hostname
        self.probe_idle_after = probe_idle_after
        self.limiter = rate if isinstance(rate, RateLimiter) else RateLimiter(rate)
        if ssl_context is None and security != "plain":
            # smtplib's own default context does not verify certificates; this one does.
            ssl_context = ssl.create_default_context()
        self._ssl_context = ssl_context
        # Each slot is a connection or None (not opened yet / dropped). A thread owns a slot
        # between get() and put(), so an smtplib object is never used by two threads at once,
        # and the queue size caps the number of simultaneous connections. LIFO keeps reusing
        # the warmest connection instead of opening every slot when traffic is light.
        self._slots: queue.LifoQueue[_Pooled | None] = queue.LifoQueue()
        for _ in range(connections):
            self._slots.put(None)
        self._close_lock = threading.Lock()

    def __repr__(self) -> str:
        user = f" as {self.username}" if self.username else ""
        return f"<SmtpTransport {self.host}:{self.port} {self.security}{user}>"

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, envelope: Envelope, message: bytes) -> SendResult:
        """Send one message; SMTP and network failures come back as a result, never raised."""
        # Wait for the rate limit before taking a connection, so a throttled thread does not
        # keep one idle that another thread could be using.
        self.limiter.acquire()
        slot = self._slots.get()
        try:
            result, slot = self._send_on(slot, envelope, message)
        except BaseException:
            # Not an SMTP or network failure (those are results): a bug or an interrupt left
            # the conversation in an unknown state, so do not pool that connection.
            if slot is not None:
                _close_quietly(slot.smtp)
            slot = None
            raise
        finally:
            # Always hand the slot back, or the pool would shrink (and close() would hang).
            self._slots.put(slot)
        return result

    def close(self) -> None:
        """Quit every pooled connection; a later send opens new ones."""
        # Collect every slot first: this waits for in-flight sends to finish, and holding the
        # slots keeps other threads from reopening connections while we shut them.
        # The lock stops two closers from each grabbing part of the slots and waiting forever.
        with self._close_lock:
            held = [self._slots.get() for _ in range(self.connections)]
            try:
                for slot in held:
                    if slot is not None:
                        _quit_quietly(slot.smtp)
            finally:
                for _ in held:
                    self._slots.put(None)

    def _send_on(
        self, slot: _Pooled | None, envelope: Envelope, message: bytes
    ) -> tuple[SendResult, _Pooled | None]:
        if slot is not None and not self._still_usable(slot):
            _close_quietly(slot.smtp)
            slot = None
        reused = slot is not None
        if slot is None:
            try:
                slot = _Pooled(self._open())
            except (smtplib.SMTPException, OSError) as exc:
                # Includes refused/timed-out connects, TLS failures and bad credentials: none of
                # them is the recipient's fault, so the message waits for the server instead of
                # being rejected or spending one of its attempts.
                detail = f"connecting to {self.host}:{self.port}: {_describe(exc)}"
                return SendResult("retry", None, detail, unreachable=True), None
        conn = slot.smtp
        try:
            send_transaction(conn, envelope, message)
        except NotHandedOver as exc:
            _close_quietly(conn)
            if reused:
                # A pooled connection the server dropped (a restart, an idle timeout) before
                # this message began: nothing was handed over, so try once on a new one.
                return self._send_on(None, envelope, message)
            return SendResult("retry", None, _describe(exc)), None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(envelope.rcpt_to, (None, b""))
            result = classify(code, _text(reply))
        except smtplib.SMTPResponseException as exc:  # SMTPSenderRefused, SMTPDataError, ...
            result = classify(exc.smtp_code, _text(exc.smtp_error))
        except UnicodeEncodeError:
            # smtplib sends commands as ASCII; a non-ASCII address will never get through
            # this transport, so retrying would only repeat the failure.
            result = SendResult("reject", None, "address is not ASCII (SMTPUTF8 not supported)")
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnects (including a drop in the middle of DATA), timeouts and protocol
            # confusion: the connection state is unknown, so throw it away and retry later.
            _close_quietly(conn)
            return SendResult("retry", None, _describe(exc)), None
        else:
            slot.last_used = time.monotonic()
            return SENT, slot
        # The server refused this message. After 421 the server is closing the connection
        # (smtplib already closed its side); otherwise reset the transaction so the
        # connection is clean for the next message, and drop it if even RSET fails.
        if result.code == 421 or conn.sock is None or not _rset(conn):
            _close_quietly(conn)
            return result, None
        slot.last_used = time.monotonic()
        return result, slot

    def _still_usable(self, slot: _Pooled) -> bool:
        """Whether a pooled connection can be reused (probing it with NOOP if it sat idle)."""
        if slot.smtp.sock is None:
            return False
        if self.probe_idle_after is None:
            return True
        if time.monotonic() - slot.last_used < self.probe_idle_after:
            return True
        # Servers close idle connections; finding out with NOOP is cheap, finding out with
        # MAIL would turn a perfectly good message into a retry.
        try:
            code, _ = slot.smtp.noop()
        except (smtplib.SMTPException, OSError):
            return False
        return code == 250

    def _open(self) -> smtplib.SMTP:
        """Connect, greet, upgrade to TLS and log in as configured."""
        # Connecting in the constructor (not with connect()) is what tells smtplib the host
        # name that TLS certificate checks use. On failure it closes its own socket and raises
        # (SMTPConnectError when the greeting is not 220).
        conn: smtplib.SMTP
        if self.security == "tls":
            conn = smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self._ssl_context,
            )
        else:
            conn = smtplib.SMTP(
                self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
            )
        try:
            conn.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                code, reply = conn.starttls(context=self._ssl_context)
                if code != 220:
                    raise smtplib.SMTPResponseException(code, reply)
                # Capabilities before TLS must not be trusted (RFC 3207): smtplib forgot them,
                # so greet again.
                conn.ehlo_or_helo_if_needed()
            if self.username is not None:
                conn.login(self.username, self._password or "")
        except BaseException:
            _close_quietly(conn)
            raise
        return conn


class NotHandedOver(smtplib.SMTPServerDisconnected):
    """The connection failed before the server answered MAIL: no part of the message left."""


def send_transaction(conn: smtplib.SMTP, envelope: Envelope, message: bytes) -> None:
    """MAIL, RCPT and DATA for one recipient; raises as ``smtplib.SMTP.sendmail`` does.

    ``sendmail`` parses both addresses again and runs two regular expressions over the whole
    message (line endings, dot-stuffing): about 300 µs per 30 KB message, as much as everything
    else the sender does. Our messages are built with CRLF line endings, so only the dots need
    stuffing, which ``bytes.replace`` does in a few µs; anything else goes the slow, safe way.

    When the server offers PIPELINING (RFC 2920) the three commands go out in one write and
    their replies are read together: two round trips per message instead of four, which on a
    fast link is most of what a message costs both ends.
    """
    for address in (envelope.mail_from, envelope.rcpt_to):
        if _UNSAFE_ADDRESS.search(address):
            raise smtplib.SMTPRecipientsRefused({envelope.rcpt_to: (553, b"unsafe address")})
    if conn.does_esmtp and "pipelining" in conn.esmtp_features:
        _pipelined(conn, envelope, message)
        return
    # On a refusal the caller resets the transaction, or drops the connection after 421.
    try:
        code, reply = conn.docmd("mail", f"FROM:<{envelope.mail_from}>")
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise NotHandedOver(_describe(exc)) from exc
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, envelope.mail_from)
    code, reply = conn.docmd("rcpt", f"TO:<{envelope.rcpt_to}>")
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({envelope.rcpt_to: (code, reply)})
    code, reply = conn.docmd("data")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    _send_data(conn, message)


def _pipelined(conn: smtplib.SMTP, envelope: Envelope, message: bytes) -> None:
    """MAIL, RCPT and DATA in one write, then the message once DATA was accepted.

    Nothing of the message leaves before the server answered all three, so any failure up to
    then is ``NotHandedOver`` (the caller may retry on a fresh connection) unless the server
    refused one of the commands first, which is then the answer.
    """
    commands = f"MAIL FROM:<{envelope.mail_from}>\r\nRCPT TO:<{envelope.rcpt_to}>\r\nDATA\r\n"
    wire = commands.encode("ascii")  # UnicodeEncodeError as with docmd: not ASCII, no SMTPUTF8
    replies: list[tuple[int, bytes]] = []
    try:
        conn.send(wire)  # closes the connection and raises SMTPServerDisconnected on failure
        while len(replies) < 3:
            replies.append(conn.getreply())
            if replies[-1][0] == 421:
                break  # the server is closing the connection: no more replies will come
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        if all(code in (250, 251) for code, _ in replies):
            raise NotHandedOver(_describe(exc)) from exc
        # A refusal came first and explains the rest (e.g. a server that hung up after it).
    (mail_code, mail_reply), *rest = replies
    if mail_code != 250:
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, envelope.mail_from)
    rcpt_code, rcpt_reply = rest[0]
    if rcpt_code not in (250, 251):
        if len(rest) > 1 and rest[1][0] == 354:
            # A server that accepted DATA without a recipient gets an empty message, which it
            # must refuse (RFC 2920, 3.1): the connection is then ready for the next one.
            try:
                conn.send(b".\r\n")
                conn.getreply()
            except smtplib.SMTPServerDisconnected:
                pass
        raise smtplib.SMTPRecipientsRefused({envelope.rcpt_to: (rcpt_code, rcpt_reply)})
    data_code, data_reply = rest[1]
    if data_code != 354:
        raise smtplib.SMTPDataError(data_code, data_reply)
    _send_data(conn, message)


def _send_data(conn: smtplib.SMTP, message: bytes) -> None:
    """The message and its end-of-data line, after a 354; raises unless the server took it."""
    conn.send(_data_block(message))
    code, reply = conn.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def _data_block(message: bytes) -> bytes:
    """The DATA block: CRLF line endings, leading dots doubled, ended by ``CRLF . CRLF``."""
    if type(message) is WireReady:
        return message + b".\r\n"  # built that way (mailer.mime): nothing to scan or change
    crlf = message.count(b"\r\n")
    if message.count(b"\r") != crlf or message.count(b"\n") != crlf:
        message = _LINE_END.sub(b"\r\n", message)  # a bare CR or LF somewhere: rare
    block = message.replace(b"\r\n.", b"\r\n..")
    if block.startswith(b"."):
        block = b"." + block
    if not block.endswith(b"\r\n"):
        block += b"\r\n"
    return block + b".\r\n"


def _rset(conn: smtplib.SMTP) -> bool:
    """Reset the mail transaction; False when the connection turned out to be unusable."""
    try:
        code, _ = conn.rset()
    except (smtplib.SMTPException, OSError):
        return False
    return code == 250


def _quit_quietly(conn: smtplib.SMTP) -> None:
    """Say goodbye politely, falling back to just closing the socket."""
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        _close_quietly(conn)


def _close_quietly(conn: smtplib.SMTP) -> None:
    """Close the socket without caring whether it is still alive."""
    try:
        conn.close()
    except OSError:
        pass


def _text(reply: bytes | str) -> str:
    """An SMTP reply as text (servers may send any bytes)."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _describe(exc: BaseException) -> str:
    """One line naming the failure, including the server's code when there was one."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}".strip()
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def transport_from_url(
    url: str,
    *,
    connections: int = 4,
    rate: float | None = None,
    timeout: float = 30.0,
    capture: CaptureTransport | None = None,
    local_hostname: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Transport:
    """Build a transport from ``capture://``, ``smtp://[user:pass@]host[:port][?starttls=1]``
    or ``smtps://[user:pass@]host[:port]``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise ValueError(f"mail transport URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme == "capture":
        if parts.netloc or parts.path or parts.query or parts.fragment:
            raise ValueError("mail transport URL capture:// takes no host, path or options")
        return capture if capture is not None else CaptureTransport()
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme!r}" if scheme else "none"
        raise ValueError(f"mail transport URL scheme must be capture, smtp or smtps (got {shown})")
    # Messages below never quote the URL: it may carry a password.
    if not parts.hostname:
        raise ValueError(f"mail transport URL {scheme}:// needs a host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"mail transport URL {scheme}://{parts.hostname} has an invalid port"
        ) from None
    if port == 0:
        raise ValueError(f"mail transport URL {scheme}://{parts.hostname} has an invalid port")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"mail transport URL {scheme}:// takes no path or fragment")

    security: Security = "tls" if scheme == "smtps" else "plain"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise ValueError(f"mail transport URL option {key!r} is unknown (only starttls)")
        if scheme == "smtps":
            raise ValueError("mail transport URL smtps:// is already TLS; drop ?starttls")
        if value.lower() in _TRUE:
            security = "starttls"
        elif value.lower() not in _FALSE:
            raise ValueError(f"mail transport URL option starttls must be 1 or 0, not {value!r}")

    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("mail transport URL has a password but no user name")
    return SmtpTransport(
        parts.hostname,
        port if port is not None else (465 if scheme == "smtps" else 25),
        security=security,
        username=username or None,
        password=password,
        timeout=timeout,
        connections=connections,
        rate=rate,
        local_hostname=local_hostname,
        ssl_context=ssl_context,
    )
