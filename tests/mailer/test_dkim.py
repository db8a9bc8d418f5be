"""Tests for mailer.dkim: signatures made by DkimSigner, checked with dkimpy as the oracle."""

from __future__ import annotations

import ast
import base64
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dkim.util import parse_tag_value

from mailer.compose import Personalised
from mailer.dkim import DEFAULT_HEADERS, DkimSigner, _canon_body, _canon_header, load_signer
from mailer.message import Address
from mailer.mime import CalendarPart, MessageLayout

SELECTOR = "nl2026"
DOMAIN = "lists.example.org"
DNS_NAME = f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
DATE = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
SENDER = Address("news@lists.example.org", "Réseau Pro")
UNSUBSCRIBE = "https://lists.example.org/u/3f9a7c"

DnsFunc = Callable[..., bytes | None]


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key for the module: generating keys is the slow part of these tests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    """The key as PKCS#8 PEM."""
    return rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def signer(pem: bytes) -> DkimSigner:
    """A signer with the default header list and no t= tag."""
    return DkimSigner(private_key_pem=pem, selector=SELECTOR, domain=DOMAIN)


@pytest.fixture(scope="module")
def dnsfunc(rsa_key: rsa.RSAPrivateKey) -> DnsFunc:
    """dkimpy's DNS lookup (called as ``dnsfunc(name, timeout=...)``) answering for our selector.

    The record is built here from the public key, independently of ``DkimSigner.dns_record``.
    """
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == DNS_NAME else None

    return lookup


def build(
    *,
    subject: str = "March newsletter",
    to: Address | None = None,
    text: str = "Hello,\n\nThe March programme is out.\n",
    html: str = "<p>Hello,</p><p>The March programme is out.</p>",
    unsubscribe_url: str | None = UNSUBSCRIBE,
    sender: Address = SENDER,
    calendar: CalendarPart | None = None,
) -> bytes:
    """One message as mailer.mime builds it for sending."""
    message_layout = MessageLayout(
        subject=subject,
        sender=sender,
        list_id="Newsletter <newsletter.lists.example.org>",
        bulk=True,
        calendar=calendar,
    )
    return message_layout.build(
        to=to or Address("ana@example.com", "Ana Pereira"),
        bodies=Personalised(html=html, text=text),
        message_id="<17.a1b2c3d4@lists.example.org>",
        date=DATE,
        unsubscribe_url=unsubscribe_url,
    )


def split_signature(signed: bytes) -> tuple[bytes, bytes]:
    """The DKIM-Signature field (with its CRLF) and the message that follows it."""
    match = re.match(rb"DKIM-Signature:.*?\r\n(?![ \t])", signed, re.S)
    assert match is not None
    return match.group(0), signed[match.end() :]


def tags(signed: bytes) -> dict[bytes, bytes]:
    """The DKIM-Signature tags, whitespace left as dkimpy's parser leaves it."""
    field, _ = split_signature(signed)
    return parse_tag_value(field.partition(b":")[2])


def h_names(signed: bytes) -> list[str]:
    """The h= header list, lowercased, folding removed."""
    return [n.decode() for n in re.split(rb"\s*:\s*", tags(signed)[b"h"].strip())]


def replace_header(message: bytes, name: bytes, value: bytes) -> bytes:
    """``message`` with the (single-line) header ``name`` given another value."""
    changed, count = re.subn(rb"(?m)^(" + name + rb":)[^\r\n]*", rb"\1 " + value, message, count=1)
    assert count == 1
    return changed


LONG_TEXT = (
    "".join(f"Line {i}  with\tinner   whitespace and trailing blanks   \t\n" for i in range(400))
    + "\n\n   \n\n\n"
)

MESSAGES: dict[str, Callable[[], bytes]] = {
    "plain": lambda: build(),
    "non_ascii_subject_and_names": lambda: build(
        subject="Lettre d'information — mars: Chișinău, Zürich, 東京 🎉",
        to=Address("zoe@example.com", "Zoë Müller-Łukasiewicz"),
        sender=Address("news@lists.example.org", "Associação Profissional São João"),
    ),
    "very_long_subject": lambda: build(subject="Programme update " * 30),
    "long_body_trailing_whitespace": lambda: build(
        text=LONG_TEXT, html="<p>x</p>   \n\t\n" + "<br>  \n" * 300 + "\n\n\n"
    ),
    "reply_to_and_mailto": lambda: MessageLayout(
        subject="Event reminder",
        sender=SENDER,
        reply_to=Address("events@lists.example.org", "Events team"),
        list_id="Events <events.lists.example.org>",
    ).build(
        to=Address("bo@example.net"),
        bodies=Personalised(html="<b>Tomorrow</b>", text="Tomorrow"),
        message_id="<18.ffee@lists.example.org>",
        date=DATE,
        unsubscribe_url=UNSUBSCRIBE,
        unsubscribe_mailto="mailto:unsubscribe@lists.example.org?subject=18",
    ),
    "calendar_invitation": lambda: build(
        calendar=CalendarPart(
            data=b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n",
            method="REQUEST",
        )
    ),
    "no_list_unsubscribe": lambda: build(unsubscribe_url=None),
}


