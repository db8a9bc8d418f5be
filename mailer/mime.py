"""The one place that builds a MIME message and decides every header.

A campaign's layout (headers common to all recipients, MIME boundaries, the calendar part) is
prepared once by ``MessageLayout``; ``MessageLayout.build`` then writes one recipient's message as
bytes: their ``To``, ``Message-ID``, ``Date``, ``List-Unsubscribe`` and the two personalised bodies,
quoted-printable encoded. Building an ``EmailMessage`` and calling ``as_bytes()`` per
recipient costs milliseconds; this costs tens of microseconds and produces the same standard
structure.

Every value bound for a header goes through ``header_safe`` (no CR, LF or control characters) and
display names are always encoded so that text which looks like an RFC 2047 encoded word
(``=?utf-8?q?x=0D=0ABcc:...?=``) can never decode into an extra header on the receiving side.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime

from mailer.compose import Assembly, Personalised
from mailer.message import Address, WireReady, header_safe

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
QP_LINE = 76
# What header_safe refuses; searched first because the regex is far cheaper than header_safe's
# per-character loop, which then runs (and raises its usual error) only when something is found.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _safe(value: str, what: str) -> str:
    if _UNSAFE.search(value) is not None:
        header_safe(value, what=what)
    return value


def _ascii(value: str) -> bool:
    return value.isascii()


# RFC 2047 "Q" encoding as the stdlib writes it (email.quoprimime's header map).
_Q_HEADER = [f"={octet:02X}" for octet in range(256)]
for _octet in b"-!*+/" + (string.ascii_letters + string.digits).encode("ascii"):
    _Q_HEADER[_octet] = chr(_octet)
_Q_HEADER[ord(" ")] = "_"
# Room for the encoded text of one encoded word: 76 characters less "=?utf-8?q?" and "?=".
_WORD_ROOM = 76 - len("utf-8") - 7


def _encoded_name(name: str) -> str:
    """``Header(name, "utf-8").encode()``, without its slow search when one word holds it all.

    The stdlib picks the shorter of Q and base64 and, when the result fits one encoded word,
    writes just that word; this does the same directly. Longer names go to the stdlib.
    """
    raw = name.encode("utf-8")
    q_text = raw.decode("latin-1").translate(_Q_HEADER)
    b64_len = (len(raw) + 2) // 3 * 4
    if b64_len < len(q_text):
        if b64_len <= _WORD_ROOM:
            return f"=?utf-8?b?{base64.b64encode(raw).decode('ascii')}?="
    elif len(q_text) <= _WORD_ROOM:
        return f"=?utf-8?q?{q_text}?="
    return Header(name, "utf-8").encode(linesep="\r\n")


def format_address(address: Address) -> str:
    """``Name <addr>`` for a header, the name encoded whenever it is not plain safe ASCII."""
    email = _safe(address.email, "address")
    if not email.isascii():
        raise ValueError(f"address must be ASCII (IDNA domain): {email!r}")
    name = _safe(address.name, "display name").strip()
    if not name:
        return email
    plain = _ascii(name) and "=?" not in name and not any(c in name for c in '"\\')
    if plain and all(c.isalnum() or c in " .-'" for c in name):
        shown = f'"{name}"' if "." in name else name
    elif plain:
        shown = '"' + name + '"'
    else:
        # An encoded word carries the literal text (including any "=?") safely to the reader.
        shown = _encoded_name(name)
    return f"{shown} <{email}>"


def _fits(folded: str) -> bool:
    return all(len(line) <= 998 for line in folded.split("\r\n"))


def encode_header(name: str, value: str) -> bytes:
    """One folded header line (or several), never more than 998 octets, ending in CRLF."""
    _safe(value, name)
    if _ascii(value) and len(value) + len(name) + 2 <= 78 and "=?" not in value:
        return f"{name}: {value}".encode("ascii") + CRLF
    folded = ""
    if _ascii(value) and "=?" not in value:
        folded = Header(value, "us-ascii", header_name=name).encode(linesep="\r\n")
    if not folded or not _fits(f"{name}: {folded}"):
        # Encoded words can be split anywhere, so even one 5,000-character token folds.
        folded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {folded}".encode("ascii") + CRLF


def _raw_header(name: str, value: str) -> bytes:
    """A header whose value is already encoded ASCII (addresses, ids, URLs).

    Encoded display names may arrive folded ("\r\n " between encoded words): the folding is
    ours, so it is checked as the unfolded value and then kept, each line within 998 octets.
    """
    _safe(value.replace("\r\n ", " "), name)
    line = f"{name}: {value}"
    if not _fits(line):
        raise ValueError(f"{name} header has a line longer than 998 octets")
    return line.encode("ascii") + CRLF


def list_id_value(list_id: str) -> str:
    """``List-Id``: only the description is encoded; the ``<id>`` must stay readable."""
    description, sep, ident = list_id.rpartition("<")
    if not sep or not ident.endswith(">") or not ident[:-1].isascii():
        return list_id
    description = description.strip().strip('"')
    if not description:
        return f"<{ident}"
    if description.isascii() and "=?" not in description:
        return f'"{description}" <{ident}'
    return f"{_encoded_name(description)} <{ident}"


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True)
    if encoded[:1] == b"." or b"\n." in encoded:
        encoded = _undot(encoded)
    return encoded.replace(b"\n", CRLF)


def _undot(encoded: bytes) -> bytes:
    """The same quoted-printable text with no line starting with a dot.

    A dot at the start of a line is what SMTP stuffs (doubles) on the wire; written as ``=2E``
    it decodes the same, and the message can go out as built (``WireReady``) instead of being
    scanned again per recipient. CSS rules and URLs wrapped before a dot made it common. Where
    the two extra characters would pass 76 columns, the dot goes on a line of its own with a
    soft break, and the rest of the line (which may itself start with a dot) follows.
    """
    lines = []
    for line in encoded.split(b"\n"):
        while line[:1] == b".":
            if len(line) + 2 <= QP_LINE:
                line = b"=2E" + line[1:]
                break
            lines.append(b"=2E=")
            line = line[1:]
        lines.append(line)
    return b"\n".join(lines)


def _tail(encoded: bytes) -> int:
    """Characters on the last line of encoded text (0 when it ends with a line break)."""
    return len(encoded) - encoded.rfind(b"\n") - 1


@functools.lru_cache(maxsize=256)
def _literal_pieces(literals: tuple[str, ...]) -> tuple[tuple[bytes, int], ...] | None:
    """The literal pieces of a campaign's body, encoded once: (bytes, tail) each.

    None when a piece holds a CR: such text takes the whole-text path, which owns line-end
    normalisation (a CR LF could otherwise straddle two pieces).
    """
    if any("\r" in literal for literal in literals):
        return None
    return tuple((encoded, _tail(encoded)) for encoded in map(_qp, literals))


def _qp_body(text: str, parts: Assembly | None) -> bytes:
    """Quoted-printable ``text``; when its assembly is known, reusing the literals' encoding.

    Each piece (literal or value) is encoded on its own and the pieces are joined with soft line
    breaks, which decoders drop, so the decoded body is exactly what ``_qp(text)`` gives. This
    turns encoding 30 KB per recipient into encoding their few values. Every piece starts a
    line, and ``_qp`` starts no line with a dot, so neither does the body.
    """
    if parts is None:
        return _qp(text)
    literals, values = parts
    pieces = _literal_pieces(literals)
    if (
        pieces is None
        or len(values) != len(literals) - 1
        or sum(map(len, literals)) + sum(map(len, values)) != len(text)
    ):
        return _qp(text)  # not this text's assembly, or CRs
    out: list[bytes] = []
    # A member's click reference follows every link: encode each distinct value once.
    encodings: dict[str, tuple[bytes, int]] = {}
    tail = 0  # characters on the current output line
    for index, (literal, literal_tail) in enumerate(pieces):
        if index:
            value = values[index - 1]
            if value:
                known = encodings.get(value)
                if known is None:
                    if "\r" in value:
                        return _qp(text)
                    known = encodings[value] = (encoded := _qp(value)), _tail(encoded)
                encoded, value_tail = known
                if tail:
                    if tail >= QP_LINE:
                        return _qp(text)  # no room left on that line for a soft break's "="
                    out.append(SOFT_BREAK)
                out.append(encoded)
                tail = value_tail
        if literal:
            if tail:
                if tail >= QP_LINE:
                    return _qp(text)
                out.append(SOFT_BREAK)
            out.append(literal)
            tail = literal_tail
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class CalendarPart:
    """An iCalendar object to carry beside the text and HTML, with its iTIP method."""

    data: bytes
    method: str


class MessageLayout:
    """Everything about a campaign's messages that does not depend on the recipient."""

    def __init__(
        self,
        *,
        subject: str,
        sender: Address,
        reply_to: Address | None = None,
        list_id: str | None = None,
        bulk: bool = True,
        calendar: CalendarPart | None = None,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.sender = sender
        self.bulk = bulk
        token = secrets.token_hex(12)
        # "=_" cannot occur in quoted-printable or base64 bodies, so the boundary never collides.
        self._alt = f"==_alt_{token}"
        common = [
            _raw_header("From", format_address(sender)),
            encode_header("Subject", subject),
            _raw_header("MIME-Version", "1.0"),
        ]
        if reply_to is not None:
            common.append(_raw_header("Reply-To", format_address(reply_to)))
        if list_id:
            _safe(list_id, "List-Id")
            common.append(_raw_header("List-Id", list_id_value(list_id)))
        # RFC 3834: every mail we send is machine-made, so vacation responders stay quiet;
        # list mail also says it goes to many (some responders only look at Precedence).
        common.append(_raw_header("Auto-Submitted", "auto-generated"))
        if bulk:
            common.append(_raw_header("Precedence", "bulk"))
        for name, value in extra_headers:
            common.append(encode_header(name, value))
        self._common = b"".join(common)
        # A header name may start with a dot; none of ours does, but then nothing is promised.
        self._dotted_head = self._common[:1] == b"." or b"\n." in self._common
        self._calendar = calendar
        # Folded before the boundary, so the line stays within 78 columns.
        self._top = _raw_header(
            "Content-Type", f'multipart/alternative;\r\n boundary="{self._alt}"'
        )
        # Date changes once a second; formatting it is the costliest header, so keep the last.
        self._date: tuple[object, bytes] = (None, b"")

    def _alternative(self, bodies: Personalised) -> list[bytes]:
        alt = self._alt.encode()
        parts = [
            b"--" + alt + CRLF,
            b'Content-Type: text/plain; charset="utf-8"' + CRLF,
            b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF,
            _qp_body(bodies.text, bodies.text_parts),
            CRLF,
            b"--" + alt + CRLF,
            b'Content-Type: text/html; charset="utf-8"' + CRLF,
            b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF,
            _qp_body(bodies.html, bodies.html_parts),
            CRLF,
        ]
        if self._calendar is not None:
            # The calendar once, as the last alternative (what Outlook, Gmail and Apple Mail
            # read): an application/ics attachment beside it is no registered type and only
            # makes clients show the same event twice.
            parts += [
                b"--" + alt + CRLF,
                _raw_header(
                    "Content-Type",
                    f"text/calendar; method={self._calendar.method}; charset=UTF-8",
                ),
                b"Content-Transfer-Encoding: base64" + CRLF + CRLF,
                self._calendar_b64,
                CRLF,
            ]
        parts.append(b"--" + alt + b"--" + CRLF)
        return parts

    def _date_header(self, date: datetime) -> bytes:
        key = (date.replace(microsecond=0), date.utcoffset())
        cached_key, line = self._date
        if cached_key != key:
            line = _raw_header("Date", format_datetime(date))
            self._date = (key, line)
        return line

    @property
    def _calendar_b64(self) -> bytes:
        assert self._calendar is not None  # only called when a calendar part exists
        return base64.encodebytes(self._calendar.data).replace(b"\n", CRLF).rstrip(CRLF)

    def build(
        self,
        *,
        to: Address,
        bodies: Personalised,
        message_id: str,
        date: datetime,
        unsubscribe_url: str | None = None,
        unsubscribe_mailto: str | None = None,
    ) -> bytes:
        """One recipient's complete message as bytes with CRLF line endings.

        ``WireReady``: no line starts with a dot (headers are ours, base64 has no dots, and
        quoted-printable writes a leading dot as ``=2E``), so the transport sends it as it is.
        """
        head = [
            self._common,
            _raw_header("To", format_address(to)),
            self._date_header(date),
            _raw_header("Message-ID", message_id),
        ]
        if unsubscribe_url:
            targets = [f"<{unsubscribe_url}>"]
            if unsubscribe_mailto:
                targets.append(f"<{unsubscribe_mailto}>")
            # One target per line (folded), so the header stays within 78 columns where the
            # URLs allow it instead of one line of nearly 200 characters.
            head.append(_raw_header("List-Unsubscribe", ",\r\n ".join(targets)))
            head.append(_raw_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        head.append(self._top)
        message = b"".join([*head, CRLF, *self._alternative(bodies)])
        return message if self._dotted_head else WireReady(message)


def make_message_id(delivery_id: int, domain: str) -> str:
    """A globally unique Message-ID for one delivery."""
    _safe(domain, "domain")
    return f"<{delivery_id}.{secrets.token_hex(8)}@{domain}>"
