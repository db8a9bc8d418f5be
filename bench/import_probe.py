"""A large CSV import while the site is in use: does anyone notice?

Run from the project root::

    .venv/bin/python bench/import_probe.py                 # 94,809 lines (~4.9 MB), SQLite
    .venv/bin/python bench/import_probe.py --lines 20000
    # PostgreSQL (drops the tables of that database!):
    .venv/bin/python bench/import_probe.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

What it does: a fresh database (a SQLite file in a temporary directory, or the tables of
``--database-url`` dropped and created again by ``newsletter db upgrade``), one list, and a CSV
of made-up members. It starts ``newsletter serve`` (web app and worker, one process) and runs
``newsletter subscribers import`` in another process, exactly as staff would. Meanwhile a probe
requests ``GET /healthz`` and ``POST /register`` (a new address each time, with a fresh CSRF
token) every 200 ms, over HTTP, until the import ends. It prints the import's time and, for
each kind of request, how many there were, how many failed, and the slowest; the target is no
failure and none over 1 s. The server trusts one proxy, so each registration comes "from" its
own address and the per-address limit does not get in the way.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEWSLETTER = Path(sys.executable).parent / "newsletter"
COUNTRIES = ("PT", "PL", "ES", "RO", "SK", "BA", "MD")
SECTORS = ("police", "prison", "probation", "research", "ngo")
LIMIT = 1.0  # seconds: no probe request may take longer


def write_csv(path: Path, lines: int) -> int:
    """A members file like a real directory's export; returns its size in bytes."""
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,organisation,country,sector,language\n")
        for i in range(lines):
            out.write(
                f"m{i:05d}@example.org,Name {i:05d},Org {i % 97},"
                f"{COUNTRIES[i % 7]},{SECTORS[i % 5]},en\n"
            )
    return path.stat().st_size


@dataclass
class Probe:
    base: str
    timings: dict[str, list[float]] = field(default_factory=lambda: {"healthz": [], "register": []})
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def _timed(self, kind: str, request: urllib.request.Request, opener) -> str:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            with opener.open(request, timeout=30) as response:
                body = response.read().decode("utf-8", "replace")
                status = response.status
        except urllib.error.HTTPError as err:
            body, status = err.read().decode("utf-8", "replace"), err.code
        except OSError as err:
            body, status = str(err), 0
        elapsed = time.perf_counter() - started
        self.timings[kind].append(elapsed)
        if status != 200:
            self.failures.append(f"{kind}: {status} {body[:120]!r}")
        return body

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            tick = time.perf_counter()
            n += 1
            opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            self._timed("healthz", urllib.request.Request(f"{self.base}/healthz"), opener)
            page = opener.open(f"{self.base}/register", timeout=30).read().decode()
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            form = {
                "csrf_token": token.group(1) if token else "",
                "email": f"probe{n}@probe.example.net",
                "name": f"Probe {n}",
                "country": "PT",
                "sector": "police",
                "language": "en",
                "lists": "practitioners",
                "consent": "y",
            }
            request = urllib.request.Request(
                f"{self.base}/register",
                data=urllib.parse.urlencode(form).encode(),
                headers={"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"},
            )
            self._timed("register", request, opener)
            self.stop.wait(max(0.0, 0.2 - (time.perf_counter() - tick)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("the server stopped at start-up")
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=94_809)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="import-probe-"))
    try:
        run(work, args.lines, args.database_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, lines: int, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_INSTANCE_PATH=str(work / "instance"),
        NEWSLETTER_DATABASE_URL=database_url or f"sqlite:///{work / 'instance' / 'bench.db'}",
        NEWSLETTER_SECRET_KEY="bench-" + "k" * 40,
        NEWSLETTER_TRUSTED_PROXIES="1",
    )
    (work / "instance").mkdir()

    def cli(*argv: str) -> None:
        subprocess.run([str(NEWSLETTER), *argv], env=env, check=True, cwd=work)

    if database_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    cli("db", "upgrade")
    cli("lists", "create", "practitioners", "--name", "Frontline Practitioners Network")
    size = write_csv(work / "members.csv", lines)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(NEWSLETTER), "serve", "--port", str(port)],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "server.log", "wb"),  # noqa: SIM115 - lives as long as the server
    )
    try:
        wait_until_up(base, server)
        probe = Probe(base)
        prober = threading.Thread(target=probe.run)
        prober.start()
        started = time.perf_counter()
        imported = subprocess.run(
            [
                str(NEWSLETTER),
                "subscribers",
                "import",
                str(work / "members.csv"),
                "--list",
                "practitioners",
                "--consent-note",
                "bench",
            ],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - started
        probe.stop.set()
        prober.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    backend = "PostgreSQL" if database_url else "SQLite"
    outcome = imported.stdout.splitlines()[0] if imported.stdout else imported.stderr[-200:]
    print(
        f"{backend}: {lines:,} lines, {size / 1e6:.1f} MB, import {took:.1f} s "
        f"(exit {imported.returncode}: {outcome.strip()})"
    )
    worst = 0.0
    for kind, times in probe.timings.items():
        ordered = sorted(times) or [0.0]
        p95, median = ordered[int(len(ordered) * 0.95)], ordered[len(ordered) // 2]
        worst = max(worst, ordered[-1])
        print(
            f"  {kind:9} {len(times):5} requests, slowest {ordered[-1]:.3f} s, "
            f"95th percentile {p95:.3f} s, median {median:.3f} s, "
            f"{sum(1 for t in times if t > LIMIT)} over {LIMIT:.0f} s"
        )
    print(f"  failures: {len(probe.failures)}")
    for failure in probe.failures[:10]:
        print(f"    {failure}")
    met = not probe.failures and worst <= LIMIT and imported.returncode == 0
    print(f"  target (no failure, none over {LIMIT:.0f} s): {'MET' if met else 'MISS'}")
    log = (work / "server.log").read_text(errors="replace")
    if "Traceback" in log:
        print("  the server logged a traceback:\n" + log[-2000:])


if __name__ == "__main__":
    main()