@pytest.mark.parametrize("make", MESSAGES.values(), ids=MESSAGES.keys())
def test_dkimpy_verifies_signed_messages(
    signer: DkimSigner, dnsfunc: DnsFunc, make: Callable[[], bytes]
) -> None:
    message = make()
    signed = signer.sign(message)
    assert signed.startswith(b"DKIM-Signature: ")
    assert split_signature(signed)[1] == message
    assert dkim.verify(signed, dnsfunc=dnsfunc)


def test_one_signer_signs_a_mix_of_messages_in_any_order(
    signer: DkimSigner, dnsfunc: DnsFunc
) -> None:
    # The signer keeps the folded start of the signature per set of headers: messages with and
    # without List-Unsubscribe, in turn, each verify and each names its own headers.
    bulk, personal = build(), build(unsubscribe_url=None, subject="Your   answer")
    for message in (bulk, personal, bulk, personal, bulk):
        signed = signer.sign(message)
        assert dkim.verify(signed, dnsfunc=dnsfunc)
        assert h_names(signed).count("list-unsubscribe") == (2 if message is bulk else 1)


def test_signature_tags(signer: DkimSigner) -> None:
    fields = tags(signer.sign(build()))
    assert fields[b"v"] == b"1"
    assert fields[b"a"] == b"rsa-sha256"
    assert fields[b"c"] == b"relaxed/relaxed"
    assert fields[b"d"] == DOMAIN.encode()
    assert fields[b"s"] == SELECTOR.encode()
    assert b"t" not in fields and b"x" not in fields and b"l" not in fields


def test_h_lists_present_headers_and_oversigns(signer: DkimSigner) -> None:
    # Precedence is not in the list; Reply-To and Cc are absent so not named.
    assert h_names(signer.sign(build())) == [
        "from", "from",
        "to",
        "subject", "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "list-id",
        "list-unsubscribe", "list-unsubscribe",
        "list-unsubscribe-post", "list-unsubscribe-post",
    ]  # fmt: skip


def test_absent_oversigned_headers_are_still_named(signer: DkimSigner) -> None:
    names = h_names(signer.sign(build(unsubscribe_url=None)))
    assert names.count("list-unsubscribe") == 1
    assert names.count("list-unsubscribe-post") == 1
    assert "reply-to" not in names and "cc" not in names


def test_body_hash_matches_dkimpy(signer: DkimSigner, pem: bytes) -> None:
    message = MESSAGES["long_body_trailing_whitespace"]()
    theirs = dkim.sign(
        message, SELECTOR.encode(), DOMAIN.encode(), pem, canonicalize=(b"relaxed", b"relaxed")
    )
    ours_bh = re.sub(rb"\s+", b"", tags(signer.sign(message))[b"bh"])
    theirs_bh = re.sub(rb"\s+", b"", parse_tag_value(theirs.partition(b":")[2])[b"bh"])
    assert ours_bh == theirs_bh


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\r\n",
        b"\r\n\r\n\r\n",
        b" \t \r\n",
        b"a\r\n",
        b"a  \t b \t\r\n\r\n \t\r\n",
        b"\tleading\r\n  two\r\n\r\nend\r\n\r\n",
        b"no final line break",
        b"no final line break, trailing blanks \t ",
    ],
)
def test_relaxed_body_edge_cases(signer: DkimSigner, dnsfunc: DnsFunc, body: bytes) -> None:
    head = b"From: a@lists.example.org\r\nSubject: edge\r\nTo: b@example.com\r\n"
    signed = signer.sign(head + b"\r\n" + body)
    # SMTP ends the data with CRLF, so that is what the receiving verifier sees.
    received = signed if not body or body.endswith(b"\r\n") else signed + b"\r\n"
    assert dkim.verify(received, dnsfunc=dnsfunc)


