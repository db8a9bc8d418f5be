"""News items in the workspace: write with a preview, queue, edit or withdraw while queued."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.content import digests
from subscribers.core.db import transaction
from subscribers.core.models import NewsItem
from subscribers.runtime import Runtime
from tests.conftest import audit_actions, post_form
from tests.factories import make_list, make_member

BODY = "Close to **40 practitioners** took part.\n\n<script>alert(1)</script>\n\n- Lisbon\n- Warsaw"


def items(rt: Runtime) -> list[NewsItem]:
    with rt.new_session() as s:
        return list(s.execute(select(NewsItem).order_by(NewsItem.id)).scalars())


def write(client: FlaskClient, **extra: str):  # type: ignore[no-untyped-def]
    data = {"list_slug": "practitioners", "title": "Workshop report", "body": BODY, **extra}
    return post_form(client, "/admin/news/new", data)


def test_preview_is_rendered_and_sanitised_and_stores_nothing(
    editor: FlaskClient, rt: Runtime, session
) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    page = write(editor, action="preview")
    assert page.status_code == 200
    preview = page.text[page.text.index('id="preview"') :]
    assert "<strong>40 practitioners</strong>" in preview and "<li>Lisbon</li>" in preview
    assert "<script>" not in preview
    assert 'value="Workshop report"' in page.text  # the form keeps what was written
    assert items(rt) == []


def test_queue_edit_and_withdraw(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    done = write(editor, action="save", link="https://network.test/report")
    assert done.status_code == 302
    (item,) = items(rt)
    assert (item.status, item.link, item.created_by) == (
        "queued",
        "https://network.test/report",
        "editor@example.org",
    )
    page = editor.get(done.location)
    assert (
        "Queued for the next digest" in page.text
        and "<strong>40 practitioners</strong>" in page.text
    )

    url = f"/admin/news/{item.id}/edit"
    assert 'value="Workshop report"' in editor.get(url).text
    edited = post_form(
        editor, url, {"title": "Workshop report (2)", "body": "New text", "link": ""}
    )
    assert edited.status_code == 302
    (item,) = items(rt)
    assert (item.title, item.body, item.link) == ("Workshop report (2)", "New text", None)

    withdrawn = post_form(editor, f"/admin/news/{item.id}/withdraw", {}, page=url)
    assert withdrawn.status_code == 302
    assert items(rt)[0].status == "withdrawn"
    assert "Withdrawn" in editor.get(withdrawn.location).text
    # Withdrawn is final: no editing, no second withdrawal.
    assert editor.get(url).status_code == 302
    again = post_form(editor, f"/admin/news/{item.id}/withdraw", {}, page="/admin/news")
    assert "already withdrawn" in editor.get(again.location).text
    target = f"news:{item.id}"
    assert [a for a in audit_actions(rt) if a[2] == target] == [
        ("editor@example.org", "news.add", target),
        ("editor@example.org", "news.edit", target),
        ("editor@example.org", "news.withdraw", target),
    ]


def test_bad_input_shows_the_form_again(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    for extra, message in (
        ({"title": ""}, "title: must not be empty"),
        ({"body": "  "}, "body: must not be empty"),
        ({"link": "javascript:alert(1)"}, "link: expected an http(s) URL"),
        # A space ends the link in a mail; an unreadable host was a 500.
        ({"link": "https://network.test/a report"}, "link: expected an http(s) URL"),
        ({"link": "https://[network.test/report"}, "link: expected an http(s) URL"),
        ({"list_slug": "nope"}, "Please choose a list."),
    ):
        page = write(editor, action="save", **extra)
        assert page.status_code == 200 and message in page.text, extra
    assert items(rt) == [] and audit_actions(rt) == []


def test_an_item_sent_in_a_digest_shows_it_and_cannot_change(
    editor: FlaskClient, rt: Runtime, session
) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    write(editor, action="save")
    (item,) = items(rt)
    with transaction(rt.new_session()) as s:
        outcome = digests.create_digest(s, rt.kit, "practitioners", now=rt.clock())
    assert outcome.campaign_id is not None
    (item,) = items(rt)
    assert item.digest_campaign_id == outcome.campaign_id
    page = editor.get(f"/admin/news/{item.id}")
    assert f'href="/admin/campaigns/{outcome.campaign_id}"' in page.text
    assert 'id="news-edit"' not in page.text
    listing = editor.get("/admin/news?list=practitioners")
    assert re.search(rf"digest #{outcome.campaign_id}", listing.text)
    refused = post_form(
        editor,
        f"/admin/news/{item.id}/edit",
        {"title": "Late change", "body": "x"},
        page="/admin/news",
    )
    assert refused.status_code == 302
    assert items(rt)[0].title == "Workshop report"


def test_viewers_read_but_do_not_write(sign_in, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    write(sign_in("editor"), action="save")
    (item,) = items(rt)
    viewer = sign_in("viewer")
    assert "Workshop report" in viewer.get("/admin/news").text
    page = viewer.get(f"/admin/news/{item.id}")
    assert page.status_code == 200 and 'id="news-withdraw"' not in page.text
    assert viewer.get("/admin/news/new").status_code == 403
    assert (
        post_form(viewer, f"/admin/news/{item.id}/withdraw", {}, page="/admin/news").status_code
        == 403
    )
    assert items(rt)[0].status == "queued"
