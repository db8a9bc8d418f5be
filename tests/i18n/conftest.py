"""A runtime whose mail is captured in memory, to read what each member received."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mailer.clock import FrozenClock
from mailer.transport import CaptureTransport
from subscribers.core.settings import Settings
from subscribers.runtime import Runtime


@pytest.fixture
def captured() -> CaptureTransport:
    return CaptureTransport()


@pytest.fixture
def crt(
    settings: Settings, clock: FrozenClock, captured: CaptureTransport, engine: Engine
) -> Runtime:
    return Runtime.build(settings, clock=clock, transport=captured, engine=engine)
