"""News items queued for a list's next digest."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlmodel import Session

from subscribers import lists
from subscribers.errors import Conflict, InvalidInput, NotFound
from subscribers.models import NewsItem
from subscribers.validation import clean_text

MAX_BODY = 100_000


def _check_link(link: str | None) -> str | None:
    if not link:
        return None
    parts = urlsplit(link.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or len(link) > 500:
        raise InvalidInput("link: expected an http(s) URL", field="link")
    return link.strip()


def add(
    session: Session,
    list_slug: str,
    *,
    title: str,
    body: str,
    link: str | None,
    now: datetime,
    created_by: str | None = None,
) -> NewsItem:
    """Queue a news item (Markdown) for the next digest of a list."""
    mailing_list = lists.by_slug(session, list_slug)
    clean_title = clean_text(title, field="title", label="title", limit=300)
    if not clean_title:
        raise InvalidInput("title: must not be empty", field="title")
    if not (body or "").strip() or len(body) > MAX_BODY:
        raise InvalidInput("body: must not be empty (and at most 100,000 characters)", field="body")
    assert mailing_list.id is not None
    item = NewsItem(
        list_id=mailing_list.id,
        title=clean_title,
        body=body.strip(),
        link=_check_link(link),
        created_at=now,
        created_by=created_by,
    )
    session.add(item)
    session.flush()
    return item


def withdraw(session: Session, item_id: int) -> NewsItem:
    """Take a queued item out of the next digest."""
    item = session.get(NewsItem, item_id)
    if item is None:
        raise NotFound(f"no news item {item_id}")
    if item.status != "queued":
        raise Conflict(f"news item {item_id} was already {item.status}")
    item.status = "withdrawn"
    session.add(item)
    session.flush()
    return item


def queued(session: Session, list_id: int) -> list[NewsItem]:
    return list(
        session.execute(
            select(NewsItem)
            .where(NewsItem.list_id == list_id, NewsItem.status == "queued")
            .order_by(NewsItem.id)
            .with_for_update()
        ).scalars()
    )
