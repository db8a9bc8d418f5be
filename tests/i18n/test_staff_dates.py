"""Staff pages give dates and times in the staff member's own workspace language (Babel, CLDR).

strftime prints English month and day names whatever the language; a Polish editor must read
"30 lis 2026", not "Mon 30 Nov 2026". The pages checked show each kind of date the workspace has:
the next digest (home), when news was written (news), when a campaign was created (campaigns),
when a member registered (member page) and since when a staff account exists (staff).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel import Locale
from babel.dates import format_skeleton
from flask import Flask
from flask.testing import FlaskClient

from subscribers.admin import staff
from subscribers.content import campaigns, news
from subscribers.content.campaigns import Announcement
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.i18n.languages import TRANSLATED, need_catalogue, visible_text

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
ENGLISH_DAY = re.compile(
    r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
)


def _admin_in(app: Flask, rt: Runtime, language: str) -> FlaskClient:
    with transaction(rt.new_session()) as s:
        user = staff.create(s, "admin@example.org", PASSWORD, "admin", now=rt.clock())
        staff.set_language(s, user, language)
    client = app.test_client()
    page = client.get("/admin/login")
    signed = client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page.text), "email": user.email, "password": PASSWORD},
    )
    assert signed.status_code == 302
    return client


def _workspace(rt: Runtime) -> int:
    """A list with a digest schedule, a news item, an announcement and a member; the member id."""
    with transaction(rt.new_session()) as s:
        lst = make_list(s, rt.clock(), digest_cron="0 9 * * mon")
        member = make_member(s, rt.clock(), lists_=(lst,))
        news.add(s, lst.slug, title="Report", body="Forty came.", link=None, now=rt.clock())
        campaigns.create_announcement(
            s, rt.kit, Announcement(lst.slug, "Workshop", "Close to 40."), now=rt.clock()
        )
        return int(member.id)  # type: ignore[arg-type]


@pytest.mark.parametrize("language", TRANSLATED)
def test_staff_pages_give_dates_in_the_workspace_language(
    app: Flask, rt: Runtime, language: str
) -> None:
    need_catalogue(language)
    member_id = _workspace(rt)
    client = _admin_in(app, rt, language)
    today = format_skeleton("yMMMd", rt.clock(), locale=language)
    for path in ("/admin/news", "/admin/campaigns", f"/admin/members/{member_id}", "/admin/staff"):
        page = client.get(path)
        assert page.status_code == 200, path
        seen = visible_text(page.text)
        assert today in seen, (path, today)
        assert ENGLISH_DAY.findall(seen) == [], path
    home = visible_text(client.get("/admin/").text)
    assert ENGLISH_DAY.findall(home) == []
    # The next digest: Monday 30 November, with the weekday, in the workspace language.
    next_digest = rt.clock().replace(day=30)
    assert format_skeleton("yMMMEd", next_digest, locale=language) in home


def test_english_workspace_dates_are_babel_english_too(app: Flask, rt: Runtime) -> None:
    _workspace(rt)
    home = visible_text(_admin_in(app, rt, "en").get("/admin/").text)
    assert "Mon, Nov 30, 2026" in home


def test_no_strftime_names_days_or_months_in_web_pages() -> None:
    """A strftime with %a, %A, %b, %B or %p on a page would be English in every language."""
    named = re.compile(r"strftime\([^)]*%[aAbBp]")
    sources = [*ROOT.glob("templates/web/**/*.html"), *ROOT.glob("subscribers/web/*.py")]
    found = [str(p.relative_to(ROOT)) for p in sources if named.search(p.read_text("utf-8"))]
    assert found == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_staff_filters_name_countries_and_sectors_in_the_workspace_language(
    app: Flask, rt: Runtime, language: str
) -> None:
    need_catalogue(language)
    _workspace(rt)
    client = _admin_in(app, rt, language)
    poland = Locale.parse(language).territories["PL"]
    for path in ("/admin/members", "/admin/announce"):
        seen = visible_text(client.get(path).text)
        assert poland in seen, (path, language)
        assert "Poland" not in seen and "Probation services" not in seen, path
    assert "Any" not in visible_text(client.get("/admin/members").text).split()
