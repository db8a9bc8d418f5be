"""End-to-end sending benchmark: one announcement to N members, drained to a local smtp-sink.

Run from the project root (needs Postfix's ``smtp-sink``: ``apt-get install postfix``)::

    .venv/bin/python bench/send.py                          # SQLite, 20,000 members
    .venv/bin/python bench/send.py --dkim                   # the same, DKIM-signed
    .venv/bin/python bench/send.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python bench/send.py --members 100000         # memory: recipients are streamed
    .venv/bin/python bench/send.py --languages 3            # the multilingual round: 3 languages

What it does: a fresh database (a SQLite file in a temporary directory, or the tables of
``--database-url`` dropped and created again), N active members of one list inserted in bulk, one
announcement with a ~30 KB message created through the real service
(``subscribers.content.campaigns.create_announcement``: render once, fan out into the outbox), then
the outbox drained by ``mailer.sender.drain_processes`` through ``SmtpTransport`` to ``smtp-sink``
on 127.0.0.1. It prints the fan-out time, the drain rate, the compose cost per recipient (measured
alone), peak RSS, and the ceiling: bare smtplib sending one pre-built message of the same size over
the same number of connections and processes. Nothing is asserted; the targets are printed as met
or not.

Last, the same members read one language, then are spread evenly over the first N languages of
the network (``--languages N``, default 7: en, pt, pl, es, ro, sk, bs), twice in turn: the
multilingual announcement is rendered once per language with its catalogue, each member sent
their language's version, all in one campaign. The means of the two pairs are compared (target:
at most 5 % lost, in rate and in drain CPU per message; ``--languages 1`` skips it).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
import re
import resource
import secrets
import shlex
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, bindparam, func, insert, select, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from mailer import outbox  # noqa: E402
from mailer.compose import Personaliser, RenderedMail  # noqa: E402
from mailer.dbtypes import UTCDateTime  # noqa: E402
from mailer.message import Address  # noqa: E402
from mailer.mime import MessageLayout, make_message_id  # noqa: E402
from mailer.sender import Sender, default_parallelism, drain_processes  # noqa: E402
from mailer.transport import SmtpTransport  # noqa: E402
from subscribers.content.campaigns import Announcement, create_announcement  # noqa: E402
from subscribers.core.db import make_engine, metadata, transaction  # noqa: E402
from subscribers.core.models import ACTIVE, SUB_ACTIVE, MailingList, Member, Subscription  # noqa: E402
from subscribers.core.settings import load  # noqa: E402
from subscribers.core.validation import LANGUAGES  # noqa: E402
from subscribers.runtime import Runtime  # noqa: E402

LIST_SLUG = "practitioners"
MAIL_FROM = "Frontline Practitioners Network <news@network.example.org>"
BOUNCES = "bounces+{token}@network.example.org"
SECRET = "bench-secret-key-long-enough-for-settings"
INSERT_CHUNK = 5000

FIRST = [
    "Ana", "João", "Marta", "Piotr", "Agnieszka", "Łukasz", "Lucía", "José", "Ioana", "Ștefan",
    "Mihai", "Zuzana", "Ľubomír", "Amra", "Jovana", "Ion", "Natalia", "Emil", "Sara", "Tomás",
]  # fmt: skip
LAST = [
    "Sousa", "Ferreira", "Kowalski", "Wiśniewska", "García", "Martínez", "Popescu", "Ionescu",
    "Horváth", "Novák", "Hodžić", "Petrović", "Rusu", "Ciobanu", "Silva", "Nowak", "López",
]  # fmt: skip
COUNTRIES = ["PT", "PL", "ES", "RO", "SK", "BA", "MD"]
SECTORS = ["police", "prison", "probation", "research", "ngo"]
DOMAINS = ["example.org", "mail.example.net", "justice.example.eu", "ngo.example.com"]

# Issue 15's targets (idle machine, sink on the same machine).
TARGET_RATE = 2500.0
TARGET_CEILING_SHARE = 0.75
TARGET_DKIM_SHARE = 0.8
TARGET_PG_RATE = 2000.0
TARGET_RSS_MB = 150.0
TARGET_QUEUE_S = 10.0
TARGET_CLAIM_RATIO = 1.25
# Issue 13: pacing on costs no rate (within the noise of the machine: means of two rounds).
TARGET_PACED_SHARE = 0.95
# Issue 10: a seven-language audience loses at most 5 % against one language.
TARGET_LANGUAGES_SHARE = 0.95
# Bare smtplib is measured at each of these processes x connections; the best one counts.
CEILING_LAYOUTS = ((1, 1), (1, 2), (2, 1), (2, 2), (2, 4))
PG_PROCESSES = (1, 2, 4)
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"


# -- the campaign ---------------------------------------------------------------------------------


def announcement_body(target_chars: int = 9_000) -> str:
    """Realistic Markdown: headings, paragraphs with links, lists, a table (~11 KB)."""
    rng = random.Random(42)
    words = (
        "practitioners network workshop prison probation police research radicalisation "
        "rehabilitation exchange training cooperation cross-border project partners evaluation "
        "methodology community resilience prevention frontline experience recommendations "
        "policy Lisbon Warsaw Madrid Bucharest Bratislava Sarajevo Chișinău é à ü ș ț ł"
    ).split()
    parts = [
        "Dear colleagues, this is the **spring issue** of our network's announcements: "
        "dates, open calls and what partners have published since the last meeting.",
    ]
    section = 0
    while sum(len(p) for p in parts) < target_chars:
        section += 1
        parts.append(f"## {section}. " + " ".join(rng.choices(words, k=5)).capitalize())
        for _ in range(3):
            sentence = " ".join(rng.choices(words, k=60))
            parts.append(
                sentence.capitalize()
                + f". Read more on [the project page](https://network.example.org/p/{section})."
            )
        parts.append("\n".join(f"- {' '.join(rng.choices(words, k=8))}" for _ in range(4)))
        if section % 3 == 0:
            parts.append(
                "| City | Date | Seats |\n|---|---|---|\n"
                + "\n".join(f"| {c} | 2027-0{section % 9 + 1}-1{i} | {20 + i} |" for i, c in
                            enumerate(["Lisbon", "Warsaw", "Madrid"]))
            )  # fmt: skip
    return "\n\n".join(parts)


def insert_members(engine: Engine, count: int, now: datetime) -> int:
    """One list and ``count`` active, subscribed members reading English, with core inserts.

    Returns the list id. ``spread_languages`` gives them other languages later.
    """
    rng = random.Random(7)
    with engine.begin() as conn:
        list_id = conn.execute(
            insert(MailingList.__table__).returning(MailingList.__table__.c.id),
            {
                "slug": LIST_SLUG,
                "name": "Frontline Practitioners Network",
                "description": "",
                "from_address": MAIL_FROM,
                "accent_color": "#1d4e89",
                "footer": "Frontline Practitioners Network, Rua do Exemplo 1, Lisboa",
                "timezone": "Europe/Lisbon",
                "public": True,
                "created_at": now,
            },
        ).scalar_one()
        member_table = Member.__table__
        for start in range(0, count, INSERT_CHUNK):
            rows = []
            for i in range(start, min(start + INSERT_CHUNK, count)):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                local = f"{first}.{last}".lower().encode("ascii", "ignore").decode()
                rows.append(
                    {
                        "email": f"{local}.{i}@{DOMAINS[i % len(DOMAINS)]}",
                        "name": f"{first} {last}",
                        "organisation": "",
                        "country": COUNTRIES[i % len(COUNTRIES)],
                        "sector": SECTORS[i % len(SECTORS)],
                        "language": "en",
                        "status": ACTIVE,
                        "nonce": secrets.token_hex(8),
                        "created_at": now,
                        "confirmed_at": now,
                    }
                )
            conn.execute(insert(member_table), rows)
        sub = Subscription.__table__
        conn.execute(
            insert(sub).from_select(
                ["member_id", "list_id", "status", "created_at", "updated_at"],
                select(
                    member_table.c.id,
                    text(str(int(list_id))),
                    text(f"'{SUB_ACTIVE}'"),
                    select(func.min(member_table.c.created_at)).scalar_subquery(),
                    select(func.min(member_table.c.created_at)).scalar_subquery(),
                ),
            )
        )
    return int(list_id)


# -- the sending side (runs in each drain process) ---------------------------------------------


@dataclass(frozen=True)
class SenderSpec:
    """Everything a drain process needs to build its own sender; picklable."""

    environ: tuple[tuple[str, str], ...]
    database_url: str
    smtp_host: str
    smtp_port: int
    connections: int


def settings_environ(database_url: str, instance: Path, port: int | None = None) -> dict[str, str]:
    environ = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(instance),
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BASE_URL": "https://network.example.org",
        "NEWSLETTER_MAIL_FROM": MAIL_FROM,
        "NEWSLETTER_BOUNCE_ADDRESS": BOUNCES,
        "NEWSLETTER_ENV": "production",
    }
    if port is not None:
        # Production refuses capture://; the drain processes build their own transport anyway.
        environ["NEWSLETTER_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    return environ


def build_sender(spec: SenderSpec) -> Sender:
    """The production sender (``Runtime.sender``: member re-check, VERP, DKIM as configured)."""
    settings = load(dict(spec.environ), dotenv=None)
    transport = SmtpTransport(spec.smtp_host, spec.smtp_port, connections=spec.connections)
    runtime = Runtime.build(settings, transport=transport, engine=make_engine(spec.database_url))
    return runtime.sender


# -- the ceiling: bare smtplib -----------------------------------------------------------------


def _bare_connection(host: str, port: int, message: bytes, count: int) -> None:
    with smtplib.SMTP(host, port) as conn:
        for i in range(count):
            conn.sendmail("news@network.example.org", [f"m{i}@example.org"], message)


def _bare_process(host: str, port: int, message: bytes, counts: list[int]) -> None:
    threads = [
        threading.Thread(target=_bare_connection, args=(host, port, message, n)) for n in counts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ceiling(
    host: str, port: int, message: bytes, total: int, processes: int, connections: int, method: str
) -> tuple[float, float]:
    """Bare smtplib sending one pre-built message over the same connections and processes.

    Returns messages per second and the client's CPU seconds per message.
    """
    per_conn = split(total, connections)
    groups = [per_conn[p::processes] for p in range(processes)]
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=_bare_process, args=(host, port, message, g)) for g in groups]
    cpu = children_cpu()
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - start
    return total / elapsed, (children_cpu() - cpu) / total


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


# -- compose cost -------------------------------------------------------------------------------


def compose_cost(engine: Engine, campaign_id: int, sample: int) -> tuple[float, int]:
    """Microseconds per recipient of personalise + MIME bytes, and the message size."""
    with Session(engine) as session:
        campaign = session.get(outbox.Campaign, campaign_id)
        assert campaign is not None
        rows = session.execute(
            select(outbox.Delivery.id, outbox.Delivery.address, outbox.Delivery.name,
                   outbox.Delivery.personal)
            .where(outbox.Delivery.campaign_id == campaign_id)
            .order_by(outbox.Delivery.id)
            .limit(sample)
        ).all()  # fmt: skip
        sender = Address.parse(campaign.sender)
        layout = MessageLayout(
            subject=campaign.subject,
            sender=sender,
            reply_to=Address.parse(campaign.reply_to) if campaign.reply_to else None,
            list_id=campaign.list_header,
            bulk=campaign.bulk,
        )
        personaliser = Personaliser(campaign.rendered())
    now = datetime.now(UTC)
    size = 0
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for row_id, address, name, personal in rows:
            bodies = personaliser.fill({"name": name, **personal})
            data = layout.build(
                to=Address(address, name),
                bodies=bodies,
                message_id=make_message_id(row_id, sender.domain),
                date=now,
                unsubscribe_url=personal.get("unsubscribe_url"),
            )
            size = len(data)
        best = min(best, (time.perf_counter() - start) / len(rows))
    return best * 1e6, size


def count_versions(engine: Engine, campaign_id: int) -> int:
    """How many language versions the campaign was rendered in (its own and the others)."""
    with engine.connect() as conn:
        others = conn.execute(
            select(func.count())
            .select_from(outbox.CampaignVersion)
            .where(outbox.CampaignVersion.campaign_id == campaign_id)
        ).scalar_one()
    return 1 + int(others)


# -- plumbing -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sink(port: int, counters: Path | None = None) -> subprocess.Popen[bytes]:
    """smtp-sink on 127.0.0.1:``port``; with ``counters``, its running counts go to that file."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.path.exists(binary):
        sys.exit("smtp-sink not found: apt-get install postfix (only the binary is used)")
    command = [binary, "-c"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]
    command += [f"127.0.0.1:{port}", "1000"]
    out = counters.open("wb") if counters is not None else subprocess.DEVNULL
    sink = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return sink
        except OSError:
            if sink.poll() is not None:
                sys.exit(f"smtp-sink exited with code {sink.returncode}")
            time.sleep(0.05)
    sink.kill()
    sys.exit("smtp-sink did not start listening")


