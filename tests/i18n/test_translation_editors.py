"""The staff editors of announcements and events take translations (title and body per
language), show which languages are written, and preview the mail in each language."""

from __future__ import annotations

import html

from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.outbox import Campaign, CampaignVersion
from subscribers.invitations import events
from subscribers.runtime import Runtime
from tests.conftest import confirm, csrf_token
from tests.factories import make_list, make_member
from tests.i18n.languages import need_catalogue
from tests.invitations.helpers import create
from tests.web.test_admin import login, make_staff

ANNOUNCE = {
    "list_slug": "aurora",
    "subject": "Aurora EN",
    "body": "Original body",
    "text_language": "en",
    "translations-pt-subject": "Aurora PT",
    "translations-pt-body": "Corpo traduzido",
}


def _announce(client: FlaskClient, **data: str) -> object:
    page = client.get("/admin/announce?list=aurora")
    return client.post("/admin/announce", data={"csrf_token": csrf_token(page.text), **data})


def test_an_announcement_written_in_two_languages_previews_and_sends_each(
    client: FlaskClient, rt: Runtime, session
) -> None:
    need_catalogue("pt")
    lst = make_list(session, rt.clock(), slug="aurora", name="Aurora")
    for code in ("en", "pt", "pl"):
        make_member(session, rt.clock(), lists_=(lst,), email=f"{code}@example.org", language=code)
    assert login(client, make_staff(rt, "editor")) == 302
    shown = _announce(client, **ANNOUNCE, action="preview", preview_language="pt")
    page = html.unescape(shown.text)  # type: ignore[attr-defined]
    assert 'id="preview-subject" lang="pt">Aurora PT<' in page and "Corpo traduzido" in page
    # The languages written: the original's first, then each translation filled in.
    assert '<span lang="en">English</span> (original), <span lang="pt">Português</span></p>' in page
    untranslated = html.unescape(
        _announce(client, **ANNOUNCE, action="preview", preview_language="pl").text  # type: ignore[attr-defined]
    )
    assert 'id="preview-subject" lang="pl">Aurora EN<' in untranslated
    asked = _announce(client, **ANNOUNCE, action="send")
    assert confirm(client, asked).status_code == 302
    with rt.new_session() as s:
        versions = dict(s.execute(select(CampaignVersion.language, CampaignVersion.subject)).all())
    assert "Aurora PT" in versions["pt"] and "Aurora EN" in versions["pl"]


def test_a_translation_in_the_originals_language_is_refused_and_nothing_is_sent(
    client: FlaskClient, rt: Runtime, session
) -> None:
    lst = make_list(session, rt.clock(), slug="aurora", name="Aurora")
    make_member(session, rt.clock(), lists_=(lst,), language="pt")
    assert login(client, make_staff(rt, "editor")) == 302
    refused = _announce(
        client, **{**ANNOUNCE, "text_language": "pt"}, action="send", preview_language="pt"
    )
    assert refused.status_code == 200  # type: ignore[attr-defined]
    assert "Português is the language of the subject and text" in html.unescape(refused.text)  # type: ignore[attr-defined]
    empty_title = _announce(client, **{**ANNOUNCE, "translations-pt-subject": ""}, action="preview")
    assert "Português: " in html.unescape(empty_title.text)  # type: ignore[attr-defined]
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Campaign)).scalar_one() == 0


def test_an_editor_translates_an_event_and_previews_the_invitation_in_each_language(
    client: FlaskClient, rt: Runtime, session
) -> None:
    need_catalogue("pl")
    make_list(session, rt.clock())
    event_id = create(rt)
    assert login(client, make_staff(rt, "editor")) == 302
    page = client.get(f"/admin/events/{event_id}")
    assert page.status_code == 200 and 'id="event-languages"' in page.text
    saved = client.post(
        f"/admin/events/{event_id}/translation",
        data={
            "csrf_token": csrf_token(page.text),
            "language": "pl",
            "title": "Warsztaty",
            "body": "Opis po polsku",
        },
    )
    assert saved.status_code == 302
    with rt.new_session() as s:
        assert events.written_languages(s, events.get(s, event_id)) == ["en", "pl"]
    shown = html.unescape(client.get(saved.headers["Location"]).text)
    assert '<span lang="pl">Polski</span>' in shown
    assert 'id="event-preview-subject" lang="pl"' in shown and "Opis po polsku" in shown
    english = html.unescape(client.get(f"/admin/events/{event_id}?preview=en").text)
    assert "Opis po polsku" not in english
    refused = client.post(
        f"/admin/events/{event_id}/translation",
        data={"csrf_token": csrf_token(page.text), "language": "en", "title": "T", "body": ""},
    )
    assert refused.status_code == 400
    assert "This is the event" in html.unescape(refused.text)


def test_a_viewer_cannot_translate_an_event(client: FlaskClient, rt: Runtime, session) -> None:
    make_list(session, rt.clock())
    event_id = create(rt)
    assert login(client, make_staff(rt, "viewer")) == 302
    page = client.get(f"/admin/events/{event_id}")
    assert 'id="translation-form"' not in page.text
    denied = client.post(
        f"/admin/events/{event_id}/translation",
        data={"csrf_token": csrf_token(page.text), "language": "pl", "title": "T"},
    )
    assert denied.status_code == 403
    with rt.new_session() as s:
        assert events.written_languages(s, events.get(s, event_id)) == ["en"]
