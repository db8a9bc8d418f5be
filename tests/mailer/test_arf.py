"""Feedback-loop reports (RFC 5965) read from the samples in tests/mailer/arf."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailer import arf
from mailer.bounces import parse as parse_bounce

SAMPLES = Path(__file__).parent / "arf"
TEMPLATE = "bounces+{token}@network.test"
KEY = b"test-secret-key-that-is-long-enough"


def read(name: str) -> arf.FeedbackReport:
    report = arf.parse((SAMPLES / name).read_bytes(), verp_template=TEMPLATE, key=KEY)
    assert report is not None, name
    return report


def test_yahoo_is_tied_by_the_verp_return_path_of_the_returned_headers() -> None:
    report = read("yahoo_cfl.eml")
    assert report.complaint and report.feedback_type == "abuse"
    assert report.user_agent == "Yahoo!-Mail-Feedback/2.0"
    assert report.delivery_id == 1
    assert report.message_id == "<1.5f2c9a1d4e8b7c60@network.test>"


def test_aol_has_no_verp_but_the_original_message_id() -> None:
    report = read("aol_fbl.eml")
    assert report.complaint and report.delivery_id is None
    assert report.message_id == "<2.9b1e44c0a7d36f12@network.test>"


def test_microsoft_jmrp_names_the_original_recipient() -> None:
    report = read("microsoft_jmrp.eml")
    assert report.complaint and report.delivery_id is None
    assert report.addresses[0] == "ana@outlook.com"


def test_the_rfc_example_gives_original_rcpt_to_first() -> None:
    report = read("rfc5965_example.eml")
    assert report.complaint and report.addresses[0] == "user@example.com"


def test_not_spam_is_a_report_but_no_complaint() -> None:
    report = read("not_spam.eml")
    assert report.feedback_type == "not-spam" and not report.complaint


def test_a_forged_verp_token_ties_nothing() -> None:
    raw = (SAMPLES / "yahoo_cfl.eml").read_bytes().replace(b"3e8a96ca", b"00000000")
    report = arf.parse(raw, verp_template=TEMPLATE, key=KEY)
    assert report is not None and report.delivery_id is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff garbage",
        b"Subject: hi\r\n\r\nhello",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B--",
    ],
)
def test_anything_else_is_not_a_feedback_report(raw: bytes) -> None:
    assert arf.parse(raw, verp_template=TEMPLATE, key=KEY) is None


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.eml")))
def test_bounce_parsing_never_mistakes_a_report_for_a_bounce(name: str) -> None:
    assert parse_bounce((SAMPLES / name).read_bytes()).kind == "none"
