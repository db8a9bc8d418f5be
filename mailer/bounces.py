"""Bounce handling: VERP envelope senders and classification of returned mail.

Each delivery leaves with its own envelope sender (``bounces+<id>-<hmac>@…``), so a bounce names
the delivery it is about even when the remote MTA mangles or omits the failed address.  ``parse``
turns whatever arrived at that address into a ``BounceReport``; it never raises, because the input
is written by strangers and a crash would stall the mailbox being processed.
"""

from __future__ import annotations

import base64
import binascii
import email
import hmac
import quopri
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses, parseaddr
from hashlib import sha256
from typing import Literal

from flufl.bounce import all_failures

TOKEN = "{token}"
DIAGNOSTIC_MAX = 300
# Bounces often return the whole original message; the DSN comes before it, so what lies beyond
# this many bytes is the returned payload and not worth parsing (or being slowed down by).
MAX_PARSE_BYTES = 4 * 1024 * 1024
# Deeper MIME nesting than this is not something an MTA produces; stop rather than recurse.
_MAX_DEPTH = 16

_MAC_HEX = 8
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])", re.ASCII)
# An SMTP reply carrying an enhanced status code, e.g. "550 5.1.1" or "550-5.1.1".
_SMTP_REPLY_RE = re.compile(r"\b([45]\d\d)[ -]([45]\.\d{1,3}\.\d{1,3})(?![\d.])", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")

# RFC 3463 puts these under 5.x.x, but they describe this message or a full mailbox, not a dead
# address: 5.2.2 "mailbox full" is usually temporary in practice (the owner clears it out), and
# 5.2.3 / 5.3.4 "message too big" would otherwise disable every recipient of one oversized issue.
# Treating them as soft lets repeated failures, not a single one, decide.
_SOFT_PERMANENT = frozenset({"5.2.2", "5.2.3", "5.3.4"})

# Headers in which the receiving MTA records the address the bounce was sent to, most specific
# first.  Return-Path is absent on purpose: on a bounce it is the null path "<>".
_RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")

_DAEMON_LOCALPARTS = frozenset(
    {"mailer-daemon", "mail-daemon", "postmaster", "mailerdaemon", "mail.delivery.system"}
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery status notification|delivery (?:status|failure|failed|notification)"
    r"|mail delivery (?:failed|failure|system|subsystem)|returned mail|failure notice"
    r"|could not send message|delayed mail|non-?delivery|message not delivered"
    r"|could not be delivered|user unknown|no such user",
    re.IGNORECASE,
)
_AUTOREPLY_SUBJECT_RE = re.compile(
    r"^\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|"
    r"auto:|autoreply|abwesenheit|réponse automatique|respuesta automática|vacation)",
    re.IGNORECASE,
)
# Subjects of delay warnings without a delivery-status part (Exim "Warning: message ... delayed
# 24 hours", Sendmail "Warning: could not send message for past 4 hours", "Delayed Mail").
_DELAY_SUBJECT_RE = re.compile(
    r"\bdelayed\b|could not send message for past|delivery delay|still being retried",
    re.IGNORECASE,
)
# Where a text bounce stops describing the failure and starts quoting the returned message.
_RETURNED_MESSAGE_RE = re.compile(
    r"^\s*-{2,}.*(?:copy of the message|original message|returned message|message follows"
    r"|below this line|message headers follow)|^\s*original message follows",
    re.IGNORECASE,
)

Kind = Literal["hard", "soft", "none"]


@dataclass(frozen=True)
class BounceReport:
    """What a message received at the bounce address says about a delivery."""

    kind: Kind
    addresses: tuple[str, ...]
    delivery_id: int | None
    status: str | None
    diagnostic: str
    reason: str


# -- VERP ---------------------------------------------------------------------------------------


def _addr_spec(template: str) -> str:
    # The setting may be written "Bounces <bounces+{token}@…>"; the envelope needs the bare address.
    return parseaddr(template)[1] or template.strip()


def _mac(key: bytes, delivery_id: int) -> str:
    return hmac.new(key, str(delivery_id).encode("ascii"), sha256).hexdigest()[:_MAC_HEX]


@dataclass(frozen=True)
class EnvelopeSender:
    """The envelope sender of each delivery for the bounce-address setting, parsed once: a
    fixed address, or with VERP (``{token}`` in it) one carrying the delivery's id and MAC."""

    address: str  # the bare address of the setting, "{token}" and all
    key: bytes

    @classmethod
    def of(cls, template: str, *, key: bytes) -> EnvelopeSender:
        return cls(_addr_spec(template), key)

    @property
    def verp(self) -> bool:
        return TOKEN in self.address

    def for_delivery(self, delivery_id: int) -> str:
        if not self.verp:
            return self.address
        # str.replace, not str.format: a template may legitimately contain other braces.
        return self.address.replace(TOKEN, f"{delivery_id}-{_mac(self.key, delivery_id)}")


def verp_address(template: str, delivery_id: int, *, key: bytes) -> str:
    """Return the envelope sender for one delivery: ``template`` with ``{token}`` filled in."""
    if TOKEN not in template:
        return template
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int) or delivery_id < 0:
        raise ValueError(f"delivery id must be a non-negative int, got {delivery_id!r}")
    return EnvelopeSender.of(template, key=key).for_delivery(delivery_id)


