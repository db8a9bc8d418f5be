"""``newsletter news``: news items for the digests (add, list, edit, withdraw); audited."""

from __future__ import annotations

from pathlib import Path

import click

from subscribers.admin import actions
from subscribers.cli.support import (
    TRANSLATION_HELP,
    body_text,
    friendly,
    record,
    runtime,
    translation_files,
)
from subscribers.content import news
from subscribers.content.multilingual import Text
from subscribers.core.db import transaction


@click.group("news")
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
