"""The ``newsletter`` command: one command per SPEC line; each parses, calls a service, echoes."""

from __future__ import annotations

import functools
import getpass
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.exc import DBAPIError

from mailer import arf, bounce_log, bounces, outbox, workers
from mailer.sender import drain_processes
from subscribers import demo
from subscribers.admin import actions, staff, webhooks
from subscribers.cli.api import tokens_group, webhooks_group
from subscribers.cli.events import events_group
from subscribers.cli.members import audit_command, members_group
from subscribers.cli.support import (
    TRANSLATION_HELP,
    body_text,
    cli_actor,
    drain_now,
    friendly,
    parse_time,
    record,
    runtime,
    sender_for_process,
    translation_files,
)
from subscribers.content import brakes, campaigns, digests, lists, news
from subscribers.content.multilingual import Text
from subscribers.core import uploads
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import ngettext
from subscribers.core.migrate import upgrade
from subscribers.core.models import ImportJob
from subscribers.core.settings import load
from subscribers.insight import complaints, dashboard, domain_check
from subscribers.people import consent, import_jobs, imports, preferences
from subscribers.people.audience import Segment
from subscribers.runtime import Runtime


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from waitress import serve as waitress_serve

    from subscribers.web import create_app
    from subscribers.worker import start_background

    rt = runtime()
    app = create_app(rt.settings, runtime=rt)
    if not no_worker:
        start_background(rt)
    click.echo(f"serving on http://{host}:{port}/ (worker {'off' if no_worker else 'on'})")
    login = demo_login_line(rt)
    if login:
        click.echo(login)  # again, last: `make run` printed it before the migrations' output
    serving_threads_take_turns_quickly()
    waitress_serve(
        app,
        host=host,
        port=port,
        threads=8,
        ident="network-newsletter",
        # Waitress drops X-Forwarded-* by default; with trusted proxies the app reads them
        # (ProxyFix, as many hops as NEWSLETTER_TRUSTED_PROXIES says), so let them through.
        clear_untrusted_proxy_headers=not rt.settings.trusted_proxies,
    )


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


# -- staff ---------------------------------------------------------------------------------


@main.group("staff")
def staff_group() -> None:
    """Staff accounts."""


@staff_group.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(staff.ROLES))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly
def staff_create(email: str, role: str, password_stdin: bool) -> None:
    """Create a staff account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    rt = runtime()
    with transaction(rt.new_session()) as session:
        user = staff.create(session, email, password, role, now=rt.clock())
        record(session, rt, actions.staff_created(user))
    click.echo(f"created {user.role} {user.email}")


@staff_group.command("list")
@friendly
def staff_list() -> None:
    """Every staff account: address, role, and whether it is locked out."""
    rt = runtime()
    with rt.new_session() as session:
        for user in staff.accounts(session):
            locked = staff.locked_out(session, user, now=rt.clock())
            click.echo(f"{user.email}\t{user.role}" + ("\tlocked" if locked else ""))


@staff_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(staff.ROLES))
@friendly
def staff_set_role(email: str, role: str) -> None:
    """Give a staff account another role (the last admin stays admin)."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        user = staff.get(session, email)
        changed = staff.change_role(session, user, role)
        if changed:
            record(session, rt, actions.staff_role_set(user))
    click.echo(f"{user.email} is {role}" + ("" if changed else " already"))


@staff_group.command("unlock")
@click.argument("email")
@friendly
def staff_unlock(email: str) -> None:
    """Let an account locked out after failed logins sign in again at once."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        user = staff.get(session, email)
        staff.unlock(session, user)
        record(session, rt, actions.staff_unlocked(user.email))
    click.echo(f"{user.email} can sign in again")


@staff_group.command("remove")
@click.argument("email")
@friendly
def staff_remove(email: str) -> None:
    """Remove a staff account (never the last admin)."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        user = staff.get(session, email)
        address = user.email
        staff.remove(session, user, acting=None)
        record(session, rt, actions.staff_removed(address))
    click.echo(f"removed {address}")


