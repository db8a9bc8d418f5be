"""``newsletter digest send``: build and queue a list's digest of queued news."""

from __future__ import annotations

import click

from subscribers.admin import actions
from subscribers.cli.support import change, echo_then_send, friendly, record, send_now_option
from subscribers.content import digests


@click.group("digest")
def digest_group() -> None:
    """Digests of queued news."""


@digest_group.command("send")
@click.argument("slug")
@send_now_option
@friendly
def digest_send(slug: str, drain: bool) -> None:
    """Build and queue the digest of everything queued for a list."""
    with change() as (session, rt):
        outcome = digests.create_digest(session, rt.kit, slug, now=rt.clock())
        record(session, rt, actions.digest_sent(slug, outcome.describe()))
    echo_then_send(rt, outcome.describe(), drain and outcome.campaign_id is not None)
