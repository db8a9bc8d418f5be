"""Plain words in the workspace (issue 12.6): no raw codes in staff tables, every time with its
zone's name, digest schedules picked as weekdays and a time and read back as a sentence."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from sqlalchemy import select

from subscribers.content import digests
from subscribers.core.models import Member
from subscribers.runtime import Runtime
from subscribers.web import dates, names
from tests.conftest import csrf_token, post_form
from tests.content.test_lists import GOOD, stored
from tests.factories import make_list, make_member
from tests.insight.test_monitor import queue_announcement
from tests.invitations.helpers import create, network


def text_of(page_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page_html))


def test_members_table_names_countries_sectors_and_languages(
    admin: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,), country="PL", sector="probation", language="pl")
    page = text_of(admin.get("/admin/members").text)
    for name in ("Poland", "Probation services", "Polski"):
        assert name in page
    for code in (" PL ", " probation ", " pl "):
        assert code not in page


def test_member_page_and_campaigns_name_kinds_and_states(
    admin: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    lst = make_list(session, rt.clock())
    member = make_member(session, rt.clock(), lists_=(lst,), sector="ngo", country="BA")
    queue_announcement(rt)
    page = text_of(admin.get(f"/admin/members/{member.id}").text)
    assert "NGO and civil society" in page and "Bosnia" in page
    assert "Announcement" in page and "Queued" in page
    assert not re.search(r"\b(announcement|queued|ngo|BA)\b", page)
    home = text_of(admin.get("/admin/").text)
    assert "Announcement" in home and "Active" in home
    assert not re.search(r"\b(announcement|active)\b", home)


def test_every_code_has_a_name(app: Flask) -> None:
    """Each kind, state, role and sector the data holds reads as words, also in Polish."""
    with app.test_request_context(), force_locale("pl"):
        assert names.kind_name("rsvp_confirmation") == "Odpowiedź na zaproszenie"
        assert names.sector_name("probation") != "probation"
        assert names.country_name("PL") == "Polska"
        assert names.language_name("pt") == "Português"
        assert names.role_name("viewer") != "viewer"
        for table in (names.KINDS, names.STATES, names.ROLES, names.SECTORS):
            for code, name in table.items():
                assert str(name) and str(name) != code


def test_event_page_says_how_many_changes_were_sent_to_calendars(
    admin: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    network(session, rt, "piotr")
    event_id = create(rt)
    page = text_of(admin.get(f"/admin/events/{event_id}").text)
    assert re.search(r"Changes sent to calendars:\s+0\b", page)
    assert "SEQUENCE" not in page


def test_times_carry_the_zone_name_in_the_workspace_language(app: Flask) -> None:
    moment = datetime(2026, 7, 6, 8, 0, tzinfo=UTC)
    with app.test_request_context():
        assert dates.when(moment) == "Jul 6, 2026, 9:00\u202fAM, Lisbon time"
        assert dates.when(moment, "Europe/Warsaw").endswith("10:00\u202fAM, Warsaw time")
        with force_locale("pt"):
            assert dates.when(moment).endswith("09:00, hora de Lisboa")


def test_the_staff_pages_show_times_with_the_zone_name(
    admin: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock(), digest_cron="0 9 * * mon", timezone="Europe/Warsaw")
    page = text_of(admin.get("/admin/").text)
    assert "every Monday at 9:00\u202fAM, Warsaw time" in page  # the schedule
    assert re.search(r"Mon, \w+ \d+, \d{4}, 9:00\u202fAM, Warsaw time", page)  # the next one


def test_the_picker_sets_the_schedule_and_reads_it_back(
    admin: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    picked = {**GOOD, "digest_cron": "", "digest_days": ["mon", "thu"], "digest_time": "07:30"}
    assert post_form(admin, "/admin/lists/practitioners/edit", picked).status_code == 302
    lst = stored(rt)
    assert lst.digest_cron == "30 7 * * mon,thu"
    fire = digests.digest_trigger(lst).get_next_fire_time(None, rt.clock())
    assert fire.weekday() in (0, 3) and (fire.hour, fire.minute) == (7, 30)
    assert fire.tzinfo is not None and str(fire.tzinfo) == "Europe/Warsaw"
    listing = text_of(admin.get("/admin/lists").text)
    assert "every Monday and Thursday at 7:30\u202fAM, Warsaw time" in listing

    form = admin.get("/admin/lists/practitioners/edit").text
    assert re.search(r'<input[^>]*checked[^>]*value="mon"|value="mon"[^>]*checked', form)
    assert re.search(r'value="thu"[^>]*checked|checked[^>]*value="thu"', form)
    assert 'value="07:30"' in form
    assert '<details id="advanced-schedule">' in form  # closed: the picker says it all
    assert "Sent now: every Monday and Thursday at 7:30\u202fAM, Warsaw time." in text_of(form)


def test_a_schedule_the_picker_cannot_say_stays_a_cron_line(
    admin: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    first_of_month = {**GOOD, "digest_cron": "0 9 1 * *", "digest_days": ["mon"]}
    assert post_form(admin, "/admin/lists/practitioners/edit", first_of_month).status_code == 302
    assert stored(rt).digest_cron == "0 9 1 * *"  # the advanced field wins
    form = admin.get("/admin/lists/practitioners/edit").text
    assert '<details id="advanced-schedule" open>' in form and 'value="0 9 1 * *"' in form
    assert "on the cron schedule “0 9 1 * *”, Warsaw time" in text_of(
        admin.get("/admin/lists").text
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"digest_days": [], "digest_time": "09:00"}, None),
        ({"digest_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}, "0 9 * * *"),
    ],
)
def test_no_day_is_no_digest_and_every_day_is_every_day(
    admin: FlaskClient,
    rt: Runtime,
    session,
    data: dict,
    expected: str | None,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock(), digest_cron="0 8 * * fri")
    form = {**GOOD, "digest_cron": "", "digest_time": "09:00", **data}
    assert post_form(admin, "/admin/lists/practitioners/edit", form).status_code == 302
    assert stored(rt).digest_cron == expected


def test_a_bad_time_is_refused_on_its_field(admin: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock(), digest_cron="0 8 * * fri")
    form = {**GOOD, "digest_cron": "", "digest_days": ["mon"], "digest_time": "25:99"}
    page = post_form(admin, "/admin/lists/practitioners/edit", form)
    assert "Please give the time of day as hours and minutes" in text_of(page.text)
    assert stored(rt).digest_cron == "0 8 * * fri"


def test_audit_log_and_consent_history_read_as_words(
    admin: FlaskClient,
    client: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    assert post_form(admin, "/admin/lists/practitioners/edit", GOOD).status_code == 302
    log = admin.get("/admin/audit").text
    assert "List changed" in text_of(log) and "<td>list.edit</td>" not in log
    assert '<option value="list.edit">List changed</option>' in log  # the filter too
    assert "times in UTC" not in log  # each time says its zone
    page = client.get("/register")
    form = {
        "csrf_token": csrf_token(page.text),
        "email": "new@example.org",
        "lists": "practitioners",
        "consent": "y",
    }
    assert client.post("/register", data=form).status_code == 200
    with rt.new_session() as s:
        member_id = s.execute(select(Member.id).where(Member.email == "new@example.org")).scalar()
    history = admin.get(f"/admin/members/{member_id}").text
    assert "<td>Consent given</td>" in history and "<td>Public form</td>" in history
    assert "<td>given</td>" not in history and "<td>web</td>" not in history