def _template_pattern(template: str) -> re.Pattern[str] | None:
    spec = _addr_spec(template)
    if TOKEN not in spec:
        return None
    first, *rest = spec.split(TOKEN)
    # Later repeats of {token} must carry the same token as the first one.
    parts = [re.escape(first), rf"(?P<id>[0-9]{{1,19}})-(?P<mac>[0-9a-f]{{{_MAC_HEX}}})"]
    for chunk in rest[:-1]:
        parts += [re.escape(chunk), r"(?P=id)-(?P=mac)"]
    parts.append(re.escape(rest[-1]))
    # Case-insensitive throughout: domains are, and some MTAs lowercase (or uppercase) local parts.
    return re.compile("".join(parts), re.IGNORECASE | re.ASCII)


def verp_delivery_id(address: str, template: str, *, key: bytes) -> int | None:
    """Return the delivery id carried by a VERP ``address`` built from ``template``, else None."""
    try:
        pattern = _template_pattern(template)
        if pattern is None or not isinstance(address, str):
            return None
        candidate = parseaddr(address)[1] or address.strip()
        match = pattern.fullmatch(candidate.strip("<>"))
        if match is None:
            return None
        digits = match.group("id")
        # Only the canonical spelling verp_address produces: "042" is not 42's token.
        if digits != str(int(digits)):
            return None
        delivery_id = int(digits)
        if hmac.compare_digest(match.group("mac").lower(), _mac(key, delivery_id)):
            return delivery_id
    except (TypeError, ValueError):
        pass
    return None


# -- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recipient:
    address: str
    kind: Kind
    status: str | None
    diagnostic: str
    action: str


def parse(
    raw: bytes,
    *,
    verp_template: str | None = None,
    key: bytes = b"",
    recipient: str | None = None,
) -> BounceReport:
    """Classify a message received at the bounce address; never raises."""
    try:
        return _parse(raw, verp_template=verp_template, key=key, recipient=recipient)
    except Exception as exc:  # noqa: BLE001 - hostile input must not stop the bounce run
        return _none(None, f"unparseable message ({type(exc).__name__})")


def _none(delivery_id: int | None, reason: str) -> BounceReport:
    return BounceReport("none", (), delivery_id, None, "", reason)


