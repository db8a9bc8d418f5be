"""``newsletter campaigns``: show, pause, resume or cancel a campaign; audited."""

from __future__ import annotations

import click

from mailer import outbox
from subscribers.admin import actions
from subscribers.cli.support import change, friendly, record, runtime
from subscribers.content import campaigns


@click.group("campaigns")
def campaigns_group() -> None:
    """Show, pause, resume or cancel a campaign."""


def _set_status(campaign_id: int, status: str, verb: str) -> None:

    with change() as (session, rt):
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