def create_pg_database(engine: Engine) -> None:
    """Create the PostgreSQL database of ``engine`` when it does not exist yet."""
    name = engine.url.database
    server = make_engine(engine.url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            known = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if known is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        server.dispose()


def stop_sink(sink: subprocess.Popen[bytes], counters: Path) -> int:
    """Stop a sink started with ``counters`` and return how many messages it received."""
    sink.terminate()
    sink.wait(timeout=10)
    found = re.findall(rb"mesg=(\d+)", counters.read_bytes()[-200:])
    return int(found[-1]) if found else 0


def make_dkim_key(directory: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def reset_database(url: str) -> Engine:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        create_pg_database(engine)
        metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    metadata.create_all(engine)
    return engine


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process, from /proc (0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCpuWatch(threading.Thread):
    """CPU seconds PostgreSQL's server processes spend during a round, sampled every 50 ms.

    Per process, the last reading minus the first (0 for one started meanwhile): a backend
    that exits at the end of the round (the drain processes' connections do) keeps what it
    used up to its last sample instead of taking it with it.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.first: dict[int, float] = self._read()
        self.last: dict[int, float] = dict(self.first)
        self._stop_event = threading.Event()

    @staticmethod
    def _read() -> dict[int, float]:
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            if "(postgres)" in text:
                fields = text.rsplit(")", 1)[1].split()
                ticks = int(fields[11]) + int(fields[12])
                found[int(stat.parent.name)] = ticks / os.sysconf("SC_CLK_TCK")
        return found

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            self.last.update(self._read())

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        self.last.update(self._read())
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


def timed(func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20_000, help="list size (default 20000)")
    auto_processes, auto_threads = default_parallelism()
    parser.add_argument(
        "--processes",
        type=int,
        default=auto_processes,
        help=f"drain processes (default one per core: {auto_processes})",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=auto_threads,
        help=f"SMTP connections per process (default {auto_threads})",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_PG_URL,
        help=f"PostgreSQL for its part (its tables are dropped; default {DEFAULT_PG_URL})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument("--no-dkim", action="store_true", help="skip the DKIM-signed round")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare smtplib runs")
    parser.add_argument(
        "--big", type=int, default=100_000, help="members of the memory round (0: skip)"
    )
    parser.add_argument(
        "--old-rows",
        type=int,
        default=5_000_000,
        help="old delivery rows for the claim comparison (0: skip)",
    )
    parser.add_argument(
        "--compose-sample", type=int, default=2000, help="recipients for the compose cost"
    )
    parser.add_argument(
        "--start-method",
        choices=("spawn", "fork", "forkserver"),
        default="fork",
        # A worker starts its processes once; spawning them here would add each one's second
        # or so of imports to every round's drain time.
        help="how drain processes start (default fork)",
    )
    parser.add_argument(
        "--languages",
        type=int,
        default=len(LANGUAGES),
        choices=range(1, len(LANGUAGES) + 1),
        metavar=f"1..{len(LANGUAGES)}",
        help=f"languages of the multilingual round (default {len(LANGUAGES)}; 1 skips it)",
    )
    args = parser.parse_args(argv)
    if args.members < 1 or args.connections < 1 or args.processes < 1:
        parser.error("--members, --connections and --processes must be at least 1")
    return args


@dataclass
class Round:
    """One campaign fanned out and drained."""

    label: str
    processes: int
    threads: int
    fanout_s: float = 0.0
    drain_s: float = 0.0
    cpu_s: float = 0.0
    sink_cpu_s: float = 0.0
    server_cpu_s: float = 0.0  # PostgreSQL's own processes
    sent: int = 0
    received: int = 0
    describe: str = ""
    errors: tuple[str, ...] = ()
    peak_rss_mb: float = 0.0
    peak_pss_mb: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.drain_s if self.drain_s else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.sent * 1e6 if self.sent else 0.0


@dataclass
class Bench:
    """What every round of one invocation shares."""

    args: argparse.Namespace
    tmp: Path
    body: str
    results: dict[str, str]
    checks: list[tuple[str, bool, str]]

    def check(self, name: str, met: bool, value: str) -> None:
        self.checks.append((name, met, value))

    def show(self, key: str, value: str) -> None:
        self.results[key] = value
        print(f"  {key}: {value}", flush=True)


def run_round(
    bench: Bench,
    database_url: str,
    engine: Engine,
    *,
    label: str,
    processes: int,
    threads: int,
    members: int,
    signed_key: Path | None = None,
    watch_rss: bool = False,
    extra_env: dict[str, str] | None = None,
) -> tuple[Round, int]:
    """Fan one announcement out to the whole list, drain it through a sink of its own."""
    counters = bench.tmp / f"sink-{label.replace(' ', '-')}.txt"
    port = free_port()
    sink = start_sink(port, counters=counters)
    result = Round(label=label, processes=processes, threads=threads)
    watch = RssWatch(exclude={sink.pid}) if watch_rss else None
    try:
        environ = settings_environ(database_url, bench.tmp / "instance", port)
        environ.update(extra_env or {})
        if signed_key is not None:
            environ["NEWSLETTER_DKIM_KEY_FILE"] = str(signed_key)
            environ["NEWSLETTER_DKIM_SELECTOR"] = "bench"
        settings = load(environ, dotenv=None)
        runtime = Runtime.build(settings, transport=SmtpTransport("127.0.0.1", port), engine=engine)
        if watch is not None:
            watch.start()

        def fan_out() -> tuple[outbox.Campaign, int]:
            with runtime.new_session() as session, transaction(session):
                return create_announcement(
                    session,
                    runtime.kit,
                    Announcement(LIST_SLUG, f"Spring announcements ({label})", bench.body),
                    now=datetime.now(UTC),
                )

        result.fanout_s, (campaign, queued) = timed(fan_out)
        assert campaign.id is not None and queued == members, queued
        engine.dispose()  # nothing of the parent's pool may reach a forked child
        spec = SenderSpec(
            environ=tuple(environ.items()),
            database_url=database_url,
            smtp_host="127.0.0.1",
            smtp_port=port,
            connections=threads,
        )
        before = children_cpu()
        own_before = own_cpu()
        sink_before = process_cpu(sink.pid)
        server = ServerCpuWatch() if database_url.startswith("postgresql") else None
        if server is not None:
            server.start()
        result.drain_s, report = timed(
            lambda: drain_processes(
                functools.partial(build_sender, spec),
                processes,
                threads,
                start_method=bench.args.start_method,
            )
        )
        result.cpu_s = children_cpu() - before
        if processes == 1:
            result.cpu_s = own_cpu() - own_before  # drained here, not in a child
        result.sink_cpu_s = process_cpu(sink.pid) - sink_before
        if server is not None:
            result.server_cpu_s = server.stop()
        result.sent = report.sent
        result.describe = report.describe()
        result.errors = tuple(report.errors)
    finally:
        if watch is not None:
            result.peak_rss_mb, result.peak_pss_mb = watch.stop()
        result.received = stop_sink(sink, counters)
    print(
        f"  {label}: {result.sent:,} sent in {result.drain_s:.2f} s ({result.rate:,.0f} msg/s, "
        f"{processes} x {threads}, drain CPU {result.cpu_us:.0f} µs/msg), "
        f"fan-out {result.fanout_s:.2f} s",
        flush=True,
    )
    return result, campaign.id


def sqlite_round(
    bench: Bench, url: str, engine: Engine, label: str, **options: Any
) -> tuple[Round, int]:
    """``run_round`` with the invocation's processes, connections and members."""
    args = bench.args
    return run_round(
        bench, url, engine, label=label, processes=args.processes, threads=args.connections,
        members=args.members, **options,
    )  # fmt: skip


def mean(rounds: list[Round], figure: str) -> float:
    """The mean of one figure (``rate``, ``cpu_us``, ``fanout_s``) over rounds."""
    return sum(getattr(r, figure) for r in rounds) / len(rounds)


class RssWatch(threading.Thread):
    """The peaks of the summed RSS and PSS of this process and all its descendants, sampled
    every 20 ms.

    RSS counts a page shared by a forked drain process and its parent once in each; PSS (from
    /proc/PID/smaps_rollup) divides it among them, so its sum is the memory they use together.
    """

    def __init__(self, exclude: set[int]) -> None:
        super().__init__(daemon=True)
        self.exclude = exclude
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.02):
            self._take()

    def _take(self) -> None:
        rss, pss = self.sample()
        self.peak_kb = max(self.peak_kb, rss)
        self.peak_pss_kb = max(self.peak_pss_kb, pss)

    def sample(self) -> tuple[int, int]:
        rss = pss = 0
        pending, seen = [os.getpid()], set()
        while pending:
            pid = pending.pop()
            if pid in seen or pid in self.exclude:
                continue
            seen.add(pid)
            rss += _status_kb(pid, "VmRSS:", "status")
            pss += _status_kb(pid, "Pss:", "smaps_rollup")
            pending.extend(_children(pid))
        return rss, pss

    def stop(self) -> tuple[float, float]:
        """Peak RSS and peak PSS, in MB."""
        self._take()
        self._stop_event.set()
        self.join()
        return self.peak_kb / 1024, self.peak_pss_kb / 1024


def _status_kb(pid: int, key: str, name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(p) for p in path.read_text().split())
        except (OSError, ValueError):
            pass
    return found


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- claims with old rows -------------------------------------------------------------------------


def claim_cost(url: str, old_rows: int, fresh: int = 5000, batch: int = 100) -> tuple[float, float]:
    """Seconds to insert ``old_rows`` sent deliveries of an old campaign, and then the mean
    time of one claim of ``batch`` rows of a new campaign queued after them (µs)."""
    engine = reset_database(url)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=400)
    rendered = RenderedMail(kind="announcement", subject="old", html="<p>old</p>", text="old")
    with Session(engine) as session:
        old = outbox.create_campaign(session, rendered=rendered, sender=MAIL_FROM, now=long_ago)
        session.commit()
        old_id = old.id
    start = time.perf_counter()
    if old_rows:
        insert_old_deliveries(engine, old_id, old_rows, long_ago)
    inserted_s = time.perf_counter() - start
    with Session(engine) as session:
        campaign = outbox.create_campaign(session, rendered=rendered, sender=MAIL_FROM, now=now)
        recipients = (outbox.Recipient(old_rows + i, f"new{i}@example.org") for i in range(fresh))
        outbox.enqueue(session, campaign, recipients, now=now)
        session.commit()
    claims, spent, after_id = 0, 0.0, 0
    with Session(engine) as session:
        while True:
            start = time.perf_counter()
            rows = outbox.claim(
                session, now=now, lease=timedelta(seconds=30), limit=batch, after_id=after_id
            )
            session.commit()
            spent += time.perf_counter() - start
            if not rows:
                break
            claims += 1
            after_id = rows[-1].id
    engine.dispose()
    return inserted_s, spent / max(claims, 1) * 1e6


def insert_old_deliveries(
    engine: Engine, campaign_id: int | None, count: int, when: datetime
) -> None:
    """``count`` sent deliveries in one statement (generate_series, or a recursive CTE)."""
    columns = (
        "campaign_id, recipient_id, address, name, personal, state, attempts, next_attempt_at,"
        " sent_at, message_id, last_code"
    )
    values = (
        ":cid, i, 'old' || i || '@example.org', '', '{}', 'sent', 1, :when, :when,"
        " '<' || i || '.old@network.example.org>', 250"
    )
    if engine.dialect.name == "postgresql":
        sql = f"INSERT INTO delivery ({columns}) SELECT {values} FROM generate_series(1, :n) AS i"
    else:
        sql = (
            f"INSERT INTO delivery ({columns}) WITH RECURSIVE s(i) AS "
            f"(SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT {values} FROM s"
        )
    statement = text(sql).bindparams(bindparam("when", type_=UTCDateTime()))
    with engine.begin() as conn:
        conn.execute(statement, {"cid": campaign_id, "n": count, "when": when})
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE delivery"))


# -- the invocation -------------------------------------------------------------------------------


def sqlite_part(bench: Bench) -> None:
    args = bench.args
    url = f"sqlite:///{bench.tmp / 'bench.db'}"
    engine = reset_database(url)
    seconds, _ = timed(lambda: insert_members(engine, args.members, datetime.now(UTC)))
    print(f"SQLite: {args.members:,} members inserted in {seconds:.1f} s", flush=True)
    plain, campaign_id = sqlite_round(bench, url, engine, "sqlite")
    rounds = [plain]
    bench.show(
        "SQLite, end to end",
        f"{plain.rate:,.0f} msg/s ({args.processes} x {args.connections}); drain CPU "
        f"{plain.cpu_us:.0f} µs/msg, smtp-sink {plain.sink_cpu_s / max(plain.sent, 1) * 1e6:.0f}"
        " µs/msg",
    )
    bench.check(
        f"SQLite >= {TARGET_RATE:,.0f} msg/s", plain.rate >= TARGET_RATE, f"{plain.rate:,.0f}"
    )
    if not args.no_dkim:
        signed, _ = sqlite_round(
            bench, url, engine, "sqlite dkim", signed_key=make_dkim_key(bench.tmp)
        )
        rounds.append(signed)
        share = signed.rate / plain.rate if plain.rate else 0.0
        bench.show("SQLite, DKIM-signed", f"{signed.rate:,.0f} msg/s ({share:.0%} of unsigned)")
        bench.check(f"DKIM >= {TARGET_DKIM_SHARE:.0%} of unsigned", share >= TARGET_DKIM_SHARE,
                    f"{share:.0%}")  # fmt: skip
    rounds += pacing_rounds(bench, url, engine, plain)
    if args.languages > 1:
        rounds += languages_rounds(bench, url, engine)
    compose_us, size = compose_cost(engine, campaign_id, min(args.compose_sample, args.members))
    bench.show("message size", f"{size / 1024:.1f} KB")
    bench.show("compose per recipient", f"{compose_us:.0f} µs")
    engine.dispose()
    if not args.no_ceiling:
        best, best_at, rows = 0.0, "", []
        for processes, connections in CEILING_LAYOUTS:
            port = free_port()
            counters = bench.tmp / "sink-ceiling.txt"
            sink = start_sink(port, counters=counters)
            try:
                rate, cpu = ceiling(
                    "127.0.0.1", port, sample_message(size), args.members // 2, processes,
                    processes * connections, args.start_method,
                )  # fmt: skip
            finally:
                stop_sink(sink, counters)
            rows.append(f"{processes} x {connections}: {rate:,.0f}")
            if rate > best:
                best, best_at = (
                    rate,
                    f"{processes} x {connections}, client CPU {cpu * 1e6:.0f} µs/msg",
                )
        bench.show("ceiling (bare smtplib)", f"{best:,.0f} msg/s at {best_at} ({'; '.join(rows)})")
        share = plain.rate / best if best else 0.0
        bench.check(f"SQLite >= {TARGET_CEILING_SHARE:.0%} of the best ceiling",
                    share >= TARGET_CEILING_SHARE, f"{share:.0%}")  # fmt: skip
    for round_ in rounds:
        once = round_.received == args.members and round_.sent == args.members
        bench.check(
            f"{round_.label}: every member mailed once",
            once,
            f"{round_.sent:,} marked sent, {round_.received:,} received; {round_.describe}",
        )


def pacing_rounds(bench: Bench, url: str, engine: Engine, plain: Round) -> list[Round]:
    """Pacing on, against pacing off: two rounds of each, alternating, compared by their means.

    Every member's domain is paced with limits above what one run reaches, so the figure shows
    what the per-domain bookkeeping costs (tests/mailer/test_pacing.py shows a limit biting).
    One round each left the comparison to the noise of the machine (a 9 % "loss" with the same
    CPU per message), so the rounds alternate: off, on, off, on.
    """
    paced_limits = ",".join(f"{domain}=8/1000000" for domain in DOMAINS)
    off, on = [plain], []
    for again in range(2):
        if again:
            off.append(sqlite_round(bench, url, engine, "sqlite again")[0])
        paced_env = {"NEWSLETTER_DOMAIN_LIMITS": paced_limits}
        on.append(sqlite_round(bench, url, engine, f"sqlite paced {again + 1}",
                               extra_env=paced_env)[0])  # fmt: skip
    off_rate, on_rate = mean(off, "rate"), mean(on, "rate")
    share = on_rate / off_rate if off_rate else 0.0
    bench.show(
        "SQLite, per-domain pacing on",
        f"{on_rate:,.0f} msg/s over {len(DOMAINS)} domains, mean of "
        f"{', '.join(f'{r.rate:,.0f}' for r in on)}; without: {off_rate:,.0f}, mean of "
        f"{', '.join(f'{r.rate:,.0f}' for r in off)} ({share:.0%}); drain CPU "
        f"{mean(on, 'cpu_us'):.0f} vs {mean(off, 'cpu_us'):.0f}"
        " µs/msg",
    )
    bench.check(f"pacing on: >= {TARGET_PACED_SHARE:.0%} of the rate without",
                share >= TARGET_PACED_SHARE, f"{share:.0%}")  # fmt: skip
    return off[1:] + on


def spread_languages(engine: Engine, languages: int) -> None:
    """Member ``id`` reads the ``id % languages``-th language of the network from now on."""
    codes = list(LANGUAGES)[:languages]
    member = Member.__table__
    with engine.begin() as conn:
        for index, code in enumerate(codes):
            conn.execute(
                member.update().where(member.c.id % len(codes) == index).values(language=code)
            )


def languages_rounds(bench: Bench, url: str, engine: Engine) -> list[Round]:
    """The same members in one language and spread over N, alternating (one, N, one, N), each
    pair compared by its means.

    Against the first round of the invocation alone, the comparison was skewed by the order: the
    same code slows a little as the database grows round after round (a fifth round took ~10 %
    more CPU per message than the first, in one language too).
    """
    args = bench.args
    one: list[Round] = []
    many: list[Round] = []
    campaign_id = 0
    for again in range(2):
        spread_languages(engine, 1)
        one.append(sqlite_round(bench, url, engine, f"sqlite 1 language {again + 1}")[0])
        spread_languages(engine, args.languages)
        label = f"sqlite {args.languages} languages {again + 1}"
        round_, campaign_id = sqlite_round(bench, url, engine, label)
        many.append(round_)
    versions = count_versions(engine, campaign_id)
    rate_share = mean(many, "rate") / mean(one, "rate")
    cpu_share = mean(many, "cpu_us") / mean(one, "cpu_us")
    bench.show(
        f"SQLite, {args.languages} languages",
        f"{mean(many, 'rate'):,.0f} msg/s, mean of {', '.join(f'{r.rate:,.0f}' for r in many)}"
        f" ({rate_share:.0%} of one language: {mean(one, 'rate'):,.0f}, mean of "
        f"{', '.join(f'{r.rate:,.0f}' for r in one)}), rendered in {versions} versions; drain CPU "
        f"{mean(many, 'cpu_us'):.0f} µs/msg vs {mean(one, 'cpu_us'):.0f} ({cpu_share:.0%}), "
        f"fan-out {mean(many, 'fanout_s'):.2f} s vs {mean(one, 'fanout_s'):.2f} s",
    )
    bench.check(f"{args.languages} languages: rate >= {TARGET_LANGUAGES_SHARE:.0%} of one language",
                rate_share >= TARGET_LANGUAGES_SHARE, f"{rate_share:.0%}")  # fmt: skip
    bench.check(f"{args.languages} languages: drain CPU per message <= "
                f"{2 - TARGET_LANGUAGES_SHARE:.0%} of one language",
                cpu_share <= 2 - TARGET_LANGUAGES_SHARE, f"{cpu_share:.0%}")  # fmt: skip
    return one + many


def postgres_part(bench: Bench) -> None:
    args = bench.args
    url = args.database_url
    try:
        engine = reset_database(url)
    except Exception as err:  # noqa: BLE001 - reported as a miss, the rest still runs
        bench.show("PostgreSQL", f"unavailable ({type(err).__name__}: {str(err).splitlines()[0]})")
        bench.check(f"PostgreSQL >= {TARGET_PG_RATE:,.0f} msg/s", False, "not measured")
        return
    insert_members(engine, args.members, datetime.now(UTC))
    rates = []
    for processes in PG_PROCESSES:
        round_, _ = run_round(
            bench,
            url,
            engine,
            label=f"postgresql {processes}p",
            processes=processes,
            threads=args.connections,
            members=args.members,
        )
        rates.append(round_)
    engine.dispose()
    table = "; ".join(
        f"{r.processes} x {r.threads}: {r.rate:,.0f} msg/s ({r.cpu_us:.0f} µs CPU/msg, "
        f"server {r.server_cpu_s / max(r.sent, 1) * 1e6:.0f})"
        for r in rates
    )
    bench.show("PostgreSQL by worker processes", table)
    best = max(r.rate for r in rates)
    bench.check(
        f"PostgreSQL >= {TARGET_PG_RATE:,.0f} msg/s", best >= TARGET_PG_RATE, f"{best:,.0f}"
    )
    twice = [r for r in rates if r.received != args.members or r.sent != args.members]
    bench.check("PostgreSQL 1/2/4 processes: every member mailed once, nobody twice", not twice,
                ", ".join(f"{r.processes}p: {r.received:,} received" for r in rates))  # fmt: skip


def big_part(bench: Bench) -> None:
    """100,000 members as the product sends them, and again through drain processes.

    The memory target counts every process together. ``newsletter serve`` (what ``make run``
    starts) and ``newsletter worker`` send from one process with ``NEWSLETTER_SMTP_CONNECTIONS``
    threads (4 by default), the web app and the worker sharing it under ``serve``: that is the
    round checked. ``outbox drain --processes N`` adds a process per core for speed; each starts
    with its own interpreter, SQLAlchemy and driver (~90 MB resident, most of it shared pages
    a fork counts again), so its sum is printed beside it, with PSS (shared pages counted once).
    """
    args = bench.args
    # The sending threads of `serve` and `worker`: NEWSLETTER_SMTP_CONNECTIONS, left at its default.
    default = load(settings_environ("sqlite://", bench.tmp / "instance", 25), dotenv=None)
    checked: Round | None = None
    for processes, threads in ((1, default.smtp_connections), (args.processes, args.connections)):
        url = f"sqlite:///{bench.tmp / f'big-{processes}.db'}"
        engine = reset_database(url)
        insert_members(engine, args.big, datetime.now(UTC))
        round_, _ = run_round(
            bench,
            url,
            engine,
            label=f"sqlite {args.big // 1000}k, {processes} x {threads}",
            processes=processes,
            threads=threads,
            members=args.big,
            watch_rss=True,
        )
        engine.dispose()
        how = "one process (serve, worker)" if processes == 1 else "drain processes"
        bench.show(
            f"{args.big:,} members, {how}, {processes} x {threads}",
            f"queued in {round_.fanout_s:.1f} s, {round_.rate:,.0f} msg/s, peak RSS of all "
            f"processes together {round_.peak_rss_mb:.0f} MB (PSS, shared pages counted once: "
            f"{round_.peak_pss_mb:.0f} MB)",
        )
        checked = checked or round_
    assert checked is not None
    bench.check(f"{args.big:,} queued in <= {TARGET_QUEUE_S:.0f} s",
                checked.fanout_s <= TARGET_QUEUE_S, f"{checked.fanout_s:.1f} s")  # fmt: skip
    bench.check(f"{args.big:,}, one process: peak RSS (all processes) <= {TARGET_RSS_MB:.0f} MB",
                checked.peak_rss_mb <= TARGET_RSS_MB, f"{checked.peak_rss_mb:.0f} MB")  # fmt: skip


def claims_part(bench: Bench) -> None:
    old = bench.args.old_rows
    url = f"sqlite:///{bench.tmp / 'claims-empty.db'}"
    _, empty_us = claim_cost(url, 0)
    url = f"sqlite:///{bench.tmp / 'claims-old.db'}"
    inserted_s, old_us = claim_cost(url, old)
    ratio = old_us / empty_us if empty_us else 0.0
    bench.show(
        "claim of 100 rows (SQLite)",
        f"{empty_us:,.0f} µs with no old rows, {old_us:,.0f} µs with {old:,} "
        f"(inserted in {inserted_s:.1f} s): x{ratio:.2f}",
    )
    bench.check(f"claims as fast with {old:,} old rows (<= x{TARGET_CLAIM_RATIO})",
                ratio <= TARGET_CLAIM_RATIO, f"x{ratio:.2f}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("$", shlex.join([sys.executable, *sys.argv]), flush=True)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    bench = Bench(args, tmp, announcement_body(), {}, [])
    started = time.perf_counter()
    try:
        sqlite_part(bench)
        if not args.no_postgres:
            postgres_part(bench)
        if args.big:
            big_part(bench)
        if args.old_rows:
            claims_part(bench)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n({time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.2f} at the end)")
    for name, met, value in bench.checks:
        print(f"  [{'MET ' if met else 'MISS'}] {name}: {value}")
    return 0 if all(met for name, met, _ in bench.checks if "mailed once" in name) else 1


def sample_message(size: int) -> bytes:
    """A pre-built message of ``size`` bytes for the ceiling run (CRLF lines of 76 octets)."""
    head = (
        b"From: news@network.example.org\r\nTo: member@example.org\r\n"
        b"Subject: ceiling\r\nMessage-ID: <ceiling@network.example.org>\r\n\r\n"
    )
    line = b"x" * 74 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


if __name__ == "__main__":
    sys.exit(main())
