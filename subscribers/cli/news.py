"""``newsletter news``: news items for the digests (add, list, edit, withdraw); audited."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict, Unpack

import click
from sqlalchemy.orm import Session

from subscribers.admin import actions
from subscribers.cli.support import (
    TRANSLATION_HELP,
    body_text,
    change,
    friendly,
    record,
    runtime,
    translation_files,
)
from subscribers.content import news
from subscribers.content.multilingual import Text
from subscribers.core.db import transaction
from subscribers.runtime import Runtime


class _Written(TypedDict):
    """The options of news add and edit besides the list or item and the title."""

    body_file: Path | None
    body: str | None
    link: str | None
    lang: str | None
    translation: tuple[str, ...]


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
def news_add(list_slug: str, title: str, **given: Unpack[_Written]) -> None:
    """Queue a news item (Markdown) for the list's next digest; prints its id."""
    rt = runtime()
    texts = translation_files(given["translation"])
    with transaction(rt.new_session()) as session:
        item = news.add(
            session,
            list_slug,
            title=title,
            body=body_text(given["body_file"], given["body"]),
            link=given["link"],
            now=rt.clock(),
            language=given["lang"],
        )
        assert item.id is not None
        record(session, rt, actions.news_added(item))
        _translate(session, rt, item.id, texts)
    click.echo(item.id)


def _translate(session: Session, rt: Runtime, item_id: int, texts: list[Text]) -> None:
    """Write each translation of a news item, each audited as news.translate (as from the
    workspace)."""
    for text in texts:
        news.translate(session, item_id, text)
        record(session, rt, actions.news_translated(item_id, text.language))


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
def news_edit(item_id: int, title: str | None, **given: Unpack[_Written]) -> None:
    """Change a news item still queued, or write a translation; options not given stay."""
    rt = runtime()
    body_file, body, link, lang = given["body_file"], given["body"], given["link"], given["lang"]
    text = body_text(body_file, body) if body_file or body is not None else None
    texts = translation_files(given["translation"])
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
        _translate(session, rt, item_id, texts)
    click.echo(f"news item {item_id} saved")


@news_group.command("withdraw")
@click.argument("item_id", type=int)
@friendly
def news_withdraw(item_id: int) -> None:
    """Take a queued news item out of the next digest."""
    with change() as (session, rt):
        item = news.withdraw(session, item_id)
        record(session, rt, actions.news_withdrawn(item))
    click.echo(f"news item {item_id} withdrawn")
