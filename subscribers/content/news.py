"""News items queued for a list's next digest: write, edit or withdraw while still queued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from mailer.content import markdown_to_html
from subscribers.content import lists, multilingual
from subscribers.content.multilingual import Text, Written
from subscribers.core.errors import Conflict, InvalidInput, NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import NEWS, NewsItem
from subscribers.core.validation import clean_text, http_url

MAX_BODY = 100_000
QUEUED, SENT, WITHDRAWN = "queued", "sent", "withdrawn"


def _check_link(link: str | None) -> str | None:
    return http_url(link, field="link", message=_("link: expected an http(s) URL"))


def _checked(title: str, body: str, link: str | None) -> tuple[str, str, str | None]:
    clean_title = clean_text(title, field="title", label=_("title"), limit=300)
    if not clean_title:
        raise InvalidInput(_("title: must not be empty"), field="title")
    if not (body or "").strip() or len(body) > MAX_BODY:
        raise InvalidInput(
            _("body: must not be empty (and at most 100,000 characters)"), field="body"
        )
    return clean_title, body.strip(), _check_link(link)


def add(
    session: Session,
    list_slug: str,
    *,
    title: str,
    body: str,
    link: str | None,
    now: datetime,
    created_by: str | None = None,
    language: str | None = None,
) -> NewsItem:
    """Queue a news item (Markdown) for the next digest of a list.

    ``language`` is the one title and body are written in (the list's when None).
    """
    mailing_list = lists.by_slug(session, list_slug)
    clean_title, clean_body, clean_link = _checked(title, body, link)
    assert mailing_list.id is not None
    item = NewsItem(
        list_id=mailing_list.id,
        title=clean_title,
        body=clean_body,
        link=clean_link,
        created_at=now,
        created_by=created_by,
        language=multilingual.language_code(language or mailing_list.language),
    )
    session.add(item)
    session.flush()
    return item


def get(session: Session, item_id: int, *, for_update: bool = False) -> NewsItem:
    """One item, or NotFound; ``for_update`` locks its row until the transaction ends."""
    item = session.get(
        NewsItem, item_id, with_for_update=for_update or None, populate_existing=for_update
    )
    if item is None:
        raise NotFound(_("no news item %(id)s", id=item_id))
    return item


def _queued_item(session: Session, item_id: int) -> NewsItem:
    # Locked: a digest being built at this moment locks the queued items it takes (``queued``),
    # so an edit or withdrawal either waits and then sees "sent", or happens before the digest.
    item = get(session, item_id, for_update=True)
    if item.status != QUEUED:
        raise Conflict(_("news item %(id)s was already %(status)s", id=item_id, status=item.status))
    return item


def update(
    session: Session,
    item_id: int,
    *,
    title: str | None = None,
    body: str | None = None,
    link: str | None = None,
) -> NewsItem:
    """Change a news item that is still queued; Conflict once a digest carried it.

    None leaves a field as it is; an empty link removes it.
    """
    item = _queued_item(session, item_id)
    item.title, item.body, item.link = _checked(
        item.title if title is None else title,
        item.body if body is None else body,
        item.link if link is None else link,
    )
    session.add(item)
    session.flush()
    return item


def translate(session: Session, item_id: int, text: Text) -> NewsItem:
    """Write (or rewrite) a queued item's title and body in one more language.

    Writing in the item's own language changes the original instead.
    """
    item = _queued_item(session, item_id)
    checked = multilingual.checked(text, body_limit=MAX_BODY)
    if checked.language == item.language:
        return update(session, item_id, title=checked.title, body=checked.body)
    assert item.id is not None
    multilingual.save(session, NEWS, item.id, checked)
    return item


def remove_translation(session: Session, item_id: int, language: str) -> NewsItem:
    """Drop a queued item's translation into ``language``."""
    item = _queued_item(session, item_id)
    assert item.id is not None
    multilingual.remove(session, NEWS, item.id, multilingual.language_code(language))
    return item


def written(session: Session, items: list[NewsItem]) -> dict[int, Written]:
    """Each item's original and translations, by item id (one query for all of them)."""
    found = multilingual.translations_of(session, NEWS, [item.id or 0 for item in items])
    return {
        item.id or 0: Written(Text(item.language, item.title, item.body), found[item.id or 0])
        for item in items
    }


def withdraw(session: Session, item_id: int) -> NewsItem:
    """Take a queued item out of the next digest."""
    item = _queued_item(session, item_id)
    item.status = WITHDRAWN
    session.add(item)
    session.flush()
    return item


def queued(session: Session, list_id: int) -> list[NewsItem]:
    """The list's queued items, locked: the digest being built takes exactly these."""
    return list(
        session.execute(
            select(NewsItem)
            .where(col(NewsItem.list_id) == list_id, col(NewsItem.status) == QUEUED)
            .order_by(col(NewsItem.id))
            .with_for_update()
        ).scalars()
    )


def for_list(session: Session, list_slug: str | None = None, *, limit: int = 200) -> list[NewsItem]:
    """The latest items (of one list, or of all), newest first, whatever their status."""
    stmt = select(NewsItem).order_by(col(NewsItem.id).desc()).limit(limit)
    if list_slug:
        stmt = stmt.where(col(NewsItem.list_id) == lists.by_slug(session, list_slug).id)
    return list(session.execute(stmt).scalars())


def preview_html(body: str) -> str:
    """The item's body as members will read it in a digest: rendered, sanitised, its headings
    below the item's title (an <h2> there and on the preview page)."""
    return markdown_to_html(body or "", top_heading=3)
