"""The ``newsletter`` command: one command per SPEC line; each parses, calls a service, echoes.

``main`` lives here with the commands that run the system (db, serve, worker, schedule,
check-domain, demo); every other group is a module of its own beside this one, attached below.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from subscribers import demo
from subscribers.cli.announce import announce
from subscribers.cli.api import tokens_group, webhooks_group
from subscribers.cli.bounces import bounces_group
from subscribers.cli.campaigns import campaigns_group
from subscribers.cli.consent import consent_group
from subscribers.cli.digest import digest_group
from subscribers.cli.events import events_group
from subscribers.cli.lists import lists_group
from subscribers.cli.members import audit_command, members_group
from subscribers.cli.news import news_group
from subscribers.cli.outbox import outbox_group
from subscribers.cli.staff import staff_group
from subscribers.cli.subscribers import subscribers_group
from subscribers.cli.support import OneLineErrors, friendly, runtime
from subscribers.core.db import transaction
from subscribers.core.migrate import upgrade
from subscribers.core.settings import load
from subscribers.insight import domain_check
from subscribers.runtime import Runtime


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log what the worker does (-v); -vv also logs every scheduler run.",
)
def main(verbose: int) -> None:
    """Newsletter, digests and event invitations for a professional network."""
    configure_logging(verbose)


# Loggers that speak at INFO on every tick: APScheduler notes each job run (one a minute or
# more), waitress repeats the address `serve` already printed. Quiet unless asked twice (-vv),
# so the staff login line of `make run` stays on screen.
CHATTY_LOGGERS = ("apscheduler", "waitress")


def configure_logging(verbosity: int) -> None:
    """WARNING by default; -v adds the worker's own INFO lines; -vv everything."""
    logging.basicConfig(
        level=logging.INFO if verbosity else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbosity >= 2 else logging.WARNING)


# -- db ------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly
def db_upgrade() -> None:
    """Create or migrate the schema (Alembic)."""
    before, after = upgrade(runtime().engine)
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    elif before is None:
        click.echo(f"database created (revision {after})")
    else:
        click.echo(f"database migrated from revision {before} to {after}")


# -- serve and worker ----------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-worker", is_flag=True, help="Serve the web app only.")
@friendly
def serve(host: str, port: int, no_worker: bool) -> None:
    """Serve the web app (waitress) and, unless --no-worker, the worker in the same process."""
    # Lazy: Flask, the web app and waitress load only for the command that serves them (the
    # MTA runs `bounces process` once per bounce, and it should start fast).
    import waitress

    from subscribers.web import create_app
    from subscribers.worker import start_background

    rt = runtime()
    app = create_app(rt.settings, runtime=rt)
    # The socket first: a port in use (or a bad host) is one line naming it, before anything
    # says "serving" or a worker starts sending.
    try:
        server = waitress.create_server(
            app,
            host=host,
            port=port,
            threads=8,
            ident="network-newsletter",
            # Waitress drops X-Forwarded-* by default; with trusted proxies the app reads them
            # (ProxyFix, as many hops as NEWSLETTER_TRUSTED_PROXIES says), so let them through.
            clear_untrusted_proxy_headers=not rt.settings.trusted_proxies,
        )
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise click.ClickException(f"cannot serve on {host}:{port}: {reason}") from None
    if not no_worker:
        start_background(rt)
    click.echo(f"serving on http://{host}:{port}/ (worker {'off' if no_worker else 'on'})")
    login = demo_login_line(rt)
    if login:
        click.echo(login)  # again, last: `make run` printed it before the migrations' output
    serving_threads_take_turns_quickly()
    server.run()


# How long a thread that wants the interpreter lock waits for a busy one to let go of it.
SERVE_SWITCH_INTERVAL = 0.001


def serving_threads_take_turns_quickly() -> None:
    """Let waitress's threads hand the interpreter lock over every millisecond, not every 5.

    A request gives the lock up at each database round trip and must win it back afterwards;
    while other threads are busy (rendering pages) it waited up to 5 ms each time, eight times
    per registration, and on SQLite while holding the database's write lock, which the worker
    and the other requests wait for. Measured with the bench during a drain (README, "Serving
    while a campaign drains"): registration p99 133 -> 76 ms and 295 -> 136 ms in two rounds,
    the web app's wait for the write lock -27 to -43 %, for 0.2-0.7 ms more CPU a registration.
    """
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL)


@main.command()
@friendly
def worker() -> None:
    """Run the sender (and scheduler) until SIGTERM."""
    from subscribers.worker import run_foreground  # lazy: APScheduler loads for workers only

    run_foreground(
        runtime(), ready=lambda: click.echo("worker started; stop with Ctrl-C or SIGTERM")
    )


@main.command()
@friendly
def schedule() -> None:
    """The timed jobs and their next run."""
    import scheduler  # lazy: APScheduler loads only for the commands that schedule

    rt = runtime()
    jobs = scheduler.build_scheduler(rt)
    jobs.start(paused=True)  # loads the persisted jobs without running any
    try:
        scheduler.sync_digest_jobs()
        for job in sorted(jobs.get_jobs(), key=lambda j: j.id):
            when = job.next_run_time.isoformat() if job.next_run_time else "paused"
            click.echo(f"{job.id}\t{when}\t{job.name}")
    finally:
        jobs.shutdown(wait=False)


# -- check-domain --------------------------------------------------------------------------


@main.command("check-domain")
@click.option("--resolver", help="DNS server to ask, IP[:PORT] (default: the system's).")
@friendly
def check_domain_command(resolver: str | None) -> None:
    """Check SPF, DKIM, DMARC and MX of the sending domain; exit 1 unless all are right."""
    server = domain_check.parse_resolver(resolver) if resolver is not None else None
    verdicts = domain_check.check_domain(load(), resolver=server)
    for verdict in verdicts:
        click.echo(verdict.line())
    if not all(v.ok for v in verdicts):
        sys.exit(1)


# -- demo ----------------------------------------------------------------------------------


@main.command("demo", hidden=True)
@friendly
def demo_seed() -> None:
    """Create a demo list and staff login if the database is empty (used by `make run`)."""
    rt = runtime()
    login_file = Path(rt.settings.instance_path) / "demo-login.txt"
    with transaction(rt.new_session()) as session:
        login = demo.seed_if_empty(session, rt.kit, now=rt.clock())
    if login is not None:
        login_file.write_text(f"{login[0]}\n{login[1]}\n")
        login_file.chmod(0o600)
    line = demo_login_line(rt)
    if line:
        click.echo(line)


def demo_login_line(rt: Runtime) -> str | None:
    """The demo database's staff login, as `make run` prints it; None outside a demo."""
    login_file = Path(rt.settings.instance_path) / "demo-login.txt"
    if not login_file.exists():
        return None
    email, password = login_file.read_text().split()[:2]
    return f"staff login: {email} / {password}  (http://127.0.0.1:5000/admin/)"


for command in (
    staff_group,
    lists_group,
    outbox_group,
    campaigns_group,
    subscribers_group,
    consent_group,
    news_group,
    digest_group,
    announce,
    bounces_group,
    events_group,
    tokens_group,
    webhooks_group,
    members_group,
    audit_command,
):
    main.add_command(command)
