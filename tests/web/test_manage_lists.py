"""The manage page offers only public lists and the member's own, and never skips double opt-in."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.core.errors import InvalidInput
from subscribers.core.models import MailingList, Member, Subscription
from subscribers.people import preferences
from subscribers.people.preferences import DetailsChange
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP
from tests.web.test_journey import link, register


def _lists(session, rt: Runtime) -> tuple[MailingList, MailingList]:
    public = make_list(session, rt.clock())
    closed = make_list(session, rt.clock(), slug="board", name="Board members", public=False)
    return public, closed


def _manage_path(rt: Runtime, member: Member) -> str:
    return rt.kit.manage_url(member).removeprefix(rt.settings.base_url)


def _offered(page: str) -> set[int]:
    return {int(v) for v in re.findall(r'name="lists" type="checkbox" value="(\d+)"', page)}


def _ticked(page: str) -> set[int]:
    return {
        int(v) for v in re.findall(r'<input checked [^>]*name="lists" [^>]*value="(\d+)"', page)
    }


def _save(client: FlaskClient, path: str, list_ids: list[int]):  # type: ignore[no-untyped-def]
    page = client.get(path)
    return client.post(
        path,
        data={
            "csrf_token": csrf_token(page.text),
            "name": "Ana Sousa",
            "language": "en",
            "lists": [str(i) for i in list_ids],
        },
    )


def _statuses(rt: Runtime, email: str) -> tuple[str, dict[int, str]]:
    with rt.new_session() as s:
        member = s.execute(select(Member).where(Member.email == email)).scalar_one()
        subs = s.execute(select(Subscription).where(Subscription.member_id == member.id))
        return member.status, {sub.list_id: sub.status for sub in subs.scalars()}


def test_a_closed_list_is_neither_offered_nor_accepted(
    client: FlaskClient, rt: Runtime, session
) -> None:
    public, closed = _lists(session, rt)
    ana = make_member(session, rt.clock(), lists_=(public,))
    assert _offered(client.get(path := _manage_path(rt, ana)).text) == {public.id}

    answer = _save(client, path, [public.id, closed.id])
    assert answer.status_code == 400
    assert "Please choose lists from the form." in answer.text
    assert _statuses(rt, "ana@example.org") == ("active", {public.id: "active"})


def test_the_service_refuses_a_closed_list_whatever_the_form_says(rt: Runtime, session) -> None:
    public, closed = _lists(session, rt)
    ana = make_member(session, rt.clock(), lists_=(public,))
    change = DetailsChange("Ana", "", "", "", "en", [public.id, closed.id])
    with pytest.raises(InvalidInput):
        preferences.update_preferences(session, ana, change, now=rt.clock())
    session.rollback()
    assert _statuses(rt, "ana@example.org") == ("active", {public.id: "active"})


def test_a_member_of_a_closed_list_keeps_it_and_may_leave_it(
    client: FlaskClient, rt: Runtime, session
) -> None:
    public, closed = _lists(session, rt)
    ana = make_member(session, rt.clock(), lists_=(closed,))
    assert _offered(client.get(path := _manage_path(rt, ana)).text) == {public.id, closed.id}
    assert _save(client, path, [closed.id, public.id]).status_code == 200
    assert _statuses(rt, "ana@example.org")[1] == {public.id: "active", closed.id: "active"}
    assert _save(client, path, [public.id]).status_code == 200
    assert _statuses(rt, "ana@example.org")[1] == {public.id: "active", closed.id: "unsubscribed"}
    # Once left, a closed list is not offered again.
    assert _offered(client.get(path).text) == {public.id}


def test_the_manage_link_of_an_unconfirmed_registration_activates_nobody(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    public = make_list(session, rt.clock())
    other = make_list(session, rt.clock(), slug="research", name="Research digest")
    register(client, "ana@example.org")
    rt.sender.drain()
    confirmation = smtp.messages[-1].message
    manage_path = link(confirmation, "manage")

    assert _save(client, manage_path, [public.id, other.id]).status_code == 200
    assert _statuses(rt, "ana@example.org") == (
        "pending",
        {public.id: "pending", other.id: "pending"},
    )
    # The page shows what waits for confirmation as chosen.
    page = client.get(manage_path).text
    assert _ticked(page) == {public.id, other.id}
    assert "your lists start once you follow the link in the confirmation mail" in page

    confirm_path = link(confirmation, "confirm")
    page = client.get(confirm_path)
    client.post(confirm_path, data={"csrf_token": csrf_token(page.text)})
    assert _statuses(rt, "ana@example.org") == (
        "active",
        {public.id: "active", other.id: "active"},
    )
