"""Bounce parsing over a corpus of real-world-shaped DSNs, and the VERP token scheme."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from mailer.bounces import BounceReport, parse, verp_address, verp_delivery_id

CORPUS = Path(__file__).parent / "dsn"
TEMPLATE = "bounces+{token}@lists.example.org"
KEY = b"test-key"

# file -> (kind, addresses, status, delivery id); the VERP tokens in the files were computed with
# KEY (bounces+42-29a6eb6f@… and so on).
EXPECTED: dict[str, tuple[str, tuple[str, ...], str | None, int | None]] = {
    "postfix_hard_user_unknown.eml": ("hard", ("ana@example.org",), "5.1.1", 42),
    # Delay warnings ("still trying") change nothing: the outcome is reported later.
    "postfix_delayed.eml": ("none", (), None, 43),
    # Exim writes "Status: 5.0.0"; the specific code comes from its Diagnostic-Code.
    "exim_dsn_hard.eml": ("hard", ("carla@example.com",), "5.1.1", 44),
    # No DSN part: flufl.bounce finds X-Failed-Recipients; the VERP local part arrives uppercased.
    "exim_classic_text.eml": ("hard", ("dave@example.com",), "5.1.1", 45),
    # QSBMF text bounce, no DSN part.
    "qmail_failure_notice.eml": ("hard", ("joao@example.net",), "5.1.1", 50),
    "office365_ndr.eml": ("hard", ("eva@example.com",), "5.1.10", 46),
    "gmail_address_not_found.eml": ("hard", ("filipe@example.net",), "5.1.1", 47),
    # Original-Recipient (what we sent to) wins over the alias-expanded Final-Recipient.
    "mailbox_full_522.eml": ("soft", ("helena@example.org",), "5.2.2", 48),
    # Sent before VERP was configured: plain bounce address, so no delivery id.
    "mailbox_full_422_sendmail.eml": ("none", (), None, None),
    "out_of_office.eml": ("none", (), None, 49),
    "outlook_automatic_reply.eml": ("none", (), None, 42),
    # Addressed to a forged token: a person writing in, not a bounce, and no delivery id.
    "plain_message.eml": ("none", (), None, None),
    "garbage_random.eml": ("none", (), None, None),
    "empty.eml": ("none", (), None, None),
    "truncated_mime.eml": ("none", (), None, 42),
    "truncated_headers.eml": ("none", (), None, 42),
    "broken_multipart.eml": ("none", (), None, 42),
}


def _parse_file(name: str, **kwargs: object) -> BounceReport:
    options: dict[str, object] = {"verp_template": TEMPLATE, "key": KEY, **kwargs}
    return parse((CORPUS / name).read_bytes(), **options)  # type: ignore[arg-type]


def _assert_well_formed(report: BounceReport) -> None:
    assert isinstance(report, BounceReport)
    assert report.kind in ("hard", "soft", "none")
    assert len(report.diagnostic) <= 300
    assert not re.search(r"[\x00-\x1f\x7f]", report.diagnostic)
    assert report.reason and "\n" not in report.reason and "\r" not in report.reason
    assert isinstance(report.addresses, tuple)
    assert all(a == a.lower() and "@" in a for a in report.addresses)
    assert (report.kind == "none") == (not report.addresses)


def test_every_corpus_file_has_an_expectation() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name: str) -> None:
    kind, addresses, status, delivery_id = EXPECTED[name]
    report = _parse_file(name)
    _assert_well_formed(report)
    assert (report.kind, report.addresses, report.status, report.delivery_id) == (
        kind,
        addresses,
        status,
        delivery_id,
    ), report.reason


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("postfix_hard_user_unknown.eml", "User unknown in virtual mailbox table"),
        ("office365_ndr.eml", "RESOLVER.ADR.RecipientNotFound"),
        ("exim_classic_text.eml", "mailbox unavailable"),
    ],
)
def test_diagnostic_is_one_unfolded_line(name: str, fragment: str) -> None:
    assert fragment in _parse_file(name).diagnostic


def test_multiline_smtp_reply_loses_repeated_codes() -> None:
    diagnostic = _parse_file("gmail_address_not_found.eml").diagnostic
    assert diagnostic.startswith("550 5.1.1 The email account")
    assert "550-" not in diagnostic and "double-checking" in diagnostic
    assert len(diagnostic) <= 300


def test_mailbox_full_reason_says_why_it_is_soft() -> None:
    assert "mailbox full" in _parse_file("mailbox_full_522.eml").reason


def test_auto_reply_reason() -> None:
    assert "auto-reply" in _parse_file("out_of_office.eml").reason


def test_without_template_there_is_no_delivery_id() -> None:
    report = parse((CORPUS / "postfix_hard_user_unknown.eml").read_bytes())
    assert (report.kind, report.delivery_id) == ("hard", None)


def test_wrong_key_gives_no_delivery_id() -> None:
    report = _parse_file("postfix_hard_user_unknown.eml", key=b"other-key")
    assert (report.kind, report.delivery_id) == ("hard", None)


def test_explicit_recipient_takes_precedence() -> None:
    envelope = verp_address(TEMPLATE, 99, key=KEY)
    report = _parse_file("postfix_hard_user_unknown.eml", recipient=envelope)
    assert report.delivery_id == 99


def test_explicit_recipient_without_token_falls_back_to_headers() -> None:
    report = _parse_file("postfix_hard_user_unknown.eml", recipient="bounces@lists.example.org")
    assert report.delivery_id == 42


# -- never raises ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_truncation_anywhere_never_raises(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    for cut in sorted({*range(0, len(data), max(1, len(data) // 60)), len(data) - 1}):
        _assert_well_formed(parse(data[: max(cut, 0)], verp_template=TEMPLATE, key=KEY))


@pytest.mark.parametrize("seed", range(40))
def test_random_bytes_and_mangled_bounces_never_raise(seed: int) -> None:
    rng = random.Random(seed)
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
    _assert_well_formed(parse(noise, verp_template=TEMPLATE, key=KEY))
    data = bytearray((CORPUS / rng.choice(sorted(EXPECTED))).read_bytes())
    for _ in range(rng.randrange(1, 50)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    _assert_well_formed(parse(bytes(data), verp_template=TEMPLATE, key=KEY))


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"\x00" * 100,
        b"From: MAILER-DAEMON@x.example\n\n",
        b"Content-Type: multipart/report; boundary=\n\n--\n--\n",
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n!!!@@@",
        "Subject: caf\u00e9 \ud800\n\nbody".encode("utf-8", "surrogatepass"),
    ],
)
def test_odd_inputs_never_raise(raw: bytes) -> None:
    _assert_well_formed(parse(raw, verp_template=TEMPLATE, key=KEY))


def test_wrong_types_never_raise() -> None:
    _assert_well_formed(parse(None))  # type: ignore[arg-type]
    _assert_well_formed(parse(12345))  # type: ignore[arg-type]
    text = (CORPUS / "postfix_hard_user_unknown.eml").read_text()
    assert parse(text).kind == "hard"  # type: ignore[arg-type]


def test_deeply_nested_mime_never_raises() -> None:
    depth = 3000
    head = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth)
    )
    tail = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    raw = f"From: MAILER-DAEMON@x.example\nContent-Type: multipart/mixed; boundary=b0\n\n{head}"
    _assert_well_formed(parse((raw + tail).encode()))


def test_huge_diagnostic_is_clipped() -> None:
    folded = "\n\t".join(["the remote server explained at length"] * 100)
    raw = _dsn(f"Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 {folded}")
    report = parse(raw)
    assert report.kind == "hard"
    _assert_well_formed(report)
    assert len(report.diagnostic) == 300


# -- DSN variants built inline ----------------------------------------------------------------


def _dsn(recipient_fields: str, *, ctype: str = "message/delivery-status", cte: str = "") -> bytes:
    status = "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; ana@example.org\n"
    status += recipient_fields + "\n"
    if cte == "base64":
        import base64

        body = base64.encodebytes(status.encode()).decode()
        encoding = "Content-Transfer-Encoding: base64\n"
    else:
        body, encoding = status, ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        "To: bounces@lists.example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nThe mail system\n\n"
        f"--B\nContent-Type: {ctype}\n{encoding}\n{body}\n--B--\n"
    ).encode()


@pytest.mark.parametrize(
    ("fields", "kind", "status"),
    [
        ("Action: failed\nStatus: 5.1.1 (bad destination mailbox address)", "hard", "5.1.1"),
        # Gave up after retrying a temporary failure: not evidence that the address is dead.
        ("Action: failed\nStatus: 4.4.7", "soft", "4.4.7"),
        ("Action: failed\nStatus: 5.2.3", "soft", "5.2.3"),
        (
            "Action: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 552 5.2.2 Over quota",
            "soft",
            "5.2.2",
        ),
        ("Action: failed", "hard", None),
        ("Action: error\nStatus: 5.1.1", "hard", "5.1.1"),  # OpenSMTPD's non-standard action
        ("Status: 5.1.1", "hard", "5.1.1"),  # Action missing altogether
        ("Action: failed\nDiagnostic-Code: smtp; 550 5.7.1 Relaying denied", "hard", "5.7.1"),
    ],
)
def test_dsn_fields(fields: str, kind: str, status: str | None) -> None:
    report = parse(_dsn(fields))
    assert (report.kind, report.addresses, report.status) == (kind, ("ana@example.org",), status)


def test_a_delay_warning_changes_nothing() -> None:
    report = parse(_dsn("Action: delayed\nStatus: 4.2.2"))
    assert (report.kind, report.addresses) == ("none", ())
    assert "delay warning" in report.reason


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_success_dsn_is_not_a_bounce(action: str) -> None:
    report = parse(_dsn(f"Action: {action}\nStatus: 2.0.0"))
    assert report.kind == "none" and "no failed recipient" in report.reason


def test_base64_delivery_status_part() -> None:
    report = parse(_dsn("Action: failed\nStatus: 5.1.1", cte="base64"))
    assert (report.kind, report.addresses, report.status) == ("hard", ("ana@example.org",), "5.1.1")


def test_global_delivery_status_part() -> None:
    report = parse(_dsn("Action: failed\nStatus: 5.1.1", ctype="message/global-delivery-status"))
    assert (report.kind, report.addresses, report.status) == ("hard", ("ana@example.org",), "5.1.1")


def test_mixed_report_lists_only_the_hard_failures() -> None:
    fields = "Action: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; bob@example.org\n"
    fields += "Action: delayed\nStatus: 4.4.1"
    report = parse(_dsn(fields))
    assert (report.kind, report.addresses) == ("hard", ("ana@example.org",))


def test_dsn_inside_returned_message_is_ignored() -> None:
    # A bounce of a bounce: the inner DSN is about someone else's delivery.
    inner = _dsn("Action: failed\nStatus: 5.1.1").decode()
    raw = (
        "From: Someone <someone@example.com>\nSubject: Fwd: look at this\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="O"\n\n--O\nContent-Type: text/plain\n\nFYI\n'
        f"--O\nContent-Type: message/rfc822\n\n{inner}\n--O--\n"
    )
    assert parse(raw.encode()).kind == "none"


def test_feedback_report_is_not_a_bounce() -> None:
    # An ARF complaint quotes our mail; the heuristics must not read it as a bounce.
    raw = (
        "From: Abuse Desk <feedback@fbl.example.net>\nTo: bounces@lists.example.org\n"
        "Subject: Complaint about message from 192.0.2.20\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nThis is an email abuse report.\n"
        "Hi, ana@example.org, thanks for subscribing.\n"
        "--F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n\n--F--\n"
    )
    assert parse(raw.encode()).kind == "none"


def test_auto_reply_recognised_by_subject_alone() -> None:
    raw = b"From: ana@example.org\nSubject: Automatic reply: March newsletter\n\nAway, back soon.\n"
    report = parse(raw)
    assert report.kind == "none" and "auto-reply" in report.reason


def test_delay_warning_without_dsn_changes_nothing() -> None:
    # Exim's classic delay warning: no DSN part, recognised by flufl.bounce as temporary.
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
        b"Subject: Warning: message 1rk1Zk-00062n-1Q delayed 24 hours\n"
        b"Auto-Submitted: auto-replied\n\n"
        b"This message was created automatically by mail delivery software.\n"
        b"A message that you sent has not yet been delivered to one or more of its\n"
        b"recipients after more than 24 hours on the queue on mx.example.net.\n\n"
        b"The message identifier is:     1rk1Zk-00062n-1Q\n\n"
        b"The address to which the message has not yet been delivered is:\n\n"
        b"  ana@example.org\n"
        b"    Delay reason: SMTP error from remote mail server after RCPT TO:<ana@example.org>:\n"
        b"    451 4.3.0 Temporary lookup failure\n\n"
        b"No action is required on your part. Delivery attempts will continue for\n"
        b"some time, and this warning may be repeated at intervals if the message\n"
        b"remains undelivered. Eventually the mail delivery software will give up,\n"
        b"and when that happens, the message will be returned to you.\n"
    )
    report = parse(raw)
    assert (report.kind, report.addresses) == ("none", ())
    assert "delay warning" in report.reason


def test_text_bounce_without_from_header() -> None:
    # flufl.bounce's Yale detector crashes on a From-less message; the later detectors must run.
    data = (CORPUS / "qmail_failure_notice.eml").read_bytes()
    data = re.sub(rb"(?m)^From: .*\n", b"", data, count=1)
    report = parse(data, verp_template=TEMPLATE, key=KEY)
    assert (report.kind, report.addresses, report.delivery_id) == (
        "hard",
        ("joao@example.net",),
        50,
    )


# -- VERP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("delivery_id", [0, 1, 42, 43, 10**12, 2**63 - 1])
def test_verp_round_trip(delivery_id: int) -> None:
    address = verp_address(TEMPLATE, delivery_id, key=KEY)
    assert re.fullmatch(rf"bounces\+{delivery_id}-[0-9a-f]{{8}}@lists\.example\.org", address)
    assert verp_delivery_id(address, TEMPLATE, key=KEY) == delivery_id
    # MTAs may change the case of the local part, and headers carry angle brackets.
    assert verp_delivery_id(address.upper(), TEMPLATE, key=KEY) == delivery_id
    assert verp_delivery_id(f"<{address}>", TEMPLATE, key=KEY) == delivery_id
    assert verp_delivery_id(f"Bounces <{address}>", TEMPLATE, key=KEY) == delivery_id


def test_verp_known_value() -> None:
    assert verp_address(TEMPLATE, 42, key=KEY) == "bounces+42-29a6eb6f@lists.example.org"


def test_template_without_token_is_returned_unchanged() -> None:
    assert verp_address("bounces@lists.example.org", 42, key=KEY) == "bounces@lists.example.org"
    assert (
        verp_delivery_id("bounces@lists.example.org", "bounces@lists.example.org", key=KEY) is None
    )


def test_template_with_display_name_gives_a_bare_envelope_address() -> None:
    template = "List bounces <bounces+{token}@lists.example.org>"
    address = verp_address(template, 7, key=KEY)
    assert address == verp_address(TEMPLATE, 7, key=KEY)
    assert verp_delivery_id(address, template, key=KEY) == 7


@pytest.mark.parametrize("bad", [-1, True, 1.5, "42"])
def test_verp_address_refuses_bad_ids(bad: object) -> None:
    with pytest.raises(ValueError):
        verp_address(TEMPLATE, bad, key=KEY)  # type: ignore[arg-type]


def test_tampered_mac_is_refused() -> None:
    address = verp_address(TEMPLATE, 42, key=KEY)
    mac = address.split("-", 1)[1].split("@")[0]
    for i in range(len(mac)):
        flipped = mac[:i] + ("0" if mac[i] != "0" else "1") + mac[i + 1 :]
        assert verp_delivery_id(address.replace(mac, flipped), TEMPLATE, key=KEY) is None


@pytest.mark.parametrize(
    "address",
    [
        "bounces+43-29a6eb6f@lists.example.org",  # 42's MAC on another id
        "bounces+042-29a6eb6f@lists.example.org",  # non-canonical id
        "bounces+42-29a6eb6@lists.example.org",  # MAC too short
        "bounces+42-29a6eb6f0@lists.example.org",  # MAC too long
        "bounces+42-29a6eb6f@lists.example.org.evil.example",
        "xbounces+42-29a6eb6f@lists.example.org",
        "bounces+42_29a6eb6f@lists.example.org",
        "bounces+-29a6eb6f@lists.example.org",
        "bounces+٤٢-29a6eb6f@lists.example.org",  # non-ASCII digits
        "",
        "not an address",
    ],
)
def test_bad_tokens_are_refused(address: str) -> None:
    assert verp_delivery_id(address, TEMPLATE, key=KEY) is None


def test_wrong_key_is_refused() -> None:
    address = verp_address(TEMPLATE, 42, key=KEY)
    assert verp_delivery_id(address, TEMPLATE, key=b"another-key") is None


@pytest.mark.parametrize(
    "template",
    [
        "bounces+{token}@other.example.org",
        "returns+{token}@lists.example.org",
        "bounces-{token}@lists.example.org",
        "bounces@lists.example.org",
    ],
)
def test_wrong_template_is_refused(template: str) -> None:
    address = verp_address(TEMPLATE, 42, key=KEY)
    assert verp_delivery_id(address, template, key=KEY) is None


def test_template_with_other_braces() -> None:
    template = "b{x}+{token}@lists.example.org"
    address = verp_address(template, 5, key=KEY)
    assert address.startswith("b{x}+5-")
    assert verp_delivery_id(address, template, key=KEY) == 5
