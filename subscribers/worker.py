"""The worker process: drains the outbox (and, with the scheduler, runs the timed jobs)."""

from __future__ import annotations

import logging
import signal
import threading

from subscribers.runtime import Runtime

log = logging.getLogger(__name__)
DRAIN_INTERVAL = 2.0


def drain_forever(rt: Runtime, stop: threading.Event, *, interval: float = DRAIN_INTERVAL) -> None:
    """Send whatever is due, then wait; a stop finishes the message in flight and returns."""
    while not stop.is_set():
        try:
            report = rt.sender.drain(threads=rt.settings.smtp_connections, stop=stop)
            if report.sent or report.failed or report.retried:
                log.info("outbox: %s", report.describe())
        except Exception:  # noqa: BLE001 - a database hiccup must not end the worker
            log.exception("drain failed; trying again shortly")
        stop.wait(interval)


def start_background(rt: Runtime) -> tuple[threading.Thread, threading.Event]:
    """Run the worker beside the web app (``newsletter serve``)."""
    stop = threading.Event()
    thread = threading.Thread(target=drain_forever, args=(rt, stop), name="worker", daemon=True)
    thread.start()
    return thread, stop


def run_foreground(rt: Runtime) -> None:
    """``newsletter worker``: run until SIGTERM or SIGINT, then stop cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the message in flight", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    drain_forever(rt, stop)
