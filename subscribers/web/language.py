"""Which language a page is in, and the language switcher's links.

Public pages follow, in this order: the member a token identifies (their own choice), ``?lang=``
(the switcher; remembered in a cookie), the cookie, the browser's ``Accept-Language``, the
default of the list the page is about, then English. Staff pages are in the staff member's own
workspace language. Only languages whose catalogue exists are ever chosen, so ``<html lang>``
always tells the truth.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import flask_babel
from flask import Flask, Response, g, request
from flask_babel import get_locale, refresh

from subscribers.content.templating import available_languages, supported_language
from subscribers.core import i18n
from subscribers.core.models import MailingList, Member
from subscribers.core.validation import LANGUAGES
from subscribers.web.auth import current_staff

COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def install_translator() -> None:
    """Services translate through ``subscribers.core.i18n``: in the web app, into the page's
    language, by Flask-Babel (whose functions have the signatures the interface names)."""
    i18n.install(
        i18n.Translator(
            gettext=flask_babel.gettext,
            ngettext=flask_babel.ngettext,
            pgettext=flask_babel.pgettext,
            format_number=flask_babel.format_number,
            language=lambda: str(get_locale() or "en"),
        )
    )


def _staff_page() -> bool:
    return (request.blueprint or "").startswith("admin")


def select() -> str:
    """Flask-Babel's locale selector: the page's language by the rules above."""
    if _staff_page():
        user = current_staff()
        return supported_language(user.language if user else None) or _visitor_choice() or "en"
    member_language = supported_language(g.get("member_language"))
    return member_language or _visitor_choice() or g.get("list_language") or "en"


def _visitor_choice() -> str | None:
    chosen = supported_language(request.args.get("lang")) or supported_language(
        request.cookies.get(COOKIE)
    )
    if chosen:
        return chosen
    # In the browser's order of preference, by primary tag: "pt-BR" is Portuguese to us.
    for value, _quality in request.accept_languages:
        if code := supported_language(value):
            return code
    return None


def follow_member(member: Member) -> None:
    """The page is for this member (a token named them): speak their language."""
    g.member_language = member.language
    refresh()


def follow_list(mailing_list: MailingList | None) -> None:
    """The page is about this list: its default language if the visitor gives no other."""
    if mailing_list is not None:
        g.list_language = supported_language(mailing_list.language)
        refresh()


def remember_choice(response: Response) -> Response:
    """Keep a language picked with the switcher (``?lang=``) for the visitor's next pages."""
    chosen = supported_language(request.args.get("lang"))
    if chosen and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_MAX_AGE, samesite="Lax", httponly=True)
    return response


def switcher() -> list[dict[str, Any]]:
    """One link per available language to this page in it (its other parameters kept)."""
    current = page_language()
    args = {key: value for key, value in request.args.items() if key != "lang"}
    links = []
    for code in available_languages():
        query = urlencode({**args, "lang": code})
        url = f"{request.path}?{query}"
        links.append(
            {"code": code, "name": LANGUAGES[code], "url": url, "current": code == current}
        )
    return links


def page_language() -> str:
    """The language this page is in (what ``<html lang>`` says)."""
    return str(get_locale() or "en")


def install(app: Flask) -> None:
    app.after_request(remember_choice)
    app.jinja_env.globals["page_language"] = page_language
    app.jinja_env.globals["language_switcher"] = switcher
    app.jinja_env.globals["language_names"] = LANGUAGES
