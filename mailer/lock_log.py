"""How long SQLite's write transactions wait for the write lock and hold it: opt-in measurement.

With ``NEWSLETTER_SQLITE_LOCK_LOG`` set to a file, every engine ``mailer.engine.make_engine``
builds in that process appends one line per write transaction: the process id, ``wait`` (time in
``BEGIN IMMEDIATE``) or ``hold`` (from then to the commit or rollback), and milliseconds.
``bench/serve_while_draining.py`` sets it for the web app and the worker and prints both per
process, which shows whether registrations queue behind the drain's commits (issue 11) in
figures that a busy machine distorts far less than latencies. Unset, nothing is measured.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENV = "NEWSLETTER_SQLITE_LOCK_LOG"
_SINCE = "newsletter_lock_held_since"


class LockLog:
    """Appends ``pid kind ms`` lines to one file, from any thread of this process."""

    def __init__(self, path: str) -> None:
        self._file = Path(path).open("a", buffering=1)  # open for the life of the process
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def waited(self, connection: Any, began: float) -> None:
        now = time.perf_counter()
        connection.info[_SINCE] = now
        self._write("wait", now - began)

    def ended(self, connection: Any) -> None:
        since = connection.info.pop(_SINCE, None)
        if since is not None:
            self._write("hold", time.perf_counter() - since)

    def _write(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._file.write(f"{self._pid} {kind} {seconds * 1000:.3f}\n")


def from_environment() -> LockLog | None:
    path = os.environ.get(ENV)
    return LockLog(path) if path else None


def summary(path: Path, offset: int = 0) -> dict[tuple[int, str], list[float]]:
    """Milliseconds by (pid, kind), from the lines after byte ``offset`` of the log."""
    found: dict[tuple[int, str], list[float]] = defaultdict(list)
    with path.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode().splitlines():
            pid, kind, ms = line.split()
            found[(int(pid), kind)].append(float(ms))
    return found


def describe(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"n={len(ordered)} p50 {statistics.median(ordered):.2f} ms, p99 {p99:.1f} ms,"
        f" max {ordered[-1]:.1f} ms, sum {sum(ordered) / 1000:.2f} s"
    )
