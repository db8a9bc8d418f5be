"""``newsletter bounces process``: what the MTA pipes in (bounces, complaints,
unsubscribe mails); a failure that may pass exits 75 so that the MTA tries again."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.exc import DBAPIError

from mailer import arf, bounce_log, bounces
from subscribers.admin import webhooks
from subscribers.content import brakes
from subscribers.core.db import transaction
from subscribers.core.settings import load
from subscribers.insight import complaints
from subscribers.people import preferences
from subscribers.runtime import Runtime


@click.group("bounces")
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