# -- lists ---------------------------------------------------------------------------------


@main.group("lists")
def lists_group() -> None:
    """Mailing lists."""


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--from", "from_address", help='Sender, "Name <addr>".')
@click.option("--digest-cron", help='Digest schedule, e.g. "0 9 * * mon".')
@click.option("--timezone", help="Time zone of the schedule.")
@click.option("--language", help="Default language of its pages and content (en, pt, pl...).")
@friendly
def lists_create(
    slug: str,
    name: str,
    from_address: str | None,
    digest_cron: str | None,
    timezone: str | None,
    language: str | None,
) -> None:
    """Create a list."""
    rt = runtime()
    with _list_options(), transaction(rt.new_session()) as session:
        lst = lists.create(
            session,
            lists.ListSpec(
                slug=slug,
                name=name,
                from_address=from_address,
                digest_cron=digest_cron,
                timezone=timezone or rt.settings.timezone,
                language=language or "en",
            ),
            now=rt.clock(),
        )
        record(session, rt, actions.list_created(lst))
    click.echo(f"created list {lst.slug} (id {lst.id})")


# The option each list setting comes from, to name it in an error message.
_LIST_OPTIONS = {
    "slug": "slug",
    "name": "--name",
    "from_address": "--from",
    "reply_to": "--reply-to",
    "accent_color": "--accent-color",
    "logo_url": "--logo-url",
    "footer": "--footer",
    "digest_cron": "--digest-cron",
    "timezone": "--timezone",
    "language": "--language",
}


@contextmanager
def _list_options() -> Iterator[None]:

    try:
        yield
    except InvalidInput as err:
        option = _LIST_OPTIONS.get(err.field or "")
        raise click.ClickException(f"{option}: {err}" if option else str(err)) from None


@lists_group.command("edit")
@click.argument("slug")
@click.option("--name")
@click.option("--from", "from_address", help='Sender, "Name <addr>" ("" for the default).')
@click.option("--reply-to", help='Reply-to address ("" for none).')
@click.option("--accent-color", help="Accent colour of the mail, #rrggbb.")
@click.option("--logo-url", help='http(s) URL of the logo ("" for none).')
@click.option("--footer", help="Footer line of the mail.")
@click.option("--digest-cron", help='Digest schedule, e.g. "0 9 * * mon" ("" for none).')
@click.option("--timezone", help="Time zone of the schedule.")
@click.option("--public/--private", default=None, help="Whether anyone may register.")
@click.option("--language", help="Default language of its pages and content (en, pt, pl...).")
@click.option(
    "--record-clicks/--no-record-clicks",
    default=None,
    help="Record which member clicked which link (only where the list's consent says so).",
)
@friendly
def lists_edit(slug: str, **options: str | bool | None) -> None:
    """Change a list's settings; options not given stay as they are."""
    rt = runtime()
    with _list_options(), transaction(rt.new_session()) as session:
        _, changed = lists.update(session, slug, lists.ListChange(**options))  # type: ignore[arg-type]
        if changed:
            record(session, rt, actions.list_edited(slug, changed))
    click.echo(
        f"list {slug}: changed {', '.join(changed)}" if changed else f"list {slug}: no change"
    )


@lists_group.command("show")
@click.argument("slug", required=False)
@friendly
def lists_show(slug: str | None) -> None:
    """Subscriber counts by status."""
    with runtime().new_session() as session:
        rows = dashboard.list_counts(session)
    if slug is not None:
        rows = [r for r in rows if r.mailing_list.slug == slug]
        if not rows:
            raise lists.no_such_list(slug)
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in row.by_status.items())
        click.echo(f"{row.mailing_list.slug}\t{row.mailing_list.name}\t{counts}")


# -- outbox and campaigns ------------------------------------------------------------------


@main.group("outbox")
def outbox_group() -> None:
    """The outbox of queued mail."""