def _parse(
    raw: bytes, *, verp_template: str | None, key: bytes, recipient: str | None
) -> BounceReport:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes | bytearray | memoryview):
        return _none(None, f"not a message: {type(raw).__name__}")
    data = bytes(raw[:MAX_PARSE_BYTES])
    if not data.strip():
        return _none(None, "empty message")
    msg = email.message_from_bytes(data)
    if not msg.keys():
        return _none(None, "no mail headers: not an email message")

    own = _own_addresses(msg, recipient)
    delivery_id = _delivery_id(own, verp_template, key)
    own = _ours(msg, own, recipient, verp_template)

    recipients = _dsn_recipients(msg)
    if recipients is not None:
        own_lower = {a.lower() for a in own}
        failed = [r for r in recipients if r.kind != "none" and r.address not in own_lower]
        if failed:
            return _from_dsn(failed, delivery_id)
        if any(r.action.startswith("delayed") for r in recipients):
            return _none(delivery_id, "delay warning (Action: delayed): the server still tries")
        if recipients:
            return _none(delivery_id, "delivery-status report lists no failed recipient")
        # A delivery-status part with no usable recipient block: let the heuristics have a go.

    strong = _strong_bounce_signal(msg)
    if strong is None and (auto := _autoreply_signal(msg)) is not None:
        return _none(delivery_id, f"auto-reply ({auto}), not a bounce")
    signal = strong or _weak_bounce_signal(msg)
    if signal is None:
        return _none(delivery_id, "not a bounce: no delivery-status part and no bounce markers")
    return _from_flufl(msg, delivery_id, own, signal)


def _from_dsn(failed: list[_Recipient], delivery_id: int | None) -> BounceReport:
    # One kind per report: if any recipient failed hard the report is hard and lists only those,
    # so a caller acting on `kind` never disables an address that merely soft-bounced.
    kind: Kind = "hard" if any(r.kind == "hard" for r in failed) else "soft"
    chosen = [r for r in failed if r.kind == kind]
    first = chosen[0]
    what = f"Action {first.action or '(missing)'}, Status {first.status or '(missing)'}"
    if first.status in _SOFT_PERMANENT:
        why = f"delivery-status report: {what}; mailbox full / message too big counts as soft"
    else:
        why = f"delivery-status report: {what}"
    return BounceReport(
        kind=kind,
        addresses=_unique(r.address for r in chosen),
        delivery_id=delivery_id,
        status=first.status,
        diagnostic=first.diagnostic,
        reason=why,
    )


def _from_flufl(msg: Message, delivery_id: int | None, own: list[str], signal: str) -> BounceReport:
    # flufl.bounce 6's Yale detector indexes the parsed From without checking, and all_failures
    # re-raises, so a missing or unparseable From would hide every detector after it.
    if not getaddresses([_header(msg, "from")]):
        del msg["from"]
        msg["From"] = "unknown@invalid"
    try:
        temporary, permanent = all_failures(msg)
    except Exception as exc:  # noqa: BLE001 - a detector choking on odd input is not fatal
        return _none(delivery_id, f"{signal}, but flufl.bounce failed ({type(exc).__name__})")
    own_lower = {a.lower() for a in own}
    hard = [a for a in _decode_addresses(permanent) if a not in own_lower]
    soft = [a for a in _decode_addresses(temporary) if a not in own_lower]
    if not hard and not soft:
        return _none(delivery_id, f"{signal}, but no failed recipient recognised")
    if not hard or _DELAY_SUBJECT_RE.search(_header(msg, "subject")):
        # flufl.bounce's temporary failures are warnings ("still undelivered after 4 hours"):
        # like a DSN's Action: delayed, they change nothing; the outcome comes later.
        return _none(delivery_id, f"{signal}: a delay warning, the server still tries")
    status, diagnostic = _text_status(msg)
    kind: Kind = "hard"
    why = "no delivery-status part; flufl.bounce reports a permanent failure"
    # flufl.bounce calls anything it cannot date "permanent"; an explicit 4.x.x or mailbox-full
    # code in the notification text is better evidence than that default.
    if status is not None and _status_kind(status) == "soft":
        kind = "soft"
        why += f", but the notification says {status}"
    return BounceReport(
        kind=kind,
        addresses=_unique(hard),
        delivery_id=delivery_id,
        status=status,
        diagnostic=diagnostic,
        reason=why,
    )


# -- recipients of the bounce (VERP) --------------------------------------------------------------


def _own_addresses(msg: Message, recipient: str | None) -> list[str]:
    """Addresses the bounce was delivered to, the MTA's explicit one first."""
    found: list[str] = []
    if recipient:
        found.append(parseaddr(recipient)[1] or recipient.strip())
    for header in _RECIPIENT_HEADERS:
        values = [str(v) for v in msg.get_all(header, [])]
        found.extend(addr for _name, addr in getaddresses(values) if addr)
    return found


