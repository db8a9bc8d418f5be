"""``newsletter outbox``: what is queued, and sending it now (``drain``)."""

from __future__ import annotations

import functools
import sys

import click

from mailer import outbox, workers
from mailer.sender import drain_processes
from subscribers.cli.support import friendly, runtime, sender_for_process


@click.group("outbox")
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
