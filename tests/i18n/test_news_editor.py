"""The news editor shows the languages an item is written in, takes a translation, and shows
the digest as a reader of each language gets it."""

from __future__ import annotations

import html

from flask.testing import FlaskClient

from subscribers.content import news
from subscribers.content.multilingual import translations
from subscribers.content.templating import available_languages
from subscribers.core.db import transaction
from subscribers.core.models import NEWS
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.web.test_admin import login, make_staff


def test_an_editor_translates_an_item_and_previews_each_language(
    client: FlaskClient, rt: Runtime, session
) -> None:
    make_list(session, rt.clock(), slug="aurora", name="Aurora")
    with transaction(rt.new_session()) as s:
        item = news.add(s, "aurora", title="Aurora", body="Lisboa", link=None, now=rt.clock())
    assert login(client, make_staff(rt, "editor")) == 302
    page = client.get(f"/admin/news/{item.id}")
    assert page.status_code == 200 and "English" in page.text
    other = next((code for code in available_languages() if code != "en"), "pt")
    saved = client.post(
        f"/admin/news/{item.id}/translation",
        data={
            "csrf_token": csrf_token(page.text),
            "language": other,
            "title": "Aurora-X",
            "body": "Kraków",
        },
    )
    assert saved.status_code == 302
    with rt.new_session() as s:
        assert translations(s, NEWS, item.id or 0)[other].title == "Aurora-X"
    shown = client.get(saved.headers["Location"])
    preview = html.unescape(shown.text)
    assert "Aurora-X" in preview and "Kraków" in preview  # the digest as that reader gets it
    refused = client.post(
        f"/admin/news/{item.id}/translation",
        data={"csrf_token": csrf_token(page.text), "language": "tlh", "title": "T", "body": "B"},
    )
    assert refused.status_code == 400
    with rt.new_session() as s:
        assert set(translations(s, NEWS, item.id or 0)) == {other}
