"""Every public page in each language: no English fixed text, a true ``<html lang>``, dates in
that locale, and the language chosen by the rules (member's record, ?lang=, cookie,
Accept-Language, the list's default)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape

import pytest
from babel import Locale
from babel.dates import format_date
from flask.testing import FlaskClient

from subscribers.content import campaigns
from subscribers.content.templating import available_languages
from subscribers.core.db import transaction
from subscribers.core.models import MailingList, Member
from subscribers.invitations.event_mails import rsvp_url
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.i18n.languages import (
    TRANSLATED,
    english_left,
    html_lang,
    member_of,
    need_catalogue,
    visible_text,
)
from tests.i18n.test_mail_languages import START, invited_event


@dataclass
class Scene:
    """A member of one language, a list with an archived announcement, an event invited."""

    rt: Runtime
    client: FlaskClient
    lst: MailingList
    member: Member
    event_id: int

    def token_path(self, kind: str) -> str:
        kit = self.rt.kit
        url = {"confirm": kit.confirm_url, "manage": kit.manage_url}.get(kind)
        if kind == "unsubscribe":
            url = kit.unsubscribe_url
        if kind == "rsvp":
            return rsvp_url(kit, self.member, self.event_id, "yes").removeprefix(kit.base_url)
        assert url is not None
        return url(self.member).removeprefix(kit.base_url)


def _scene(rt: Runtime, client: FlaskClient, language: str) -> Scene:
    lst, member = member_of(rt, language)
    with transaction(rt.new_session()) as s:
        text = campaigns.Announcement("aurora", "Aurora 2027", "Lisboa · Kraków")
        campaigns.create_announcement(s, rt.kit, text, now=rt.clock())
    return Scene(rt, client, lst, member, invited_event(rt))


def _get(scene: Scene, path: str, accept: str) -> str:
    response = scene.client.get(path, headers={"Accept-Language": accept})
    assert response.status_code in (200, 400), (path, response.status_code)
    return response.text


def _post(scene: Scene, path: str, accept: str, data: dict[str, str] | None = None) -> str:
    page = _get(scene, path, accept)
    # The unsubscribe button needs no form token (RFC 8058 one-click posts to the same URL).
    token = {"csrf_token": csrf_token(page)} if "csrf_token" in page else {}
    response = scene.client.post(
        path, data={**token, **(data or {})}, headers={"Accept-Language": accept}
    )
    assert response.status_code == 200, (path, response.status_code)
    return response.text


def _registered(scene: Scene, language: str) -> str:
    return _post(
        scene,
        "/register",
        language,
        {
            "email": "new@example.org",
            "name": "Ioana",
            "country": "RO",
            "sector": "police",
            "language": language,
            "lists": "aurora",
            "consent": "y",
        },
    )


# Each page: how to reach it for a member (or a visitor) of ``language``. Token pages are asked
# for with an English browser: the member's own choice must win.
PAGES: dict[str, Callable[[Scene, str], str]] = {
    "register": lambda sc, lang: _get(sc, "/register/aurora", lang),
    "check_inbox": _registered,
    "privacy": lambda sc, lang: _get(sc, "/privacy", lang),
    "archive": lambda sc, lang: _get(sc, "/archive/aurora", lang),
    "bad_link": lambda sc, lang: _get(sc, "/manage/not-a-token", lang),
    "confirm": lambda sc, lang: _get(sc, sc.token_path("confirm"), "en"),
    "confirmed": lambda sc, lang: _post(sc, sc.token_path("confirm"), "en"),
    "manage": lambda sc, lang: _get(sc, sc.token_path("manage"), "en"),
    "unsubscribe": lambda sc, lang: _get(sc, sc.token_path("unsubscribe"), "en"),
    "unsubscribed": lambda sc, lang: _post(sc, sc.token_path("unsubscribe"), "en"),
    "rsvp": lambda sc, lang: _get(sc, sc.token_path("rsvp"), "en"),
    "rsvp_done": lambda sc, lang: _post(sc, sc.token_path("rsvp"), "en"),
}


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("language", TRANSLATED)
def test_each_public_page_is_in_the_readers_language(
    rt: Runtime, client: FlaskClient, language: str, page: str
) -> None:
    need_catalogue(language)
    scene = _scene(rt, client, language)
    markup = PAGES[page](scene, language)
    assert html_lang(markup) == language
    seen = visible_text(markup)
    assert english_left(seen, language) == []
    if page == "archive":
        assert format_date(rt.clock(), "medium", locale=language) in seen
    if page in ("rsvp", "rsvp_done"):
        assert format_date(START, "MMMM", locale=language) in seen and "March" not in seen


def _lang_of(client: FlaskClient, path: str, **headers: str) -> str | None:
    return html_lang(client.get(path, headers=headers).text)


def test_the_language_follows_query_then_cookie_then_browser_then_list(
    rt: Runtime, client: FlaskClient, session
) -> None:
    others = [code for code in available_languages() if code != "en"]
    if len(others) < 2:
        pytest.skip("needs two catalogues besides English (none of pt, pl, es, ro, sk, bs yet)")
    first, second = others[:2]
    make_list(session, rt.clock(), slug="aurora", name="Aurora", language=second)
    # Nothing said: the list's default; an Accept-Language we speak wins over it.
    assert _lang_of(client, "/register/aurora") == second
    assert (
        _lang_of(client, "/register/aurora", **{"Accept-Language": f"{first}-XX,en;q=0.5"}) == first
    )
    # ?lang= wins over the browser and is remembered in a cookie for the next pages.
    assert _lang_of(client, "/privacy?lang=en", **{"Accept-Language": first}) == "en"
    assert _lang_of(client, "/privacy", **{"Accept-Language": first}) == "en"
    # A language we have no catalogue for is never claimed.
    client.delete_cookie("lang")
    assert _lang_of(client, "/privacy?lang=de", **{"Accept-Language": "de"}) == "en"


def test_every_public_page_offers_every_language(rt: Runtime, client: FlaskClient) -> None:
    scene = _scene(rt, client, "en")
    for page in ("register", "privacy", "archive", "manage", "rsvp"):
        markup = PAGES[page](scene, "en")
        for code in available_languages():
            assert f'hreflang="{code}"' in markup, (page, code)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_registration_form_names_countries_in_the_readers_language(
    rt: Runtime, client: FlaskClient, language: str
) -> None:
    need_catalogue(language)
    _scene(rt, client, language)
    page = client.get("/register", headers={"Accept-Language": language}).text
    offered = dict(re.findall(r'<option (?:selected )?value="([A-Z]{2})">([^<]+)</option>', page))
    territories = Locale.parse(language).territories
    for code in ("PT", "PL", "ES", "RO", "SK", "BA", "MD"):
        assert unescape(offered[code]) == territories[code], (language, code)
    assert offered["OT"] != "Other"
