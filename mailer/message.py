"""Plain values that travel through the mail pipeline: no I/O, no database, no Flask."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Literal

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters that must be quoted in a display name (RFC 5322 "specials").
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


class HeaderInjection(ValueError):
    """A value bound for a mail header carries CR, LF or another control character."""


def header_safe(value: str, *, what: str) -> str:
    """Return ``value`` unchanged, or raise when it could break out of a header line."""
    if _CONTROL.search(value):
        raise HeaderInjection(f"{what} contains a line break or control character")
    return value


@dataclass(frozen=True, slots=True)
class Address:
    """An address with an optional display name, both checked for header safety."""

    email: str
    name: str = ""

    def __post_init__(self) -> None:
        header_safe(self.email, what="address")
        header_safe(self.name, what="display name")
        if "@" not in self.email or " " in self.email or "<" in self.email or ">" in self.email:
            raise HeaderInjection(f"not a plain address: {self.email!r}")

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse ``Name <addr>`` or a bare address."""
        header_safe(text, what="address")
        name, email = parseaddr(text)
        if not email:
            raise HeaderInjection(f"not an address: {text!r}")
        return cls(email=email, name=name)

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]

    def as_text(self) -> str:
        """``Name <addr>`` as ``parse`` reads it back: the name quoted when it holds specials."""
        if not self.name:
            return self.email
        name = self.name
        if _SPECIALS.search(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.email}>"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What an SMTP server (or the capture transport) said about one message."""

    outcome: Literal["sent", "retry", "reject"]
    code: int | None = None
    detail: str = ""
    # The server could not be reached at all: nothing is wrong with this message, so the sender
    # keeps it queued without counting an attempt and waits for the server instead.
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome == "sent"


SENT = SendResult("sent", 250, "accepted")


@dataclass(frozen=True, slots=True)
class Envelope:
    """SMTP envelope for one message: who bounces receive it, who it is for."""

    mail_from: str
    rcpt_to: str


@dataclass(frozen=True, slots=True)
class CapturedMail:
    """One message kept by the capture transport."""

    envelope: Envelope
    data: bytes
    extra: dict[str, str] = field(default_factory=dict)


class WireReady(bytes):
    """A message known to be ready for SMTP's DATA as it is: CRLF line ends only, ending in CRLF,
    and no line starting with a dot (nothing to stuff).

    ``mailer.mime.MessageLayout.build`` says so when it made the message that way, so the
    transport need not scan the 30 KB again per recipient (three counts and a replace cost
    about 100 µs a message, a quarter of what the sender spends on one).
    """

    __slots__ = ()