@outbox_group.command("status")
@friendly
def outbox_status() -> None:
    """Counts of deliveries by campaign and state, and who holds the rows in sending."""
    rt = runtime()
    now = rt.clock()
    with rt.new_session() as session:
        counts = outbox.counts(session)
        holdings = workers.holders(session, now=now)
    if not counts:
        click.echo("the outbox is empty")
    for cid, by_state in sorted(counts.items()):
        click.echo(f"campaign {cid}: " + ", ".join(f"{k} {v}" for k, v in by_state.items()))
        for holding in holdings:
            if holding.campaign_id == cid:
                click.echo(f"  {holding.describe(now)}")


@outbox_group.command("drain")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Sending processes (one per core sends fastest); NEWSLETTER_SEND_RATE is shared.",
)
@friendly
def outbox_drain(processes: int) -> None:
    """Send everything due, then exit (non-zero if any delivery failed for good)."""
    rt = runtime()
    if processes > 1:
        report = drain_processes(
            functools.partial(sender_for_process, processes),
            processes,
            rt.settings.smtp_connections,
        )
    else:
        report = rt.sender.drain(threads=rt.settings.smtp_connections)
    click.echo(report.describe())
    if report.unreachable:
        raise click.ClickException(
            f"the SMTP server could not be reached ({report.unreachable}); "
            "what was not sent stays queued"
        )
    if report.failed:
        for line in report.errors[:20]:
            click.echo(f"failed: {line}", err=True)
        sys.exit(1)


@main.group("campaigns")
def campaigns_group() -> None:
    """Show, pause, resume or cancel a campaign."""


def _set_status(campaign_id: int, status: str, verb: str) -> None:

    rt = runtime()
    with transaction(rt.new_session()) as session:
        # The service, as the workspace and the API do: resuming also overrides a brake.
        campaigns.set_status(session, campaign_id, status)
        action = {outbox.PAUSED: "pause", outbox.ACTIVE: "resume"}.get(status, "cancel")
        record(session, rt, actions.campaign_status_set(campaign_id, action))
    click.echo(f"campaign {campaign_id} {verb}")


@campaigns_group.command("show")
@click.argument("campaign_id", type=int)
@friendly
def campaigns_show(campaign_id: int) -> None:
    """Counts by state, bounces, and the error of each failed delivery."""
    with runtime().new_session() as session:
        p = campaigns.progress(session, campaign_id)
        problems = campaigns.problems(session, campaign_id)
    c = p.campaign
    click.echo(f"campaign {c.id} ({c.kind}, {c.status}): {c.subject}")
    counts = ", ".join(f"{k} {v}" for k, v in p.counts.items())
    click.echo(f"{counts}, bounced {p.bounced}; {p.percent}% done")
    for d in problems:
        click.echo(f"{d.state}\t{d.address}\t{d.last_code or ''}\t{d.last_error}")


@campaigns_group.command("pause")
@click.argument("campaign_id", type=int)
@friendly
def campaigns_pause(campaign_id: int) -> None:
    """Stop sending a campaign until resumed."""
    _set_status(campaign_id, outbox.PAUSED, "paused")


@campaigns_group.command("resume")
@click.argument("campaign_id", type=int)
@friendly
def campaigns_resume(campaign_id: int) -> None:
    """Resume a paused campaign."""
    _set_status(campaign_id, outbox.ACTIVE, "resumed")


@campaigns_group.command("cancel")
@click.argument("campaign_id", type=int)
@friendly
def campaigns_cancel(campaign_id: int) -> None:
    """Cancel a campaign: what is not yet sent is skipped."""
    _set_status(campaign_id, outbox.CANCELLED, "cancelled")


# -- subscribers ---------------------------------------------------------------------------


@main.group("subscribers")
def subscribers_group() -> None:
    """Import and export members."""


