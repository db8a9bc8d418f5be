"""The headers and MIME structure of every kind of mail, as a member's server receives them."""

from __future__ import annotations

import email
import email.policy

from icalendar import Calendar

from tests.mailcraft.conftest import KINDS, TRANSACTIONAL, Received

EVENT_METHODS = {
    "invitation": "PUBLISH",
    "event_update": "PUBLISH",
    "event_cancel": "CANCEL",
}


def _parsed(received: Received) -> email.message.EmailMessage:
    return email.message_from_bytes(received.data, policy=email.policy.default)  # type: ignore[return-value]


def _header_lines(data: bytes) -> list[bytes]:
    return data.partition(b"\r\n\r\n")[0].split(b"\r\n")


def test_every_kind_says_it_is_auto_generated_and_only_bulk_says_bulk(
    every_kind: dict[str, Received],
) -> None:
    for kind in KINDS:
        message = _parsed(every_kind[kind])
        assert message.get_all("Auto-Submitted") == ["auto-generated"], kind
        if kind in TRANSACTIONAL:
            assert message["Precedence"] is None and message["List-Unsubscribe"] is None, kind
        else:
            assert message.get_all("Precedence") == ["bulk"], kind
            assert message["List-Id"] and message["List-Unsubscribe"], kind


def test_list_unsubscribe_is_folded_one_target_a_line(every_kind: dict[str, Received]) -> None:
    for kind in set(KINDS) - set(TRANSACTIONAL):
        lines = _header_lines(every_kind[kind].data)
        start = next(i for i, line in enumerate(lines) if line.startswith(b"List-Unsubscribe:"))
        end = start + 1
        while lines[end][:1] in (b" ", b"\t"):
            end += 1
        header = lines[start:end]
        # The web target and the mailto: target (VERP is on), each on a line of its own.
        assert len(header) == 2, (kind, header)
        assert [line.count(b"<") for line in header] == [1, 1], header
        assert header[1].startswith(b" <mailto:bounces+") and len(header[1]) <= 78, header


def test_headers_fit_in_78_columns_where_they_can(every_kind: dict[str, Received]) -> None:
    for kind in KINDS:
        for line in _header_lines(every_kind[kind].data):
            # A single URL or encoded word cannot be folded; nothing else may pass 78.
            if len(line) > 78:
                assert line.count(b" ") <= 1 or b"://" in line, (kind, line)


def test_event_mails_carry_one_calendar_part_with_its_method(
    every_kind: dict[str, Received],
) -> None:
    for kind in KINDS:
        message = _parsed(every_kind[kind])
        calendars = [p for p in message.walk() if "calendar" in p.get_content_type()]
        calendars += [p for p in message.walk() if p.get_content_type() == "application/ics"]
        if kind not in EVENT_METHODS:
            assert calendars == [], kind
            continue
        [part] = calendars
        assert part.get_content_type() == "text/calendar", kind
        assert part.get_param("method") == EVENT_METHODS[kind]
        assert part.get_param("charset") == "UTF-8"
        assert message.get_content_type() == "multipart/alternative"
        assert list(message.iter_attachments()) == []
        calendar = Calendar.from_ical(part.get_payload(decode=True))
        assert calendar["METHOD"] == EVENT_METHODS[kind]


def test_cancellation_follows_rfc_5546(every_kind: dict[str, Received]) -> None:
    def vevent(kind: str):  # type: ignore[no-untyped-def]
        message = _parsed(every_kind[kind])
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        [event] = Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
        return event

    invitation, update, cancel = (
        vevent("invitation"),
        vevent("event_update"),
        vevent("event_cancel"),
    )
    assert str(cancel["UID"]) == str(invitation["UID"]) == str(update["UID"])
    assert int(cancel["SEQUENCE"]) > int(update["SEQUENCE"]) > int(invitation["SEQUENCE"])
    assert str(cancel["STATUS"]) == "CANCELLED"
