"""Does the web app stay responsive while a campaign drains? Latency under a steady load.

Run from the project root (needs Postfix's ``smtp-sink``: ``apt-get install postfix``)::

    .venv/bin/python bench/serve_while_draining.py                 # SQLite, 20,000 members
    .venv/bin/python bench/serve_while_draining.py --database-url \\
        postgresql+psycopg://postgres@127.0.0.1:5432/bench          # drops its tables!

What it does: a fresh database with N members of one list (as ``bench/send.py``), the web app
as it runs in production (``newsletter serve --no-worker``: waitress, 8 threads) and
``smtp-sink`` on loopback. It first measures the requests alone for a few seconds, then queues
one ~30 KB announcement to every member, starts ``newsletter worker`` and, until the campaign is
sent, keeps the same steady load: 50 requests a second, alternating ``POST /register`` (a new
address each time, from a session that fetched its CSRF token beforehand) and the RFC 8058
one-click ``POST /unsubscribe/<token>`` of a random member. Requests leave on an open-loop
schedule (a slow answer does not slow the load down), each simulated client from its own
127.x.y.z address so that the per-address registration limit never applies. It prints p50, p99
and the worst latency of each kind, idle and during the drain, every answer that was not 200
(and any "database is locked" in one), and the drain's duration and rate. Nothing is asserted;
the targets (p99 under 100 ms on PostgreSQL, under 250 ms on SQLite, no error) are printed as
met or not.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from send import (  # noqa: E402
    LIST_SLUG,
    announcement_body,
    free_port,
    insert_members,
    reset_database,
    settings_environ,
    start_sink,
)
from sqlalchemy import select  # noqa: E402

from mailer import outbox  # noqa: E402
from subscribers.campaigns import Announcement, create_announcement  # noqa: E402
from subscribers.db import transaction  # noqa: E402
from subscribers.models import Member  # noqa: E402
from subscribers.runtime import Runtime  # noqa: E402
from subscribers.settings import load as load_settings  # noqa: E402

TARGET_P99_MS = {"postgresql": 100.0, "sqlite": 250.0}
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
REGISTRATIONS_PER_CLIENT = 10  # well under the limit of 20 an hour per address


@dataclass
class Client:
    """One simulated visitor: its own loopback address and, to register, a session."""

    address: str
    cookie: str = ""
    token: str = ""
    used: int = 0


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: list[str] = field(default_factory=list)
    locked: int = 0
    late_starts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, status: int, body: str) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if "database is locked" in body:
                self.locked += 1
            if status != 200:
                self.failures.append(f"{kind}: HTTP {status} {body[:120]!r}")


def loopback(n: int) -> str:
    """The n-th client's own address in 127.0.0.0/8 (127.0.0.1 is left to the servers)."""
    n += 256
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"