@subscribers_group.command("import")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--list", "list_slug")
@click.option("--consent-note", help="How these people agreed to be mailed (required).")
@click.option("--resume", "resume_id", type=int, help="Carry on with an import that stopped.")
@friendly
def subscribers_import(
    file: Path | None, list_slug: str | None, consent_note: str | None, resume_id: int | None
) -> None:
    """Add or update members from CSV (email, name, organisation, country, sector, language).

    The import commits a few hundred lines at a time, so the site keeps working meanwhile; if it
    stops, `--resume ID` carries on from the last lines it committed."""

    rt = runtime()
    directory = Path(rt.settings.instance_path) / "imports"
    if resume_id is None:
        if file is None or not list_slug:
            raise click.UsageError("give FILE and --list SLUG (or --resume ID)")
        raw = file.read_bytes()
        name = uploads.store(directory, raw, now=rt.clock())
        try:
            with transaction(rt.new_session()) as session:
                job = import_jobs.start(
                    session,
                    list_slug,
                    raw,
                    upload=name,
                    filename=file.name,
                    consent_note=consent_note or "",
                    actor=cli_actor(),
                    now=rt.clock(),
                )
        except Exception:
            uploads.discard(directory, name)
            raise
        resume_id = job.id
        assert resume_id is not None
    click.echo(f"import {resume_id}", err=True)
    job = import_jobs.run_stored(
        rt.new_session, directory, resume_id, clock=rt.clock, on_progress=_import_counter()
    )
    click.echo(import_jobs.report(job).describe())


def _import_counter() -> Callable[[ImportJob], None]:
    """Lines done so far on stderr: in place on a terminal, every tenth of the file otherwise."""
    terminal = sys.stderr.isatty()
    shown = [-1]

    def show(job: ImportJob) -> None:
        tenth = job.done * 10 // max(job.total, 1)
        if terminal:
            end = "\n" if job.done >= job.total else ""
            click.echo(f"\r{job.done:,} of {job.total:,} lines", err=True, nl=False)
            click.echo(end, err=True, nl=False)
        elif tenth > shown[0]:
            shown[0] = tenth
            click.echo(f"{job.done:,} of {job.total:,} lines", err=True)

    return show


@subscribers_group.command("export")
@click.option("--list", "list_slug", required=True)
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path))
@friendly
def subscribers_export(list_slug: str, output: Path | None) -> None:
    """The list's subscribers as CSV (formulas neutralised)."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        text = imports.export_members(session, list_slug)
        # Members' data leaving the system is audited, as from the workspace.
        record(session, rt, actions.members_exported(list_slug, text))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@main.group("consent")
def consent_group() -> None:
    """The consent wording people tick on the registration form (versioned)."""


@consent_group.command("show")
@friendly
def consent_show() -> None:
    """Every version of the wording, newest first, in each language it was written in."""
    with runtime().new_session() as session:
        found = consent.versions(session)
    for version, texts in found.items():
        click.echo(f"version {version}:")
        for language, text in texts.items():
            click.echo(f"  {language}: {text}")


@consent_group.command("new-version")
@click.option(
    "--text",
    "texts",
    multiple=True,
    required=True,
    metavar="LANG=TEXT",
    help="The wording in one language (en is required); repeat for each language.",
)
@friendly
def consent_new_version(texts: tuple[str, ...]) -> None:
    """Change the wording: the form shows the new version from now on; records keep theirs."""
    by_language: dict[str, str] = {}
    for given in texts:
        language, sep, text = given.partition("=")
        if not sep:
            raise click.UsageError(f"--text takes LANG=TEXT, got {given!r}")
        by_language[language.strip()] = text
    rt = runtime()
    with transaction(rt.new_session()) as session:
        version = consent.new_version(session, by_language, actor=cli_actor(), now=rt.clock())
    click.echo(f"consent wording version {version} ({', '.join(sorted(by_language))})")


# -- content: news, digests, announcements ------------------------------------------------


@main.group("news")
def news_group() -> None:
    """News items for digests."""


@news_group.command("add")
@click.option("--list", "list_slug", required=True)
@click.option("--title", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--body")
@click.option("--link", help="Where to read more.")
@click.option("--lang", help="Language of --title and the body (default: the list's).")
@click.option("--translation", multiple=True, metavar="CODE=FILE", help=TRANSLATION_HELP)
@friendly
def news_add(
    list_slug: str,
    title: str,
    body_file: Path | None,
    body: str | None,
    link: str | None,
    lang: str | None,
    translation: tuple[str, ...],
) -> None:
    """Queue a news item (Markdown) for the list's next digest; prints its id."""
    rt = runtime()
    texts = translation_files(translation)
    with transaction(rt.new_session()) as session:
        item = news.add(
            session,
            list_slug,
            title=title,
            body=body_text(body_file, body),
            link=link,
            now=rt.clock(),
            language=lang,
        )
        assert item.id is not None
        record(session, rt, actions.news_added(item))
        for text in texts:
            news.translate(session, item.id, text)
            record(session, rt, actions.news_translated(item.id, text.language))
    click.echo(item.id)