def _ours(msg: Message, own: list[str], recipient: str | None, template: str | None) -> list[str]:
    """Of the addresses the bounce names as its recipient, those that are surely ours.

    Some servers copy headers of the returned message to the top (an X-Original-To naming the
    member): only the MTA's explicit recipient, Delivered-To, To and addresses shaped like our
    VERP template are ours, so the member's address is not mistaken for the bounce address.
    """
    pattern = _template_pattern(template) if template else None
    trusted = {a.lower() for a in ([recipient] if recipient else [])}
    for header in ("delivered-to", "to"):
        values = [str(v) for v in msg.get_all(header, [])]
        trusted.update(addr.lower() for _name, addr in getaddresses(values) if addr)
    return [
        a
        for a in own
        if a.lower() in trusted or (pattern is not None and pattern.fullmatch(a.strip("<>")))
    ]


def _delivery_id(own: list[str], template: str | None, key: bytes) -> int | None:
    if not template:
        return None
    for address in own:
        delivery_id = verp_delivery_id(address, template, key=key)
        if delivery_id is not None:
            return delivery_id
    return None


# -- unsubscribe requests (the mailto: of List-Unsubscribe) ---------------------------------

UNSUBSCRIBE_SUBJECT = "unsubscribe"


def unsubscribe_mailto(verp_address: str) -> str:
    """The ``mailto:`` target of List-Unsubscribe: the message's own VERP address."""
    return f"mailto:{verp_address}?subject={UNSUBSCRIBE_SUBJECT}"


def unsubscribe_request(
    raw: bytes, *, verp_template: str | None, key: bytes = b"", recipient: str | None = None
) -> int | None:
    """The delivery a member asked to leave by mail, or None if this is no such request.

    Only a message sent to a VERP address we signed counts (the address is in that member's
    mail alone), with the subject a mail client's List-Unsubscribe button puts there, and only
    when it is not itself a bounce: a returned copy of our mail also carries our address.
    """
    if not verp_template or not isinstance(raw, bytes | bytearray):
        return None
    try:
        msg = email.message_from_bytes(bytes(raw[:MAX_PARSE_BYTES]))
        subject = _header(msg, "Subject").strip().lower()
        if subject != UNSUBSCRIBE_SUBJECT:
            return None
        if _dsn_recipients(msg) is not None or _strong_bounce_signal(msg) is not None:
            return None
        return _delivery_id(_own_addresses(msg, recipient), verp_template, key)
    except Exception:  # noqa: BLE001 - hostile input: simply not a request
        return None


# -- RFC 3464 delivery-status parts ---------------------------------------------------------------


_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
# Returned messages may themselves be bounces; their DSN parts are not about our delivery.
_OPAQUE_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/partial")


def _dsn_parts(part: Message, depth: int = 0) -> Iterator[Message]:
    ctype = part.get_content_type()
    if ctype in _DSN_TYPES:
        yield part
        return
    if depth >= _MAX_DEPTH or ctype in _OPAQUE_TYPES or not part.is_multipart():
        return
    payload = part.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                yield from _dsn_parts(sub, depth + 1)


def _dsn_recipients(msg: Message) -> list[_Recipient] | None:
    """Per-recipient results of every delivery-status part, or None when there is none."""
    parts = list(_dsn_parts(msg))
    if not parts:
        return None
    recipients: list[_Recipient] = []
    for part in parts:
        try:
            blocks = _dsn_blocks(part)
        except Exception:  # noqa: BLE001 - one mangled DSN part should not hide the others
            continue
        # The per-message block (Reporting-MTA, …) has no recipient fields and is skipped by
        # _recipient; not relying on its position copes with DSNs that omit the blank line.
        for block in blocks:
            found = _recipient(block)
            if found is not None:
                recipients.append(found)
    return recipients


