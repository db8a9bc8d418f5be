"""End-to-end sending benchmark: one announcement to N members, drained to a local smtp-sink.

Run from the project root (needs Postfix's ``smtp-sink``: ``apt-get install postfix``)::

    .venv/bin/python bench/send.py                          # SQLite, 20,000 members
    .venv/bin/python bench/send.py --dkim                   # the same, DKIM-signed
    .venv/bin/python bench/send.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
    .venv/bin/python bench/send.py --members 100000         # memory: recipients are streamed
    .venv/bin/python bench/send.py --languages 7            # members spread over 7 languages

What it does: a fresh database (a SQLite file in a temporary directory, or the tables of
``--database-url`` dropped and created again), N active members of one list inserted in bulk, one
announcement with a ~30 KB message created through the real service
(``subscribers.campaigns.create_announcement``: render once, fan out into the outbox), then the
outbox drained by ``mailer.sender.drain_processes`` through ``SmtpTransport`` to ``smtp-sink`` on
127.0.0.1. It prints the fan-out time, the drain rate, the compose cost per recipient (measured
alone), peak RSS, and the ceiling: bare smtplib sending one pre-built message of the same size
over the same number of connections and processes. Nothing is asserted; the targets are printed
as met or not.

With ``--languages N`` the members are spread evenly over the first N languages of the network
(en, pt, pl, es, ro, sk, bs): the announcement is rendered once per language with a catalogue
and each member is sent their language's version, all in one campaign. Compare with the same
invocation without it (one language) for the cost of a multilingual audience.
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import random
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
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, insert, select, text  # noqa: E402

from mailer import outbox  # noqa: E402
from mailer.compose import Personaliser  # noqa: E402
from mailer.message import Address  # noqa: E402
from mailer.mime import MessageLayout, make_message_id  # noqa: E402
from mailer.sender import Sender, drain_processes  # noqa: E402
from mailer.transport import SmtpTransport  # noqa: E402
from subscribers.campaigns import Announcement, create_announcement  # noqa: E402
from subscribers.db import make_engine, metadata, transaction  # noqa: E402
from subscribers.models import ACTIVE, SUB_ACTIVE, MailingList, Member, Subscription  # noqa: E402
from subscribers.runtime import Runtime  # noqa: E402
from subscribers.settings import load  # noqa: E402
from subscribers.templating import available_languages  # noqa: E402
from subscribers.validation import LANGUAGES  # noqa: E402

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

TARGET_RATE = 1500.0
TARGET_CEILING_SHARE = 0.5
TARGET_COMPOSE_US = 300.0
TARGET_DKIM_SHARE = 0.6
TARGET_PG_RATE = 1000.0
TARGET_RSS_MB = 300.0


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


def insert_members(engine: Engine, count: int, now: datetime, languages: int = 1) -> int:
    """One list and ``count`` active, subscribed members, with core inserts. Returns the list id.

    Member ``i`` reads the ``i % languages``-th language of the network.
    """
    codes = list(LANGUAGES)[:languages]
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
                        "language": codes[i % len(codes)],
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


def settings_environ(database_url: str, instance: Path) -> dict[str, str]:
    environ = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(instance),
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BASE_URL": "https://network.example.org",
        "NEWSLETTER_MAIL_FROM": MAIL_FROM,
        "NEWSLETTER_BOUNCE_ADDRESS": BOUNCES,
        "NEWSLETTER_ENV": "production",
    }
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
    from sqlmodel import Session

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


def start_sink(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    if not os.path.exists(binary):
        sys.exit("smtp-sink not found: apt-get install postfix (only the binary is used)")
    command = [binary, "-c"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]
    command += [f"127.0.0.1:{port}", "1000"]
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    metadata.create_all(engine)
    return engine


def peak_rss_mb() -> tuple[float, float]:
    """Peak RSS of this process and of the largest finished child process, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


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