@news_group.command("list")
@click.option("--list", "list_slug", required=True)
@friendly
def news_list(list_slug: str) -> None:
    """The list's news items, newest first: id, status, digest that carried it, title."""
    with runtime().new_session() as session:
        items = news.for_list(session, list_slug)
    for item in items:
        digest = f"digest {item.digest_campaign_id}" if item.digest_campaign_id else "-"
        click.echo(f"{item.id}\t{item.status}\t{digest}\t{item.title}")


@news_group.command("edit")
@click.argument("item_id", type=int)
@click.option("--title")
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--body")
@click.option("--link", help='Where to read more ("" for none).')
@click.option(
    "--lang",
    help="Write --title and the body as the translation into this language (both needed).",
)
@click.option("--translation", multiple=True, metavar="CODE=FILE", help=TRANSLATION_HELP)
@friendly
def news_edit(
    item_id: int,
    title: str | None,
    body_file: Path | None,
    body: str | None,
    link: str | None,
    lang: str | None,
    translation: tuple[str, ...],
) -> None:
    """Change a news item still queued, or write a translation; options not given stay."""
    rt = runtime()
    text = body_text(body_file, body) if body_file or body is not None else None
    texts = translation_files(translation)
    if lang is not None:
        if title is None or text is None:
            raise click.ClickException("--lang needs --title and --body (or --body-file)")
        texts.append(Text(lang, title, text))
        title = text = None
    with transaction(rt.new_session()) as session:
        item = news.update(session, item_id, title=title, body=text, link=link)
        # As in the workspace: a change of the item is news.edit, each translation written
        # (the --lang text included) is news.translate.
        if not texts or (title, text, link) != (None, None, None):
            record(session, rt, actions.news_edited(item))
        for translated in texts:
            news.translate(session, item_id, translated)
            record(session, rt, actions.news_translated(item_id, translated.language))
    click.echo(f"news item {item_id} saved")


@news_group.command("withdraw")
@click.argument("item_id", type=int)
@friendly
def news_withdraw(item_id: int) -> None:
    """Take a queued news item out of the next digest."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        item = news.withdraw(session, item_id)
        record(session, rt, actions.news_withdrawn(item))
    click.echo(f"news item {item_id} withdrawn")


@main.group("digest")
def digest_group() -> None:
    """Digests of queued news."""


@digest_group.command("send")
@click.argument("slug")
@click.option("--now", "drain", is_flag=True, help="Also send the outbox before returning.")
@friendly
def digest_send(slug: str, drain: bool) -> None:
    """Build and queue the digest of everything queued for a list."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        outcome = digests.create_digest(session, rt.kit, slug, now=rt.clock())
        record(session, rt, actions.digest_sent(slug, outcome.describe()))
    click.echo(outcome.describe())
    if drain and outcome.campaign_id is not None:
        drain_now(rt)


