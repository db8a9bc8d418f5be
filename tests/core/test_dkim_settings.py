"""DKIM configured by settings: every sent message verifies, and the key is checked at start."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailer.clock import FrozenClock
from mailer.dkim import load_signer
from mailer.transport import CaptureTransport
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.core.settings import SettingsError, load
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_sent_mail_is_dkim_signed_and_verifies(
    tmp_path, database_url, engine, session, key_file
) -> None:  # type: ignore[no-untyped-def]
    settings = load(
        {
            "NEWSLETTER_DATABASE_URL": database_url,
            "NEWSLETTER_INSTANCE_PATH": str(tmp_path),
            "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
            "NEWSLETTER_MAIL_FROM": "Frontline Network <news@network.example.org>",
            "NEWSLETTER_DKIM_KEY_FILE": str(key_file),
            "NEWSLETTER_DKIM_SELECTOR": "news2026",
        },
        dotenv=None,
    )
    clock = FrozenClock()
    transport = CaptureTransport()
    rt = Runtime.build(settings, clock=clock, transport=transport, engine=engine)
    lst = make_list(session, clock())
    make_member(session, clock(), lists_=(lst,), name="Ștefan Chiriță")
    with transaction(rt.new_session()) as s:
        create_announcement(
            s,
            rt.kit,
            Announcement("practitioners", "Workshop in Chișinău", "Details follow."),
            now=clock(),
        )
    assert rt.sender.drain().sent == 1
    record = load_signer(str(key_file), "news2026", "network.example.org").dns_record()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news2026._domainkey.network.example.org."
        return record.encode() if isinstance(record, str) else record

    message = transport.messages[0].data
    assert message.startswith(b"DKIM-Signature:")
    assert dkim.verify(message, dnsfunc=dnsfunc)
    assert b"list-unsubscribe" in message.split(b"\r\n\r\n", 1)[0].lower()


def test_an_unusable_key_stops_start_up_with_one_line(tmp_path, database_url, engine) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    settings = load(
        {
            "NEWSLETTER_DATABASE_URL": database_url,
            "NEWSLETTER_INSTANCE_PATH": str(tmp_path),
            "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
            "NEWSLETTER_DKIM_KEY_FILE": str(bad),
            "NEWSLETTER_DKIM_SELECTOR": "s",
        },
        dotenv=None,
    )
    with pytest.raises(SettingsError, match="^NEWSLETTER_DKIM_KEY_FILE: "):
        Runtime.build(settings, transport=CaptureTransport(), engine=engine)
