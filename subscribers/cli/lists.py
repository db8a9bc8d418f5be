"""``newsletter lists``: create, edit and show mailing lists; changes are audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from subscribers.admin import actions
from subscribers.cli.support import friendly, record, runtime
from subscribers.content import lists
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput
from subscribers.insight import dashboard


@click.group("lists")
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