@main.command()
@click.option("--list", "list_slug", required=True)
@click.option("--subject", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--body")
@click.option("--segment", help="e.g. country=PT,sector=police")
@click.option("--at", "at", help="Send at this time (ISO 8601).")
@click.option(
    "--preview",
    is_flag=True,
    help="Print the recipient count and the text part as a sample member gets it; send nothing.",
)
@click.option(
    "--html-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="With --preview: also write the HTML part there.",
)
@click.option("--test-to", help="Queue one test copy to this staff account only.")
@click.option("--now", "drain", is_flag=True, help="Also send the outbox before returning.")
@click.option("--lang", help="Language of --subject and the body (default: the list's).")
@click.option("--translation", multiple=True, metavar="CODE=FILE", help=TRANSLATION_HELP)
@click.option("--preview-lang", help="With --preview: show the version of this language.")
@click.option(
    "--archive/--no-archive",
    default=None,
    help="Publish it in the list's public archive, or not (default: only a whole-list send).",
)
@friendly
def announce(
    list_slug: str,
    subject: str,
    body_file: Path | None,
    body: str | None,
    segment: str | None,
    at: str | None,
    preview: bool,
    html_file: Path | None,
    test_to: str | None,
    drain: bool,
    lang: str | None,
    translation: tuple[str, ...],
    preview_lang: str | None,
    archive: bool | None,
) -> None:
    """An announcement to the list's active members (or a segment of them).

    Like the workspace's announce page: --preview shows it, --test-to sends yourself a test,
    and without either it is queued (or scheduled with --at).
    """

    if html_file is not None and not preview:
        raise click.UsageError("--html-file goes with --preview")
    rt = runtime()
    announcement = campaigns.Announcement(
        list_slug,
        subject,
        body_text(body_file, body),
        Segment.parse(segment),
        parse_time(at, rt.settings.timezone),
        created_by=cli_actor(),
        language=lang,
        translations=tuple(translation_files(translation)),
        archive=archive,
    )
    if preview:
        with rt.new_session() as session:
            shown = campaigns.preview_announcement(session, rt.kit, announcement, preview_lang)
        if html_file is not None:
            html_file.write_text(shown.html, encoding="utf-8")
        sample = f", shown as {shown.sample_name} gets it" if shown.sample_name else ""
        counted = ngettext("%(num)d recipient", "%(num)d recipients", shown.recipients)
        click.echo(f"{counted}{sample}\nSubject: {shown.subject}\n")
        click.echo(shown.text)
        return
    with transaction(rt.new_session()) as session:
        if test_to is not None:
            campaign = campaigns.send_test(
                session, rt.kit, announcement, to=staff.get(session, test_to), now=rt.clock()
            )
            record(session, rt, actions.announcement_tested(campaign, test_to))
            message = f"test campaign {campaign.id} queued to {test_to}"
        else:
            campaign, count = campaigns.create_announcement(
                session, rt.kit, announcement, now=rt.clock()
            )
            if count == 0:
                raise InvalidInput("nobody on this list matches this audience; nothing was queued")
            when = announcement.send_after
            record(session, rt, actions.announced(campaign, announcement, count))
            message = ngettext(
                "campaign %(id)d queued for %(num)d member",
                "campaign %(id)d queued for %(num)d members",
                count,
                id=campaign.id,
            )
            message += f" for {when.isoformat()}" if when else ""
    click.echo(message)
    if drain:
        drain_now(rt)


# -- bounces ------------------------------------------------------------------------------


@main.group("bounces")
def bounces_group() -> None:
    """Bounce messages (DSNs)."""


# sysexits.h: Postfix's pipe (and every MTA) keeps a message and retries after this code.
EX_TEMPFAIL = 75


@bounces_group.command("process")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recipient", help="The address the bounce was delivered to (from the MTA).")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="NEWSLETTER_ENV_FILE",
    help="Read the settings from this file (KEY=value lines), e.g. /etc/newsletter/env.",
)
def bounces_process(files: tuple[Path, ...], recipient: str | None, env_file: Path | None) -> None:
    """Read bounce messages (files, or one on stdin), attribute them, suppress hard bounces.

    Feedback-loop reports (ARF complaints) unsubscribe and suppress the member at once.
    A member's "unsubscribe" mail to the List-Unsubscribe mailto: address arrives here too.
    Run by the MTA, a failure that may pass (settings or database unreachable, a locked
    database, a full disk) exits 75 so the MTA keeps the message and tries again.
    """
    try:
        _check_one_recipient(files, recipient)
        _process_bounces(files, recipient, env_file)
    except click.ClickException:
        raise
    except Exception as err:  # noqa: BLE001 - whatever it is, the bounce must not be lost
        click.echo(f"temporary failure, the MTA keeps the message: {_why(err)}", err=True)
        sys.exit(EX_TEMPFAIL)