def test_headers_only_message(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    signed = signer.sign(b"From: a@lists.example.org\r\nSubject: no body\r\n")
    assert dkim.verify(signed, dnsfunc=dnsfunc)


def test_bare_lf_message_is_signed_as_crlf(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    message = b"From: a@lists.example.org\nSubject: lf\n\nline one\nline two\n"
    signed = signer.sign(message)
    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert split_signature(signed)[1] == message.replace(b"\n", b"\r\n")
    assert dkim.verify(signed, dnsfunc=dnsfunc)


def test_signature_header_is_folded(signer: DkimSigner) -> None:
    field, _ = split_signature(signer.sign(MESSAGES["non_ascii_subject_and_names"]()))
    lines = field.split(b"\r\n")
    assert lines[-1] == b""
    assert all(len(line) <= 78 for line in lines)
    assert all(line[:1] == b" " for line in lines[1:-1])


def test_long_names_stay_under_998_octets(pem: bytes, dnsfunc: DnsFunc) -> None:
    selector = "s" + "e" * 62
    domain = ".".join(["d" * 63] * 3) + ".org"
    long_header = "x-" + "h" * 150
    signer = DkimSigner(
        private_key_pem=pem,
        selector=selector,
        domain=domain,
        headers=(*DEFAULT_HEADERS, long_header),
    )
    message = f"From: a@{domain}\r\n{long_header}: v\r\nSubject: s\r\n\r\nbody\r\n".encode()
    signed = signer.sign(message)
    field, _ = split_signature(signed)
    assert all(len(line) <= 998 for line in field.split(b"\r\n"))
    name = f"{selector}._domainkey.{domain}.".encode()
    assert dkim.verify(
        signed, dnsfunc=lambda n, timeout=5: dnsfunc(DNS_NAME) if n == name else None
    )


def test_injected_clock_adds_t_tag(pem: bytes, dnsfunc: DnsFunc) -> None:
    signer = DkimSigner(
        private_key_pem=pem, selector=SELECTOR, domain=DOMAIN, now=lambda: 1_772_000_000
    )
    signed = signer.sign(build())
    assert tags(signed)[b"t"] == b"1772000000"
    assert dkim.verify(signed, dnsfunc=dnsfunc)


def test_signing_is_deterministic(signer: DkimSigner) -> None:
    message = build()
    assert signer.sign(message) == signer.sign(message)


def test_relaxed_changes_in_transit_still_verify(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    signed = signer.sign(MESSAGES["long_body_trailing_whitespace"]())
    # What relaxed canonicalisation tolerates: refolding, header name case, WSP runs, trailing
    # blanks and blank lines at the end, and unsigned headers added by relays.
    changed = signed.replace(b"\r\nSubject: ", b"\r\nsubject:   \r\n\t ", 1)
    changed = changed.replace(b"\r\nMIME-Version: 1.0", b"\r\nMIME-VERSION:   1.0  ", 1)
    changed = b"Received: from relay by mx; Sun, 1 Mar 2026 12:31:00 +0000\r\n" + changed
    changed += b"  \r\n\r\n"
    assert dkim.verify(changed, dnsfunc=dnsfunc)


def test_tampered_list_unsubscribe_fails(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    signed = signer.sign(build())
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    forged = replace_header(signed, b"List-Unsubscribe", b"<https://evil.example/u/3f9a7c>")
    assert not dkim.verify(forged, dnsfunc=dnsfunc)


def test_tampered_list_unsubscribe_post_fails(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    signed = signer.sign(build())
    forged = replace_header(signed, b"List-Unsubscribe-Post", b"List-Unsubscribe=Two-Click")
    assert not dkim.verify(forged, dnsfunc=dnsfunc)


@pytest.mark.parametrize("where", ["top", "bottom"])
@pytest.mark.parametrize(
    "extra",
    [
        b"List-Unsubscribe: <https://evil.example/u>",
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"From: Someone Else <ceo@lists.example.org>",
        b"Subject: Urgent: verify your account",
    ],
    ids=["list-unsubscribe", "list-unsubscribe-post", "from", "subject"],
)
def test_added_oversigned_header_fails(
    signer: DkimSigner, dnsfunc: DnsFunc, extra: bytes, where: str
) -> None:
    signature, message = split_signature(signer.sign(build()))
    if where == "top":
        forged = signature + extra + b"\r\n" + message
    else:
        head, _, body = message.partition(b"\r\n\r\n")
        forged = signature + head + b"\r\n" + extra + b"\r\n\r\n" + body
    assert not dkim.verify(forged, dnsfunc=dnsfunc)


def test_adding_list_unsubscribe_to_message_without_one_fails(
    signer: DkimSigner, dnsfunc: DnsFunc
) -> None:
    signed = signer.sign(build(unsubscribe_url=None))
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    forged = signed.replace(
        b"\r\n\r\n", b"\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n", 1
    )
    assert not dkim.verify(forged, dnsfunc=dnsfunc)


@pytest.mark.parametrize("header", [b"To", b"Date", b"Message-ID", b"Content-Type"])
def test_tampered_signed_header_fails(signer: DkimSigner, dnsfunc: DnsFunc, header: bytes) -> None:
    signed = signer.sign(build())
    forged = replace_header(signed, header, b"x")
    assert not dkim.verify(forged, dnsfunc=dnsfunc)


def test_one_changed_body_byte_fails(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    signed = signer.sign(build())
    at = signed.index(b"March programme")
    forged = signed[:at] + b"m" + signed[at + 1 :]
    assert not dkim.verify(forged, dnsfunc=dnsfunc)


def test_repeated_plain_header_signs_last_occurrence(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    message = (
        b"From: a@lists.example.org\r\nTo: first@example.com\r\nTo: second@example.com\r\n"
        b"Subject: twice\r\n\r\nbody\r\n"
    )
    signed = signer.sign(message)
    assert h_names(signed).count("to") == 1
    assert dkim.verify(signed, dnsfunc=dnsfunc)
    assert not dkim.verify(signed.replace(b"second@", b"other@"), dnsfunc=dnsfunc)


def test_pkcs1_and_pkcs8_keys_sign_alike(rsa_key: rsa.RSAPrivateKey, pem: bytes) -> None:
    pkcs1 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    message = build()
    one = DkimSigner(private_key_pem=pkcs1, selector=SELECTOR, domain=DOMAIN).sign(message)
    # RSASSA-PKCS1-v1_5 is deterministic, so the same key gives the same bytes.
    assert one == DkimSigner(private_key_pem=pem, selector=SELECTOR, domain=DOMAIN).sign(message)


def test_load_signer_reads_pem_file(signer: DkimSigner, pem: bytes, tmp_path: Path) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(pem)
    loaded = load_signer(str(key_file), SELECTOR, DOMAIN)
    message = build()
    assert loaded.sign(message) == signer.sign(message)


def test_dns_record_matches_public_key(signer: DkimSigner, dnsfunc: DnsFunc) -> None:
    assert signer.dns_record().encode() == dnsfunc(DNS_NAME)


def _small_rsa_pem() -> bytes:
    # cryptography refuses to generate keys under 1024 bits; build one from two known primes.
    p, q, e = 2**255 - 19, 2**256 - 189, 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    key = rsa.RSAPrivateNumbers(
        p, q, d,
        rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
        rsa.RSAPublicNumbers(e, p * q),
    ).private_key()  # fmt: skip
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _encrypted_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )


@pytest.mark.parametrize(
    ("make_pem", "message"),
    [
        (lambda: b"not a key", "not an unencrypted PEM private key"),
        (lambda: b"", "not an unencrypted PEM private key"),
        (_encrypted_pem, "not an unencrypted PEM private key"),
        (_ec_pem, "must be RSA"),
        (_small_rsa_pem, "511 bits; at least 1024"),
    ],
    ids=["garbage", "empty", "encrypted", "ec", "511-bit"],
)
def test_unusable_key_raises_value_error(make_pem: Callable[[], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DkimSigner(private_key_pem=make_pem(), selector=SELECTOR, domain=DOMAIN)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domain": "exämple.org"}, "domain"),
        ({"domain": "a b.org"}, "domain"),
        ({"selector": "s;x=1"}, "selector"),
        ({"headers": ("to", "subject")}, "From"),
        ({"headers": ("from", "dkim-signature")}, "itself"),
        ({"headers": ("from", "From")}, "twice"),
        ({"headers": ("from", "bad name")}, "header field name"),
    ],
)
def test_bad_signer_settings_raise(pem: bytes, kwargs: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {"selector": SELECTOR, "domain": DOMAIN, **kwargs}
    with pytest.raises(ValueError, match=message):
        DkimSigner(private_key_pem=pem, **settings)  # type: ignore[arg-type]


def test_message_without_from_is_refused(signer: DkimSigner) -> None:
    with pytest.raises(ValueError, match="no From"):
        signer.sign(b"To: b@example.com\r\nSubject: x\r\n\r\nbody\r\n")


def test_module_imports_no_web_or_member_code() -> None:
    source = Path(__file__).resolve().parents[2] / "mailer" / "dkim.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"flask", "subscribers"}


def test_relaxed_canonicalisation_matches_dkimpy_on_random_whitespace() -> None:
    # The canonicaliser avoids regexes for speed (a regex over a 30 KB body cost more than the
    # RSA signature); dkimpy's own relaxed canonicalisation is the oracle for what it must do.
    from dkim.canonicalization import Relaxed

    rng = random.Random(5)
    pieces = [b" ", b"\t", b"a", b"\r\n", b"  ", b"x y", b"\t\t ", b"   "]
    for _ in range(3000):
        text = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        body = text + b"\r\n"
        assert _canon_body(body) == Relaxed.canonicalize_body(body), body
        field = b"Subject:" + text.replace(b"\r\n", b"\r\n ") + b"\r\n"
        [(name, value)] = Relaxed.canonicalize_headers([(b"Subject", field[8:])])
        assert _canon_header(field) == name + b":" + value, field
