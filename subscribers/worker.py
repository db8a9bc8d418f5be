"""The worker process: drains the outbox and, when it holds the scheduling role, runs the jobs.

Every worker sends. Only one runs the scheduler at a time: on PostgreSQL the one holding an
advisory lock (a worker that dies drops its connection and with it the lock, and another takes
over within LEADER_RETRY); on SQLite there is one process, so it simply schedules.

A worker never dies of a passing fault: a database that is locked, read-only, full or away, or
an SMTP server that cannot be reached, is logged in one line when it starts (and once more when
it is over) and the worker tries again after a growing pause (``Backoff``).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from sqlalchemy import text

import scheduler
from mailer import priority
from mailer.engine import is_postgres
from mailer.sender import DATABASE_ERRORS, database_trouble
from subscribers.runtime import Runtime

log = logging.getLogger(__name__)
DRAIN_INTERVAL = 2.0
MAX_BACKOFF = 30.0
LEADER_RETRY = 30.0
LEADER_LOCK_KEY = 0x6E6C5F7363686564  # "nl_sched"


class Backoff:
    """One kind of trouble: log its start and its end once, and wait longer each time."""

    def __init__(self, what: str, *, first: float, cap: float = MAX_BACKOFF) -> None:
        self.what = what
        self.first = first
        self.cap = cap
        self.delay = first
        self.failing = False

    def failed(self, detail: str) -> float:
        """Seconds to wait before trying again."""
        if not self.failing:
            log.warning("%s: %s; retrying with back-off up to %g s", self.what, detail, self.cap)
        self.failing = True
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return delay

    def recovered(self) -> None:
        if self.failing:
            log.info("%s no more: working again", self.what)
        self.failing = False
        self.delay = self.first


def drain_forever(rt: Runtime, stop: threading.Event, *, interval: float = DRAIN_INTERVAL) -> None:
    """Send whatever is due, then wait; a stop finishes the message in flight and returns.

    The sender's heartbeat runs all along (its rows' leases, the worker's ``last_seen``).
    """
    database = Backoff("database unavailable", first=interval)
    smtp = Backoff("SMTP server unreachable", first=interval)
    with rt.sender.keep_alive():
        while not stop.is_set():
            wait = interval
            try:
                report = rt.sender.drain(threads=rt.settings.smtp_connections, stop=stop)
            except DATABASE_ERRORS as err:
                wait = database.failed(database_trouble(err))
            except Exception:  # noqa: BLE001 - a bug in one drain must not end the worker
                log.exception("drain failed; trying again shortly")
            else:
                database.recovered()
                if report.unreachable:
                    wait = smtp.failed(report.unreachable)
                else:
                    smtp.recovered()
                if report.sent or report.failed or report.retried:
                    log.info("outbox: %s", report.describe())
            stop.wait(wait)


def schedule_when_leader(
    rt: Runtime, stop: threading.Event, *, retry: float = LEADER_RETRY
) -> None:
    """Run the scheduler while this process holds the scheduling role."""
    if not is_postgres(rt.engine):
        jobs = scheduler.build_scheduler(rt)
        jobs.start()
        stop.wait()
        jobs.shutdown(wait=True)
        return
    while not stop.is_set():
        with rt.engine.connect() as conn:
            held = conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}
            ).scalar()
            conn.commit()
            if held:
                log.info("this worker holds the scheduling role")
                jobs = scheduler.build_scheduler(rt)
                jobs.start()
                try:
                    stop.wait()
                finally:
                    jobs.shutdown(wait=True)
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
                    conn.commit()
                return
        stop.wait(retry)


def _start(rt: Runtime, stop: threading.Event) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=drain_forever, args=(rt, stop), name="sender", daemon=True),
        threading.Thread(
            target=schedule_when_leader, args=(rt, stop), name="scheduler", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    return threads


def start_background(rt: Runtime) -> tuple[list[threading.Thread], threading.Event]:
    """Run the worker beside the web app (``newsletter serve``)."""
    stop = threading.Event()
    return _start(rt, stop), stop


def run_foreground(rt: Runtime, *, ready: Callable[[], None] | None = None) -> None:
    """``newsletter worker``: run until SIGTERM or SIGINT, then stop cleanly.

    The process sends (and schedules) in the background, so its threads yield the CPU to the
    web app and anything else on the machine (``mailer.priority``).
    """
    priority.lower_priority()
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the message in flight", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if ready is not None:
        ready()  # only now: a signal from here on stops the worker cleanly
    threads = _start(rt, stop)
    while not stop.is_set():
        stop.wait(1.0)
    # At once, not after the message in flight: other workers may take the rest right away.
    _quietly(rt.sender.hand_back, "handing back unsent rows")
    for thread in threads:
        thread.join(timeout=60)
    _quietly(rt.sender.sign_off, "signing off")


def _quietly(action: Callable[[], object], what: str) -> None:
    """Best effort on the way out: a database that is away now only delays the others a lease."""
    try:
        action()
    except DATABASE_ERRORS as err:
        log.warning("%s failed: %s", what, database_trouble(err))
