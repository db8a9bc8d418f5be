"""`newsletter tokens ...` (API tokens) and `newsletter webhooks ...` (outgoing webhooks)."""

from __future__ import annotations

import click

from subscribers.admin import actions, api_tokens, staff, webhook_sender, webhooks
from subscribers.cli.support import (
    change,
    change_of,
    cli_actor,
    friendly,
    parse_time,
    record,
    runtime,
    show_secret,
)
from subscribers.core.db import transaction


@click.group("tokens")
def tokens_group() -> None:
    """API tokens (Authorization: Bearer ...)."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(staff.ROLES))
@click.option("--expires", help="ISO 8601 time after which the token stops working.")
@friendly
def tokens_create(name: str, role: str, expires: str | None) -> None:
    """Create a token; it is printed once and cannot be shown again."""
    rt = runtime()
    expires_at = parse_time(expires, rt.settings.timezone, "--expires")
    with transaction(rt.new_session()) as session:
        token, secret = api_tokens.create(
            session, name, role, now=rt.clock(), expires_at=expires_at, created_by=cli_actor()
        )
        record(session, rt, actions.token_created(token))
    show_secret(secret, f"{token.role} token {token.name!r}: keep it now, it is not shown again")


@tokens_group.command("list")
@friendly
def tokens_list() -> None:
    """Every token: name, role, state, expiry and last use (never the token itself)."""
    rt = runtime()
    now = rt.clock()
    with rt.new_session() as session:
        tokens = api_tokens.all_tokens(session)
    for token in tokens:
        expires = token.expires_at.isoformat() if token.expires_at else "-"
        used = token.last_used_at.isoformat() if token.last_used_at else "never used"
        click.echo(
            f"{token.name}\t{token.role}\t{api_tokens.state(token, now)}\texpires {expires}\t{used}"
        )


@tokens_group.command("revoke")
@click.argument("name")
@friendly
def tokens_revoke(name: str) -> None:
    """Stop a token working at once."""
    with change_of(api_tokens.by_name, name) as (session, rt, token):
        if api_tokens.revoke(session, token, now=rt.clock()):
            record(session, rt, actions.token_revoked(token))
            click.echo(f"revoked {token.name}")
        else:
            click.echo(f"{token.name} was revoked already")


@click.group("webhooks")
def webhooks_group() -> None:
    """Outgoing webhooks (signed JSON POSTs on member, bounce, RSVP and campaign events)."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("--events", required=True, help="Comma-separated: " + ", ".join(webhooks.EVENTS))
@friendly
def webhooks_add(url: str, events: str) -> None:
    """Register a URL; prints its signing secret once."""
    with change() as (session, rt):
        endpoint, secret = webhooks.add(
            session,
            url,
            events.split(","),
            now=rt.clock(),
            allow_private=rt.settings.webhook_allow_private,
            created_by=cli_actor(),
        )
        record(session, rt, actions.webhook_added(endpoint))
    show_secret(secret, f"webhook {endpoint.id} for {endpoint.events}: keep the secret now")


@webhooks_group.command("list")
@friendly
def webhooks_list() -> None:
    """Every webhook: id, URL, events, and deliveries waiting."""
    with runtime().new_session() as session:
        for endpoint in webhooks.endpoints(session):
            click.echo(f"{endpoint.id}\t{endpoint.url}\t{endpoint.events}")


@webhooks_group.command("remove")
@click.argument("webhook_id", type=click.IntRange(min=1, max=2**31 - 1))
@friendly
def webhooks_remove(webhook_id: int) -> None:
    """Stop sending to a webhook (what waits for it is dropped)."""
    with change() as (session, rt):
        endpoint = webhooks.remove(session, webhook_id, now=rt.clock())
        record(session, rt, actions.webhook_removed(endpoint))
    click.echo(f"removed webhook {webhook_id}")


@webhooks_group.command("deliver")
@friendly
def webhooks_deliver() -> None:
    """Deliver the webhooks due now, then exit (the worker does this every 30 seconds)."""

    rt = runtime()
    report = webhook_sender.deliver_due(
        rt.new_session, rt.clock, allow_private=rt.settings.webhook_allow_private
    )
    click.echo(report.describe())