def _dsn_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    plain = cte in ("", "7bit", "8bit", "binary")
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list) and plain:
        return [block for block in payload if isinstance(block, Message)]
    # Encoded, RFC 6533 global (parsed by the email package as an embedded message) or malformed:
    # recover the text and split it into blocks ourselves.
    return _split_blocks(_dsn_text(part, payload, cte))


def _dsn_text(part: Message, payload: object, cte: str) -> str:
    if isinstance(payload, str):
        body = part.get_payload(decode=True)
        return body.decode("utf-8", "replace") if isinstance(body, bytes) else payload
    if not isinstance(payload, list):
        return ""
    text = "\n".join(sub.as_string() for sub in payload if isinstance(sub, Message))
    if cte == "base64":
        try:
            decoded = base64.b64decode(re.sub(r"\s+", "", text.lstrip("\n")))
        except (binascii.Error, ValueError):
            return ""
        return decoded.decode("utf-8", "replace")
    if cte == "quoted-printable":
        return quopri.decodestring(text.encode("utf-8", "replace")).decode("utf-8", "replace")
    return text


def _split_blocks(text: str) -> list[Message]:
    chunks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [email.message_from_string(c.strip("\n") + "\n") for c in chunks if c.strip()]


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return "" if value is None else _one_line(str(value))


def _recipient(block: Message) -> _Recipient | None:
    address = _dsn_address(_field(block, "original-recipient")) or _dsn_address(
        _field(block, "final-recipient")
    )
    if not address:
        return None
    action = _field(block, "action").lower()
    diagnostic = _dsn_diagnostic(_field(block, "diagnostic-code"))
    status = _status(_field(block, "status"), diagnostic)
    if action.startswith("delayed"):
        # "Still trying": the MTA reports the outcome later, delivered or failed. Counting the
        # warning too would suppress a member over mail that may still arrive.
        kind: Kind = "none"
    elif action.startswith(("failed", "failure", "error")):  # OpenSMTPD "error", NTMail "failure"
        # "failed" alone means the MTA gave up; a 4.x.x status says it gave up on a temporary
        # condition (e.g. 4.4.7 expired in queue), which does not prove the address dead.
        kind = _status_kind(status) if status else "hard"
    elif not action and status:
        kind = _status_kind(status)  # Action is mandatory, but some MTAs forget it
    else:
        kind = "none"  # delivered, relayed, expanded
    return _Recipient(address, kind, status, _clip(diagnostic), action)


def _dsn_address(value: str) -> str:
    # "rfc822; ana@example.org" — the address type is not always rfc822 (utf-8, unknown, x400…),
    # so any value that looks like an address is accepted.
    _type, sep, rest = value.partition(";")
    return _clean_address(rest if sep else value)


def _dsn_diagnostic(value: str) -> str:
    # Drop the diagnostic type ("smtp;", "X-Postfix;") — only the text is useful to a person.
    dtype, sep, rest = value.partition(";")
    if sep and re.fullmatch(r"\s*[A-Za-z][A-Za-z0-9-]*\s*", dtype):
        value = rest
    return _unfold_smtp_reply(value.strip())


def _unfold_smtp_reply(text: str) -> str:
    # A multi-line SMTP reply ("550-5.1.1 … 550-5.1.1 … 550 5.1.1 …") repeats its code on every
    # line; once unfolded into one line those repeats are noise.
    match = re.match(r"([245]\d\d)-(?:([245]\.\d{1,3}\.\d{1,3})\s)?", text)
    if match is None:
        return text
    code, status = match.groups()
    repeat = re.escape(code) + r"[ -]" + (re.escape(status) + r"\s" if status else "")
    return f"{code} " + re.sub(r"\s+" + repeat + r"\s*", " ", text[len(code) + 1 :])


def _status(field: str, diagnostic: str) -> str | None:
    match = _STATUS_RE.search(field)
    status = ".".join(match.groups()) if match else None
    detailed = _SMTP_REPLY_RE.search(diagnostic)
    if status is None:
        return detailed.group(2) if detailed else None
    # Exim and others write a bare "5.0.0" while the remote said "552 5.2.2"; the specific code
    # is what tells a full mailbox from an unknown user.
    if status.endswith(".0.0") and detailed and detailed.group(2)[0] == status[0]:
        return detailed.group(2)
    return status