def request(
    port: int, source: str, method: str, path: str, body: str = "", cookie: str = ""
) -> tuple[int, str, str]:
    """One HTTP request on a new connection from ``source``; (status, body, set-cookie)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    if cookie:
        headers["Cookie"] = cookie
    try:
        conn.request(method, path, body=body or None, headers=headers)
        answer = conn.getresponse()
        text = answer.read().decode("utf-8", "replace")
        return answer.status, text, answer.getheader("Set-Cookie") or ""
    finally:
        conn.close()


def open_session(port: int, client: Client) -> None:
    status, page, set_cookie = request(port, client.address, "GET", "/register")
    found = CSRF.search(page)
    if status != 200 or not found or not set_cookie:
        raise SystemExit(f"GET /register from {client.address}: HTTP {status}, no CSRF session")
    client.cookie = set_cookie.split(";", 1)[0]
    client.token = found.group(1)


class Load:
    """Sends ``rate`` requests a second on a fixed schedule until stopped; alternates kinds."""

    def __init__(
        self, port: int, rate: float, registrants: list[Client], unsubscribe_paths: list[str]
    ) -> None:
        self.port = port
        self.rate = rate
        self.registrants = registrants
        self.unsubscribe_paths = unsubscribe_paths
        self.results = Results()
        self.stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=64) as pool:
            while not self.stop.is_set():
                due = start + self.sent / self.rate
                wait = due - time.monotonic()
                if wait > 0:
                    self.stop.wait(wait)
                    continue
                if wait < -0.05:
                    self.results.late_starts += 1
                # Chosen here, in one thread; the pool only waits for the answers.
                n = self.sent // 2
                if self.sent % 2 == 0:
                    client = self.registrants[n // REGISTRATIONS_PER_CLIENT % len(self.registrants)]
                    pool.submit(self._register, n, client)
                else:
                    path = self.unsubscribe_paths[n % len(self.unsubscribe_paths)]
                    pool.submit(self._unsubscribe, n, path)
                self.sent += 1

    def _register(self, n: int, client: Client) -> None:
        form = {
            "csrf_token": client.token,
            "email": f"newcomer.{n}.{random.randrange(10**9)}@example.org",
            "name": "Ana Newcomer",
            "country": "PT",
            "sector": "police",
            "language": "en",
            "lists": LIST_SLUG,
            "consent": "y",
            "website": "",
        }
        began = time.perf_counter()
        status, text, _ = request(
            self.port, client.address, "POST", "/register", urlencode(form), client.cookie
        )
        self.results.record("POST /register", time.perf_counter() - began, status, text)

    def _unsubscribe(self, n: int, path: str) -> None:
        body = urlencode({"List-Unsubscribe": "One-Click"})
        began = time.perf_counter()
        status, text, _ = request(self.port, loopback(100_000 + n), "POST", path, body)
        self.results.record("POST one-click unsubscribe", time.perf_counter() - began, status, text)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(label: str, results: Results, dialect: str) -> bool:
    target = TARGET_P99_MS[dialect]
    met = True
    print(f"\n{label}")
    for kind, values in sorted(results.latencies.items()):
        ms = [v * 1000 for v in values]
        p50, p99 = statistics.median(ms), percentile(ms, 0.99)
        ok = p99 < target
        met = met and ok
        print(
            f"  {kind:28} n={len(ms):5}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
            f"max {max(ms):6.1f} ms  [{'MET' if ok else 'MISS'}: p99 < {target:g} ms]"
        )
    print(
        f"  answers other than 200: {len(results.failures)}; 'database is locked': "
        f"{results.locked}; requests started >50 ms late: {results.late_starts}"
    )
    for line in results.failures[:10]:
        print(f"    {line}")
    return met and not results.failures and not results.locked


def wait_for_http(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the web app exited with code {process.returncode}")
        try:
            if request(port, "127.0.0.1", "GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("the web app did not answer /healthz within 60 s")


def unsubscribe_paths(rt: Runtime, count: int) -> list[str]:
    with rt.new_session() as session:
        members = session.execute(select(Member).order_by(Member.id)).scalars().all()
    chosen = random.Random(3).sample(list(members), min(count, len(members)))
    base = rt.settings.base_url
    return [rt.kit.unsubscribe_url(m).removeprefix(base) for m in chosen]


def campaign_left(rt: Runtime, campaign_id: int) -> int:
    with rt.new_session() as session:
        counts = outbox.counts(session, campaign_id)[campaign_id]
    return counts[outbox.QUEUED] + counts[outbox.SENDING]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=50.0, help="requests a second")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="load without a drain")
    parser.add_argument("--database-url", help="PostgreSQL URL (its tables are dropped!)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    newsletter = Path(sys.executable).with_name("newsletter")
    work = Path(tempfile.mkdtemp(prefix="serve-drain-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = args.database_url or f"sqlite:///{work / 'newsletter.db'}"
        engine = reset_database(url)
        dialect = engine.dialect.name
        insert_members(engine, args.members, datetime.now(UTC))
        sink_port, web_port = free_port(), free_port()
        environ = {
            **os.environ,
            **settings_environ(url, work / "instance"),
            "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{web_port}",
            "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{sink_port}",
            "NEWSLETTER_SEND_RATE": "100000",
            "NEWSLETTER_SMTP_CONNECTIONS": "4",
            "NEWSLETTER_ALLOW_HTTP": "true",  # plain HTTP on loopback, production otherwise
        }
        rt = Runtime.build(load_settings(environ, dotenv=None), engine=engine)
        processes.append(start_sink(sink_port))
        web = subprocess.Popen(
            [str(newsletter), "serve", "--no-worker", "--port", str(web_port)],
            env=environ,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=(work / "web.log").open("w"),
        )
        processes.append(web)
        wait_for_http(web_port, web)

        # Enough sessions for 10 minutes of load; beyond that they are reused (20 an hour each).
        needed = int(args.rate * (args.idle_seconds + 600) / 2 / REGISTRATIONS_PER_CLIENT) + 1
        registrants = [Client(loopback(n)) for n in range(needed)]
        print(f"{dialect}: {args.members} members; opening {needed} registration sessions ...")
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda c: open_session(web_port, c), registrants))
        paths = unsubscribe_paths(rt, 5000)

        with Load(web_port, args.rate, registrants, paths) as idle:
            time.sleep(args.idle_seconds)
        idle_met = report(f"idle (no campaign), {args.idle_seconds:g} s", idle.results, dialect)

        with transaction(rt.new_session()) as session:
            announcement = Announcement(LIST_SLUG, "Spring issue", announcement_body())
            campaign, _ = create_announcement(session, rt.kit, announcement, now=rt.clock())
        assert campaign.id is not None
        worker = subprocess.Popen(
            [str(newsletter), "worker"],
            env=environ,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=(work / "worker.log").open("w"),
        )
        processes.append(worker)
        began = time.monotonic()
        load = Load(
            web_port, args.rate, registrants[len(registrants) // 2 :], paths[len(paths) // 2 :]
        )
        with load:
            while campaign_left(rt, campaign.id):
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with code {worker.returncode}")
                time.sleep(0.2)
        drained = time.monotonic() - began
        with rt.new_session() as session:
            counts = outbox.counts(session, campaign.id)[campaign.id]
        print(
            f"\ndrain: {counts[outbox.SENT]} sent, {counts[outbox.SKIPPED]} skipped (unsubscribed"
            f" meanwhile) in {drained:.1f} s = {counts[outbox.SENT] / drained:.0f} msg/s,"
            f" while serving {load.sent} requests"
        )
        drain_met = report("during the drain", load.results, dialect)
        locked_in_logs = sum(
            (work / name).read_text(errors="replace").count("database is locked")
            for name in ("web.log", "worker.log")
        )
        print(f"'database is locked' in the web app's and worker's logs: {locked_in_logs}")
        verdicts = ["MET" if met else "MISS" for met in (idle_met, drain_met)]
        print(f"\ntargets: idle {verdicts[0]}, during the drain {verdicts[1]}")
        return 0
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
