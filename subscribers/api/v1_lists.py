"""/api/v1/lists: read for every token, create and edit for admin tokens."""

from __future__ import annotations

from sqlalchemy import select

from subscribers.admin import actions
from subscribers.api import schemas as s
from subscribers.api.core import Answer, Call, operation, paged, require_match
from subscribers.content import lists
from subscribers.core.models import MailingList
from subscribers.web.context import db, runtime


def list_out(lst: MailingList) -> s.ListOut:
    return s.ListOut.model_validate(lst, from_attributes=True)


def record(call: Call, entry: actions.Entry) -> None:
    """The audit entry of an API change, the token's name as actor (web: the staff address)."""
    actions.write(db(), entry, actor=call.actor, now=runtime().clock())


@operation(
    "GET", "/lists", summary="Every list", role="viewer", tag="lists",
    query=s.PageQuery, response=s.ListPage, paged=True,
)  # fmt: skip
def lists_index(call: Call) -> Answer:
    return paged(select(MailingList), MailingList.id, call.query, list_out)


@operation(
    "POST", "/lists", summary="Create a list", role="admin", tag="lists",
    body=s.ListCreate, response=s.ListOut, status=201, errors=(409, 422), etag=True,
)  # fmt: skip
def lists_create(call: Call) -> s.ListOut:
    values = call.body.model_dump(exclude_none=True)
    lst = lists.create(db(), lists.ListSpec(**values), now=runtime().clock())
    record(call, actions.list_created(lst))
    return list_out(lst)


@operation(
    "GET", "/lists/<slug>", summary="One list", role="viewer", tag="lists",
    response=s.ListOut, errors=(404,), etag=True,
)  # fmt: skip
def lists_show(call: Call, slug: str) -> s.ListOut:
    return list_out(lists.by_slug(db(), slug))


@operation(
    "PATCH", "/lists/<slug>", summary="Change a list's settings", role="admin", tag="lists",
    body=s.ListSettings, response=s.ListOut, errors=(404, 412, 422, 428), etag=True,
)  # fmt: skip
def lists_edit(call: Call, slug: str) -> s.ListOut:
    require_match(list_out(lists.by_slug(db(), slug)))
    change = lists.ListChange(**call.body.model_dump(exclude_none=True))
    lst, changed = lists.update(db(), slug, change)
    if changed:
        record(call, actions.list_edited(lst.slug, changed))
    return list_out(lst)
