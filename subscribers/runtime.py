"""The composition root's product: everything built once from settings and passed down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from mailer.clock import Clock, system_clock
from mailer.message import Address
from mailer.pacing import Pacer
from mailer.sender import Sender
from mailer.sender import Signer as MessageSigner
from mailer.transport import CaptureTransport, Transport, transport_from_url
from subscribers.content.mails import MailKit
from subscribers.core.capture import CaptureStore
from subscribers.core.db import make_engine, session_factory
from subscribers.core.settings import Settings
from subscribers.core.signing import signer_from_settings
from subscribers.core.tokens import Signer
from subscribers.people import audience
from subscribers.people.registration import OfferedLists


def start_thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, daemon=True).start()


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    new_session: Callable[[], Session]
    new_read_session: Callable[[], Session]  # for requests that only read (GET): no write lock
    clock: Clock
    kit: MailKit
    transport: Transport
    capture: CaptureStore | None = None
    dkim: MessageSigner | None = None
    # Runs long work (an import) beside the request that started it; tests run it at once.
    background: Callable[[Callable[[], None]], None] = field(
        default_factory=lambda: start_thread, repr=False
    )
    _sender: Sender | None = field(default=None, repr=False)
    # The public lists between a registration form and its POST (one copy per process).
    offered: OfferedLists = field(default_factory=OfferedLists, repr=False)
    # Consent wordings a registration form showed, by id: rows never change once written, so
    # the POST finds the words it records without a query (subscribers.people.consent).
    wordings: dict[int, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        transport: Transport | None = None,
        engine: Engine | None = None,
    ) -> Runtime:
        engine = engine or make_engine(settings.database_url)
        kit = MailKit.build(
            base_url=settings.base_url,
            signer=Signer(settings.secret_key, clock),
            default_sender=settings.mail_from,
        )
        capture = None
        if transport is None:
            if settings.smtp_url.startswith("capture:"):
                # The local catch-all keeps mail as files in instance/, so a mail sent by the
                # worker can be read in the browser at /admin/outbox by any process.
                capture = CaptureStore(Path(settings.instance_path) / "outbox")
                transport = CaptureTransport(sink=capture.store)
            else:
                transport = transport_from_url(
                    settings.smtp_url,
                    connections=settings.smtp_connections,
                    rate=settings.send_rate,
                )
        return cls(
            settings=settings,
            engine=engine,
            new_session=session_factory(engine),
            new_read_session=session_factory(engine, read_only=True),
            clock=clock,
            kit=kit,
            transport=transport,
            capture=capture,
            dkim=signer_from_settings(settings),  # a bad key stops start-up, not the first send
        )

    @property
    def sender(self) -> Sender:
        """The outbox sender, built on first use (its DKIM key is read once)."""
        if self._sender is None:
            self._sender = Sender(
                self.new_session,
                self.transport,
                self.clock,
                still_wanted=audience.still_wanted,
                bounce_address=self.settings.bounce_address,
                verp_key=self.settings.secret_key.encode(),
                signer=self.dkim,
                pacer=Pacer(self.settings.domain_limits) if self.settings.domain_limits else None,
            )
        return self._sender

    def sender_address(self) -> Address:
        return Address.parse(self.settings.mail_from)