def timed(func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20_000, help="list size (default 20000)")
    parser.add_argument(
        "--connections", type=int, default=4, help="SMTP connections in all (default 4)"
    )
    parser.add_argument("--processes", type=int, default=2, help="drain processes (default 2)")
    parser.add_argument("--dkim", action="store_true", help="sign with DKIM (a fresh 2048-bit key)")
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (its tables are dropped); default a SQLite file"
    )
    parser.add_argument(
        "--compose-sample", type=int, default=5000, help="recipients for the compose cost"
    )
    parser.add_argument(
        "--start-method",
        choices=("spawn", "fork", "forkserver"),
        default="spawn",
        help="how drain processes start (default spawn)",
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare smtplib run")
    parser.add_argument(
        "--languages",
        type=int,
        default=1,
        choices=range(1, len(LANGUAGES) + 1),
        metavar=f"1..{len(LANGUAGES)}",
        help="spread the members over this many languages (default 1: English)",
    )
    args = parser.parse_args(argv)
    if args.members < 1 or args.connections < 1 or args.processes < 1:
        parser.error("--members, --connections and --processes must be at least 1")
    if args.connections < args.processes:
        parser.error("--connections must be at least --processes (one connection a thread)")
    return args


@dataclass
class Round:
    """One campaign fanned out and drained."""

    signed: bool
    fanout_s: float = 0.0
    drain_s: float = 0.0
    cpu_s: float = 0.0
    sink_cpu_s: float = 0.0
    sent: int = 0
    describe: str = ""
    errors: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.sent / self.drain_s if self.drain_s else 0.0


def run_round(
    args: argparse.Namespace,
    engine: Engine,
    environ: dict[str, str],
    port: int,
    threads: int,
    body: str,
    *,
    signed_key: Path | None,
    sink_pid: int,
) -> tuple[Round, int]:
    """Fan one announcement out to the whole list, then drain it; return the round and its id."""
    if signed_key is not None:
        environ = {
            **environ,
            "NEWSLETTER_DKIM_KEY_FILE": str(signed_key),
            "NEWSLETTER_DKIM_SELECTOR": "bench",
        }
    settings = load(environ, dotenv=None)
    runtime = Runtime.build(settings, transport=SmtpTransport("127.0.0.1", port), engine=engine)
    result = Round(signed=signed_key is not None)

    def fan_out() -> tuple[outbox.Campaign, int]:
        with runtime.new_session() as session, transaction(session):
            return create_announcement(
                session,
                runtime.kit,
                Announcement(LIST_SLUG, "Spring announcements: workshops and open calls", body),
                now=datetime.now(UTC),
            )

    result.fanout_s, (campaign, queued) = timed(fan_out)
    assert campaign.id is not None and queued == args.members, queued
    engine.dispose()  # nothing of the parent's pool may reach a forked child
    spec = SenderSpec(
        environ=tuple(environ.items()),
        database_url=environ["NEWSLETTER_DATABASE_URL"],
        smtp_host="127.0.0.1",
        smtp_port=port,
        connections=threads,
    )
    before = children_cpu()
    sink_before = process_cpu(sink_pid)
    result.drain_s, report = timed(
        lambda: drain_processes(
            functools.partial(build_sender, spec),
            args.processes,
            threads,
            start_method=args.start_method,
        )
    )
    result.cpu_s = children_cpu() - before
    result.sink_cpu_s = process_cpu(sink_pid) - sink_before
    result.sent = report.sent
    result.describe = report.describe()
    result.errors = tuple(report.errors)
    return result, campaign.id


def outbox_states(engine: Engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.Delivery.state, func.count()).group_by(outbox.Delivery.state)
        ).all()
    return ", ".join(f"{state} {n}" for state, n in sorted(rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("$", shlex.join([sys.executable, *sys.argv]), flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="newsletter-bench-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    per_process = split(args.connections, args.processes)
    if len(set(per_process)) != 1:
        print(f"note: {args.connections} connections cannot be split evenly; using "
              f"{per_process[0]} per process")  # fmt: skip
    threads = per_process[0]
    port = free_port()
    sink = start_sink(port)
    try:
        engine = reset_database(database_url)
        seconds, _ = timed(
            lambda: insert_members(engine, args.members, datetime.now(UTC), args.languages)
        )
        print(f"inserted {args.members:,} members in {seconds:.1f} s", flush=True)
        environ = settings_environ(database_url, tmp / "instance")
        body = announcement_body()
        rounds: list[Round] = []
        keys = [None, make_dkim_key(tmp)] if args.dkim else [None]
        for key in keys:
            round_, campaign_id = run_round(
                args, engine, environ, port, threads, body, signed_key=key, sink_pid=sink.pid
            )
            rounds.append(round_)
            print(
                f"{'signed' if key else 'unsigned'} round: {round_.sent:,} sent in "
                f"{round_.drain_s:.2f} s",
                flush=True,
            )
        compose_us, size = compose_cost(engine, campaign_id, min(args.compose_sample, args.members))
        rendered_languages = count_versions(engine, campaign_id)
        states = outbox_states(engine)
        engine.dispose()
        bare, bare_cpu = None, 0.0
        if not args.no_ceiling:
            bare, bare_cpu = ceiling(
                "127.0.0.1",
                port,
                sample_message(size),
                args.members,
                args.processes,
                args.connections,
                args.start_method,
            )
        own_mb, child_mb = peak_rss_mb()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    plain, last = rounds[0], rounds[-1]
    results = {
        "database": dialect,
        "members": f"{args.members:,}",
        "outbox states": states,
        "message size": f"{size / 1024:.1f} KB",
        "languages": f"{args.languages} (rendered in {rendered_languages}: "
        f"{', '.join(list(LANGUAGES)[: args.languages])}; catalogues present: "
        f"{', '.join(available_languages())})",
        "processes x connections": f"{args.processes} x {threads}",
        "fan-out (render + queue)": (
            f"{plain.fanout_s:.2f} s ({args.members / plain.fanout_s:,.0f} rows/s)"
        ),
        "drain": f"{plain.drain_s:.2f} s",
        "end to end (drain)": f"{plain.rate:,.0f} msg/s",
        "CPU per message": f"drain processes {plain.cpu_s / plain.sent * 1e6:.0f} µs, "
        f"smtp-sink {plain.sink_cpu_s / plain.sent * 1e6:.0f} µs",
    }
    if args.dkim:
        results["drain, DKIM-signed"] = f"{last.drain_s:.2f} s"
        results["end to end, DKIM-signed"] = (
            f"{last.rate:,.0f} msg/s ({last.rate / plain.rate:.0%} of unsigned)"
        )
        results["CPU per message, signed"] = (
            f"drain processes {last.cpu_s / last.sent * 1e6:.0f} µs, "
            f"smtp-sink {last.sink_cpu_s / last.sent * 1e6:.0f} µs"
        )
    results["ceiling (bare smtplib)"] = (
        f"{bare:,.0f} msg/s (client CPU {bare_cpu * 1e6:.0f} µs/msg)" if bare else "skipped"
    )
    results["share of ceiling"] = f"{plain.rate / bare:.0%}" if bare else "-"
    results["compose per recipient"] = f"{compose_us:.0f} µs"
    results["peak RSS"] = f"parent {own_mb:.0f} MB, largest child {child_mb:.0f} MB"
    for round_ in rounds:
        if round_.errors:
            results["errors"] = f"{len(round_.errors)}, first: {round_.errors[0]}"
    width = max(len(k) for k in results)
    print()
    for key, value in results.items():
        print(f"  {key:<{width}}  {value}")

    ok_run = all(r.sent == args.members for r in rounds)
    checks: list[tuple[str, bool, str]] = [
        ("every message sent, none failed", ok_run, "; ".join(r.describe for r in rounds)),
        (f"compose < {TARGET_COMPOSE_US:.0f} µs", compose_us < TARGET_COMPOSE_US,
         f"{compose_us:.0f} µs"),
    ]  # fmt: skip
    if dialect == "sqlite" and args.connections >= 4:
        checks.append(
            (f"SQLite >= {TARGET_RATE:,.0f} msg/s", plain.rate >= TARGET_RATE, f"{plain.rate:,.0f}")
        )
        if bare:
            checks.append(
                (
                    f"SQLite >= {TARGET_CEILING_SHARE:.0%} of the ceiling",
                    plain.rate >= TARGET_CEILING_SHARE * bare,
                    f"{plain.rate / bare:.0%}",
                )
            )
    if dialect == "postgresql":
        checks.append(
            (
                f"PostgreSQL >= {TARGET_PG_RATE:,.0f} msg/s",
                plain.rate >= TARGET_PG_RATE,
                f"{plain.rate:,.0f}",
            )
        )
    if args.dkim:
        checks.append(
            (
                f"DKIM >= {TARGET_DKIM_SHARE:.0%} of the unsigned rate",
                last.rate >= TARGET_DKIM_SHARE * plain.rate,
                f"{last.rate / plain.rate:.0%}",
            )
        )
    if args.members >= 100_000:
        peak = max(own_mb, child_mb)
        checks.append(
            (f"peak RSS < {TARGET_RSS_MB:.0f} MB", peak < TARGET_RSS_MB, f"{peak:.0f} MB")
        )
    print()
    for name, met, value in checks:
        print(f"  [{'MET ' if met else 'MISS'}] {name}: {value}")
    return 0 if ok_run else 1


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