def _status_kind(status: str) -> Kind:
    if status.startswith("4") or status in _SOFT_PERMANENT:
        return "soft"
    if status.startswith("5"):
        return "hard"
    return "none"


# -- messages without a DSN part ------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return "" if value is None else _one_line(str(value))


def _strong_bounce_signal(msg: Message) -> str | None:
    """A marker only MTAs put on bounces, strong enough to outweigh auto-reply headers."""
    if msg.get("x-failed-recipients") is not None:
        return "X-Failed-Recipients header"
    sender = parseaddr(_header(msg, "from"))[1].lower()
    if sender.partition("@")[0] in _DAEMON_LOCALPARTS:
        return f"sent by {sender}"
    # Only a delivery report: feedback-report (ARF complaints) and disposition-notification (read
    # receipts) are reports too, and the heuristics would mistake their quoted mail for bounces.
    param = msg.get_param("report-type", "delivery-status")
    report_type = str(collapse_rfc2231_value(param)).lower()
    if msg.get_content_type() == "multipart/report" and report_type == "delivery-status":
        return "multipart/report"
    return None


def _weak_bounce_signal(msg: Message) -> str | None:
    subject = _header(msg, "subject")
    if _BOUNCE_SUBJECT_RE.search(subject):
        return f"bounce-like subject {_clip(subject, 80)!r}"
    return None


def _autoreply_signal(msg: Message) -> str | None:
    auto = _header(msg, "auto-submitted").lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    for header in ("x-autoreply", "x-autorespond", "x-autoresponse"):
        if msg.get(header) is not None:
            return f"{header} header"
    if _header(msg, "precedence").lower() == "auto_reply":
        return "Precedence: auto_reply"
    if _AUTOREPLY_SUBJECT_RE.search(_header(msg, "subject")):
        return "auto-reply subject"
    return None


def _text_status(msg: Message) -> tuple[str | None, str]:
    """The first SMTP reply with an enhanced status code in the bounce's own text."""
    lines = list(_notification_lines(msg))
    for index, line in enumerate(lines):
        match = _SMTP_REPLY_RE.search(line)
        if match is None:
            continue
        # The reply often wraps onto indented continuation lines (Exim, Postfix); keep them.
        reply = [line[match.start() :]]
        for more in lines[index + 1 :]:
            if not more.strip() or not more[:1].isspace():
                break
            reply.append(more)
        return match.group(2), _clip(" ".join(reply))
    return None, ""


def _notification_lines(msg: Message) -> Iterator[str]:
    for part in _text_parts(msg):
        body = part.get_payload(decode=True)
        if not isinstance(body, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = body.decode(charset, "replace")
        except LookupError:
            text = body.decode("utf-8", "replace")
        for line in text.splitlines():
            if _RETURNED_MESSAGE_RE.search(line):
                return
            yield line
        return  # only the first text part is the notification


def _text_parts(part: Message, depth: int = 0) -> Iterator[Message]:
    if part.get_content_type() in _OPAQUE_TYPES or depth >= _MAX_DEPTH:
        return
    if part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                yield from _text_parts(sub, depth + 1)
    elif part.get_content_type() == "text/plain":
        yield part


# -- small helpers --------------------------------------------------------------------------------


def _decode_addresses(found: Iterable[bytes]) -> list[str]:
    cleaned = (_clean_address(a.decode("ascii", "replace")) for a in found)
    return sorted(a for a in cleaned if a)


def _clean_address(value: str) -> str:
    address = value.strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    # Anything with spaces, brackets or no domain is a parsing accident, not a recipient.
    if not at or not local or "." not in domain or len(address) > 254:
        return ""
    if re.search(r"[\s<>(),;\"\\]", address) or _CONTROL_RE.search(address):
        return ""
    return address


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(addresses))


def _one_line(value: str) -> str:
    return " ".join(_CONTROL_RE.sub(" ", value).split())


def _clip(value: str, limit: int = DIAGNOSTIC_MAX) -> str:
    value = _one_line(value)
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"
