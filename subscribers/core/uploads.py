"""Uploaded files kept on the server between a preview and its confirmation.

The browser only ever holds the name (in its signed session), never the content, so what is
imported is exactly what was previewed. The name carries the upload time from the injected clock,
so stale uploads are purged without reading the wall clock.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path

MAX_AGE = timedelta(days=1)
_NAME = re.compile(r"^(\d{1,12})-[0-9a-f]{32}$")


def store(directory: Path, raw: bytes, *, now: datetime) -> str:
    """Keep the bytes under a new random name and return that name."""
    directory.mkdir(parents=True, exist_ok=True)
    purge(directory, now=now)
    name = f"{int(now.timestamp())}-{secrets.token_hex(16)}"
    path = directory / f"{name}.upload"
    path.write_bytes(raw)
    path.chmod(0o600)
    return name


def load(directory: Path, name: str) -> bytes | None:
    """The stored bytes, or None for a name that is malformed, unknown or purged."""
    if not isinstance(name, str) or not _NAME.match(name):
        return None
    try:
        return (directory / f"{name}.upload").read_bytes()
    except FileNotFoundError:
        return None


def discard(directory: Path, name: str) -> None:
    if isinstance(name, str) and _NAME.match(name):
        (directory / f"{name}.upload").unlink(missing_ok=True)


def purge(directory: Path, *, now: datetime, max_age: timedelta = MAX_AGE) -> int:
    """Delete uploads older than ``max_age``; returns how many."""
    cutoff = (now - max_age).timestamp()
    removed = 0
    for path in directory.glob("*.upload"):
        found = _NAME.match(path.stem)
        if found and int(found.group(1)) < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
