"""A real SMTP server on loopback for tests, with scriptable faults (pytest plugin).

``ScriptedSMTP`` runs aiosmtpd in a background thread on 127.0.0.1 and an OS-chosen port. It
records what it accepts and can be told to answer the next MAIL/RCPT/DATA with an error, to
reject a recipient for good, or to hang up in the middle of a command. Optional modes: AUTH
(``auth={"user": "password"}``), STARTTLS (``tls_context=``) and implicit TLS
(``ssl_context=``); it offers PIPELINING unless ``pipelining=False``. ``make_tls_contexts()``
makes a throwaway CA and server certificate.

Fixtures: ``smtp`` (a plain server per test) and ``tls_contexts`` (one certificate pair per
session).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_COMMANDS = frozenset({"MAIL", "RCPT", "DATA"})


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted (answered 250 to DATA).

    ``data`` is exactly what came over the wire (CRLF line ends); ``message`` is parsed from
    it with "\n" line ends; ``login`` is the AUTH user, if the session authenticated.
    """

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass(frozen=True)
class TlsContexts:
    """A server context with a certificate for 127.0.0.1/localhost, and a client that trusts it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls_contexts() -> TlsContexts:
    """Create a throwaway CA and a server certificate it signed, as ready SSL contexts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    # A separate CA and leaf (rather than one self-signed leaf) satisfies strict X.509 checks
    # in newer OpenSSL/Python, which refuse CA certificates as server certificates.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "newsletter test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain only reads files, so the key lives on disk just long enough to load it.
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(
        cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    return TlsContexts(server=server, client=client)


class _ScriptedProtocol(SMTP):
    """aiosmtpd's SMTP, counting sessions and remembering live connections for the owner."""

    def __init__(self, owner: ScriptedSMTP, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._owner._track(self, alive=True)

    def connection_lost(self, error: Exception | None) -> None:
        self._owner._track(self, alive=False)
        super().connection_lost(error)

    async def smtp_HELO(self, hostname: str) -> None:
        self._count_once()
        await super().smtp_HELO(hostname)

    async def smtp_EHLO(self, hostname: str) -> None:
        self._count_once()
        await super().smtp_EHLO(hostname)

    def _count_once(self) -> None:
        # Counted at the first greeting, not at connect: the controller's own start-up probe
        # connects without greeting, and a client greets again after STARTTLS.
        if not self._counted:
            self._counted = True
            self._owner._count_connection()


class _Controller(Controller):
    """A Controller that listens on an OS-chosen free port (or a given one, to stand in for a
    restarted server) and builds ``_ScriptedProtocol``s."""

    def __init__(self, owner: ScriptedSMTP, handler: _Handler, port: int, **kwargs: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port, **kwargs)
        self._owner = owner

    def factory(self) -> SMTP:
        return _ScriptedProtocol(self._owner, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 lets the OS pick a free port atomically when binding (no probe-then-bind
        # race); learn which one before the base class connects to it to finish start-up.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _Handler:
    """aiosmtpd hooks: apply the owner's script, otherwise accept and record."""

    def __init__(self, owner: ScriptedSMTP) -> None:
        self._owner = owner

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # AUTH is enforced here rather than with aiosmtpd's auth_required, which warns when
        # TLS is not also required (and warnings are errors in this test suite).
        if self._owner.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        scripted = await self._owner._scripted(server, "MAIL", address)
        if scripted is not None:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        scripted = await self._owner._scripted(server, "RCPT", address)
        if scripted is not None:
            return scripted
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        scripted = await self._owner._scripted(server, "DATA", None)
        if scripted is not None:
            return scripted
        data = envelope.content
        assert isinstance(data, bytes)  # decode_data is off
        assert envelope.mail_from is not None
        auth_data = session.auth_data
        self._owner._record(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=data,
                # Parsed with wire CRLFs turned into "\n" so tests can compare body text
                # plainly; ``data`` keeps the exact bytes (for DKIM and the like).
                message=email.message_from_bytes(
                    data.replace(b"\r\n", b"\n"), policy=email.policy.default
                ),
                tls=_is_tls(server),
                login=auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None,
            )
        )
        return "250 2.0.0 OK: queued"

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self._owner.pipelining:
            # aiosmtpd reads pipelined commands correctly but does not say so; real servers
            # (Postfix, Exim, smtp-sink) do, and the transport pipelines only when told.
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Counted before the reply goes out, so a client's quit() returning means it is seen.
        self._owner._count_quit()
        return "221 Bye"


def _is_tls(server: SMTP) -> bool:
    """Whether this session runs over TLS (implicit or after STARTTLS)."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class ScriptedSMTP:
    """A loopback SMTP server (aiosmtpd) that records mail and injects scripted faults."""

    def __init__(
        self,
        *,
        auth: dict[str, str] | None = None,
        tls_context: ssl.SSLContext | None = None,
        ssl_context: ssl.SSLContext | None = None,
        port: int = 0,
        pipelining: bool = True,
    ) -> None:
        if tls_context is not None and ssl_context is not None:
            raise ValueError("use tls_context (STARTTLS) or ssl_context (implicit TLS), not both")
        self.auth = auth
        self.pipelining = pipelining
        self.host = "127.0.0.1"
        self.port = 0
        self._implicit_tls = ssl_context is not None
        self._starttls = tls_context is not None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[ReceivedMessage] = []
        self._connections = 0
        self._quits = 0
        self._replies: dict[str, deque[str]] = {command: deque() for command in _COMMANDS}
        self._drops: dict[str, int] = dict.fromkeys(_COMMANDS, 0)
        self._rejected: dict[str, str] = {}
        self._domains: dict[str, str] = {}
        self._refusals = 0
        self._live: set[_ScriptedProtocol] = set()
        self._running = False
        smtp_options: dict[str, Any] = {
            "server_hostname": "mx.test",
            "tls_context": tls_context,
            # Over STARTTLS, AUTH is only offered once encrypted, like a real submission
            # server. aiosmtpd does not count implicit TLS as encrypted, hence False there.
            "auth_require_tls": tls_context is not None,
        }
        if auth is not None:
            smtp_options["authenticator"] = self._authenticate
        self._controller = _Controller(
            self, _Handler(self), port, ssl_context=ssl_context, **smtp_options
        )
        self._loop: asyncio.AbstractEventLoop = self._controller.loop

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> ScriptedSMTP:
        """Start listening; returns self."""
        self._controller.start()
        self._running = True
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        """Stop the server thread and close every connection (again: nothing happens)."""
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> ScriptedSMTP:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Transport URL for this server (without credentials)."""
        if self._implicit_tls:
            return f"smtps://{self.host}:{self.port}"
        suffix = "?starttls=1" if self._starttls else ""
        return f"smtp://{self.host}:{self.port}{suffix}"

    # -- what happened --------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the accepted messages, in arrival order."""
        with self._lock:
            return list(self._messages)

    @property
    def connections(self) -> int:
        """How many SMTP sessions (connections that greeted with HELO/EHLO) were seen."""
        with self._lock:
            return self._connections

    @property
    def quits(self) -> int:
        """How many sessions ended with QUIT."""
        with self._lock:
            return self._quits

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``n`` messages arrived and return them; fail after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= n, timeout):
                raise AssertionError(
                    f"expected {n} messages within {timeout}s, got {len(self._messages)}"
                )
            return list(self._messages)

    # -- the script -----------------------------------------------------------------------

    def answer_next(self, command: str, code: int, times: int = 1, text: str = "") -> None:
        """Answer the next ``times`` MAIL/RCPT/DATA commands with ``code`` instead of 250."""
        command = _check_command(command)
        reply = f"{code} {text or _default_text(code)}"
        with self._lock:
            self._replies[command].extend([reply] * times)

    def reject_recipient(self, address: str, code: int, text: str = "") -> None:
        """Answer every RCPT for ``address`` with ``code`` from now on."""
        with self._lock:
            self._rejected[address.lower()] = f"{code} {text or _default_text(code)}"

    def answer_domain(self, domain: str, code: int, text: str = "") -> None:
        """Answer every RCPT to an address at ``domain`` with ``code`` (as a provider that
        throttles us would), until ``lift_domain``."""
        with self._lock:
            self._domains[domain.lower()] = f"{code} {text or _default_text(code)}"

    def lift_domain(self, domain: str) -> None:
        with self._lock:
            self._domains.pop(domain.lower(), None)

    @property
    def refusals(self) -> int:
        """How many commands were answered by the script (not counting hang-ups)."""
        with self._lock:
            return self._refusals

    def drop_next(self, command: str = "DATA", times: int = 1) -> None:
        """Hang up without a reply at the next ``command`` (DATA: after the content arrived)."""
        command = _check_command(command)
        with self._lock:
            self._drops[command] += times

    def disconnect_all(self, timeout: float = 5.0) -> None:
        """Close every open client connection now, as a server's idle timeout would."""

        async def close_all() -> None:
            for protocol in list(self._live):
                if protocol.transport is not None:
                    protocol.transport.close()

        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout)

    # -- called from the server thread ----------------------------------------------------

    async def _scripted(self, server: SMTP, command: str, address: str | None) -> str | None:
        """The scripted answer for this command, if any (None means: behave normally)."""
        with self._lock:
            drop = self._drops[command] > 0
            if drop:
                self._drops[command] -= 1
                reply = None
            elif address is not None and address.lower() in self._rejected:
                reply = self._rejected[address.lower()]
            elif command == "RCPT" and _domain(address) in self._domains:
                reply = self._domains[_domain(address)]
            elif self._replies[command]:
                reply = self._replies[command].popleft()
            else:
                return None
        transport = server.transport
        assert isinstance(transport, asyncio.Transport)
        if drop:
            # Abort (no FIN handshake, nothing flushed) and never reply; losing the
            # connection cancels this coroutine, which is how aiosmtpd ends a session.
            transport.abort()
            await asyncio.Event().wait()
        assert reply is not None
        with self._lock:
            self._refusals += 1
        if reply.startswith("421"):
            # A 421 means the server is closing the channel; close it after the reply is
            # written (close() flushes what is buffered first).
            asyncio.get_running_loop().call_soon(transport.close)
        return reply

    def _record(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    def _count_connection(self) -> None:
        with self._lock:
            self._connections += 1

    def _count_quit(self) -> None:
        with self._lock:
            self._quits += 1

    def _track(self, protocol: _ScriptedProtocol, *, alive: bool) -> None:
        # Only touched on the server's event loop thread, so no lock needed.
        if alive:
            self._live.add(protocol)
        else:
            self._live.discard(protocol)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator: accept LOGIN/PLAIN credentials listed in ``auth``."""
        if not isinstance(data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        # handled=False: let aiosmtpd send the 535 itself when the credentials are wrong.
        ok = self.auth.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def _domain(address: str | None) -> str:
    return (address or "").lower().rpartition("@")[2]


def _check_command(command: str) -> str:
    """Normalise a scriptable command name, rejecting typos early."""
    command = command.upper()
    if command not in _COMMANDS:
        raise ValueError(f"can only script MAIL, RCPT or DATA, not {command!r}")
    return command


def _default_text(code: int) -> str:
    """Reply text matching the class of ``code``."""
    if code == 421:
        return "4.3.2 Service shutting down (scripted)"
    if 400 <= code < 500:
        return "4.3.0 Try again later (scripted)"
    if 500 <= code < 600:
        return "5.7.1 Rejected (scripted)"
    return "OK (scripted)"


@pytest.fixture
def smtp() -> Iterator[ScriptedSMTP]:
    """A started plain SMTP server (no TLS, no AUTH) on loopback, stopped after the test."""
    with ScriptedSMTP() as server:
        yield server


@pytest.fixture(scope="session")
def tls_contexts() -> TlsContexts:
    """Server and trusting client SSL contexts for 127.0.0.1 (generated once per session)."""
    return make_tls_contexts()