def _check_one_recipient(files: tuple[Path, ...], recipient: str | None) -> None:
    # A pipe delivering to two recipients at once expands ${original_recipient} into two
    # arguments: the second lands among the files. Refuse rather than guess which is whose.
    extra = [str(f) for f in files if "@" in str(f) and not f.exists()]
    if recipient and extra:
        click.echo(
            f"one recipient per delivery, got {recipient} and {', '.join(extra)}: set "
            "newsletter-bounces_destination_recipient_limit = 1 in Postfix's main.cf",
            err=True,
        )
        sys.exit(EX_TEMPFAIL)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise click.ClickException(f"{missing[0]}: file does not exist")


def _why(err: BaseException) -> str:

    if isinstance(err, DBAPIError) and err.orig is not None:
        lines = str(err.orig).strip().splitlines()
        return f"database: {lines[0] if lines else type(err.orig).__name__}"
    if isinstance(err, OSError):
        return f"{err.filename + ': ' if err.filename else ''}{err.strerror or err}"
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _process_bounces(files: tuple[Path, ...], recipient: str | None, env_file: Path | None) -> None:

    if env_file is not None and not env_file.is_file():
        raise OSError(2, "settings file not found (or not readable)", str(env_file))
    rt = Runtime.build(load(dotenv=str(env_file) if env_file else ".env"))
    click.get_current_context().call_on_close(rt.engine.dispose)
    verp = {"verp_template": rt.settings.bounce_address, "key": rt.settings.secret_key.encode()}
    sources = [(str(f), f.read_bytes()) for f in files] or [("stdin", sys.stdin.buffer.read())]
    limits, now = brakes.Limits.of(rt.settings), rt.clock()
    for name, raw in sources:
        feedback = arf.parse(raw, recipient=recipient, **verp)
        if feedback is not None:
            with transaction(rt.new_session()) as session:
                complained = complaints.record(session, feedback, now=rt.clock())
                paused = brakes.check_delivery(session, complained.delivery_id, limits, now=now)
            click.echo(f"{name}: {complained.describe()}{_paused(paused)}")
            continue
        delivery_id = bounces.unsubscribe_request(raw, recipient=recipient, **verp)
        if delivery_id is not None:
            with transaction(rt.new_session()) as session:
                member = preferences.unsubscribe_by_delivery(session, delivery_id, now=rt.clock())
            outcome = "nobody matched" if member is None else f"member {member.id} unsubscribed"
            click.echo(f"{name}: unsubscribe request for delivery {delivery_id}: {outcome}")
            continue
        report = bounces.parse(raw, recipient=recipient, **verp)
        with transaction(rt.new_session()) as session:
            outcome = bounce_log.record(session, report, now=rt.clock())
            webhooks.bounce_recorded(session, outcome, now=rt.clock())
            described = outcome.describe()
            if report.kind == "hard":
                described += _paused(
                    brakes.check_delivery(session, report.delivery_id, limits, now=now)
                )
        click.echo(f"{name}: {described}")


def _paused(paused: bool) -> str:
    return "; the campaign paused itself (too many bounces or complaints)" if paused else ""


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


main.add_command(events_group)
main.add_command(tokens_group)
main.add_command(webhooks_group)
main.add_command(members_group)
main.add_command(audit_command)
