"""Per-message cost of DkimSigner.sign against dkimpy's dkim.sign for one 30 KB newsletter.

Run: ``.venv/bin/python bench/dkim_cost.py`` from the project root. Prints timings; asserts
nothing except that both signatures verify.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.compose import Personalised  # noqa: E402
from mailer.dkim import DkimSigner, _canon_body  # noqa: E402
from mailer.message import Address  # noqa: E402
from mailer.mime import MessageLayout  # noqa: E402

SELECTOR = "bench"
DOMAIN = "lists.example.org"


def thirty_kb_message() -> bytes:
    """A typical newsletter: 15 KB of HTML and 15 KB of text, both quoted-printable."""
    paragraph = "Ceci est un paragraphe de la lettre d'information, avec des accents: é à ü. "
    # Indented like the HTML our templates produce: runs of spaces are what canonicalisation
    # has to reduce.
    html = "<html><body>" + "".join(f"    <p>{paragraph * 2}</p>\n" for _ in range(75)) + "</body>"
    text = "".join(f"{paragraph * 2}\n\n" for _ in range(75))
    layout = MessageLayout(
        subject="Lettre d'information — mars",
        sender=Address("news@lists.example.org", "Réseau Pro"),
        list_id="News <news.lists.example.org>",
    )
    return layout.build(
        to=Address("someone@example.com", "Zoë Müller"),
        bodies=Personalised(html=html, text=text),
        message_id="<1.abc@lists.example.org>",
        date=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        unsubscribe_url="https://lists.example.org/u/abcdef",
    )


def per_call(func: Callable[[], object], repeat: int) -> float:
    """Best-of-five mean CPU seconds per call (the figure that matters on a shared machine)."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeat):
            func()
        best = min(best, (time.process_time() - start) / repeat)
    return best


def main() -> None:
    """Print per-message signing costs."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signer = DkimSigner(private_key_pem=pem, selector=SELECTOR, domain=DOMAIN)
    record = signer.dns_record().encode()
    message = thirty_kb_message()

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        return record

    ours = signer.sign(message)
    theirs = dkim.sign(
        message, SELECTOR.encode(), DOMAIN.encode(), pem, canonicalize=(b"relaxed", b"relaxed")
    )
    assert dkim.verify(ours, dnsfunc=dnsfunc) and dkim.verify(theirs + message, dnsfunc=dnsfunc)

    rsa_only = per_call(lambda: key.sign(b"x" * 600, padding.PKCS1v15(), hashes.SHA256()), 500)
    body = message.partition(b"\r\n\r\n")[2]
    canon = per_call(lambda: _canon_body(body), 2000)
    fast = per_call(lambda: signer.sign(message), 500)
    slow = per_call(
        lambda: dkim.sign(
            message, SELECTOR.encode(), DOMAIN.encode(), pem, canonicalize=(b"relaxed", b"relaxed")
        ),
        20,
    )
    print(f"message size:            {len(message)} bytes")
    print(f"RSA-2048 sign alone:     {rsa_only * 1e3:.3f} ms")
    print(f"relaxed body canon:      {canon * 1e3:.3f} ms")
    print(f"DkimSigner.sign:         {fast * 1e3:.3f} ms/message")
    print(f"dkim.sign (dkimpy):      {slow * 1e3:.3f} ms/message  ({slow / fast:.0f}x)")


if __name__ == "__main__":
    main()
