"""Feedback-loop reports (ARF, RFC 5965): a member pressed "this is spam" at their provider.

Yahoo, AOL, Microsoft (JMRP) and others send them to the address registered for the sending
domain, often the bounce address, as ``multipart/report; report-type=feedback-report`` with a
human-readable part, a ``message/feedback-report`` part and the original message (whole, or only
its headers). Providers redact the recipient's address, so the report is tied to a delivery by
what we put into the message ourselves, most reliable first: the VERP address the report was
sent to or that the original's Return-Path carries, the original's Message-ID (stored with each
delivery), and only then addresses (Original-Rcpt-To, the original's To).

``parse`` never raises and returns None for anything that is not a feedback report, so the
bounce intake can try it first and fall through to bounce parsing.
"""

from __future__ import annotations

import email
from collections.abc import Collection
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value, getaddresses, parseaddr

from mailer.bounces import MAX_PARSE_BYTES, verp_delivery_id

# RFC 5965 section 7.3 registers abuse, fraud, other and virus; RFC 6430 adds not-spam and
# RFC 6591 auth-failure. Only the first three say a person did not want the mail: not-spam is
# the opposite, virus and auth-failure are about the message, not the recipient's wish.
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "other"})
# Headers of the original message, or of the report, that name whom it went to. The Microsoft
# JMRP one carries the unredacted recipient in the returned copy.
_ORIGINAL_RECIPIENT_HEADERS = ("x-hmxmroriginalrecipient", "to")
_REPORT_RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "to")
_ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")
_MAX_DEPTH = 8


@dataclass(frozen=True)
class FeedbackReport:
    """What a feedback report says, and what it can be tied to."""

    feedback_type: str  # abuse | fraud | other | virus | not-spam | auth-failure | ...
    user_agent: str  # the reporting system, e.g. "Yahoo!-Mail-Feedback/2.0"
    delivery_id: int | None  # from a VERP address we signed
    message_id: str | None  # the original's Message-ID, angle brackets kept
    addresses: tuple[str, ...]  # candidate recipients, best first (often redacted)

    @property
    def complaint(self) -> bool:
        return self.feedback_type in COMPLAINT_TYPES


def is_feedback_report(msg: Message) -> bool:
    param = msg.get_param("report-type", "")
    report_type = str(collapse_rfc2231_value(param)).strip().lower()
    return msg.get_content_type() == "multipart/report" and report_type == "feedback-report"


def parse(
    raw: bytes,
    *,
    verp_template: str | None = None,
    key: bytes = b"",
    recipient: str | None = None,
) -> FeedbackReport | None:
    """The feedback report in ``raw``, or None when it is none (or cannot be read)."""
    try:
        return _parse(raw, verp_template=verp_template, key=key, recipient=recipient)
    except Exception:  # noqa: BLE001 - written by strangers: unreadable is simply "not a report"
        return None


def _parse(
    raw: bytes, *, verp_template: str | None, key: bytes, recipient: str | None
) -> FeedbackReport | None:
    if not isinstance(raw, bytes | bytearray):
        return None
    msg = email.message_from_bytes(bytes(raw[:MAX_PARSE_BYTES]))
    if not is_feedback_report(msg):
        return None
    fields = _feedback_fields(msg)
    original = _original(msg)
    feedback_type = _one_line(fields.get("feedback-type", "")).lower() or "abuse"
    envelope = [recipient] if recipient else []
    envelope += _addresses(msg, _REPORT_RECIPIENT_HEADERS)
    if original is not None:
        # Return-Path of our mail is its VERP envelope sender: it names the delivery exactly.
        envelope += _addresses(original, ("return-path",))
    delivery_id = None
    if verp_template:
        delivery_id = next(
            (
                found
                for address in envelope
                if (found := verp_delivery_id(address, verp_template, key=key)) is not None
            ),
            None,
        )
    message_id = None
    candidates: list[str] = []
    if original is not None:
        message_id = _one_line(original.get("message-id", "")) or None
        candidates += _addresses(original, _ORIGINAL_RECIPIENT_HEADERS)
    # Original-Rcpt-To (RFC 5965 3.2) before the original's To: it is the envelope recipient.
    rcpt = [_clean(v.partition(";")[2] or v) for v in fields.get_all("original-rcpt-to", [])]
    candidates = [a for a in rcpt if a] + candidates
    return FeedbackReport(
        feedback_type=feedback_type,
        user_agent=_one_line(fields.get("user-agent", ""))[:100],
        delivery_id=delivery_id,
        message_id=message_id[:300] if message_id else None,
        addresses=tuple(dict.fromkeys(a for a in candidates if a)),
    )


def _parts(msg: Message, depth: int = 0) -> list[Message]:
    if depth > _MAX_DEPTH or not msg.is_multipart():
        return []
    found: list[Message] = []
    for part in msg.get_payload():
        if isinstance(part, Message):
            found.append(part)
            if part.get_content_type().startswith("multipart/"):
                found += _parts(part, depth + 1)
    return found


def _feedback_fields(msg: Message) -> Message:
    """The machine-readable part's fields (an empty message when the part is missing)."""
    found = _embedded(msg, ("message/feedback-report",))
    return found if found is not None else Message()


def _original(msg: Message) -> Message | None:
    """The returned original message, or its headers alone."""
    return _embedded(msg, _ORIGINAL_TYPES)


def _embedded(msg: Message, types: Collection[str]) -> Message | None:
    """The first part of one of ``types``, read as a message (parsed already, or from text)."""
    for part in _parts(msg):
        if part.get_content_type() not in types:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        body = part.get_payload(decode=True)
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(payload)
        return email.message_from_string(text.lstrip("\r\n"))
    return None


def _addresses(msg: Message, headers: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for header in headers:
        values = [str(v) for v in msg.get_all(header, [])]
        found += [a for _name, addr in getaddresses(values) if (a := _clean(addr))]
    return found


def _clean(value: str) -> str:
    address = (parseaddr(value)[1] or value).strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or len(address) > 254 or " " in address:
        return ""
    return address


def _one_line(value: object) -> str:
    return " ".join(str(value).split())
