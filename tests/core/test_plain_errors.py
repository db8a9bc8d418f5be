"""Validation errors in human words with a suggestion (issue 12.6): an unknown time zone
suggests the closest names (forms, CLI and settings alike), a cron error names its field."""

from __future__ import annotations

import html

import pytest
from flask.testing import FlaskClient

from mailer.zones import UnknownZone, closest_zones, known_zone
from subscribers.core.settings import SettingsError, load
from subscribers.runtime import Runtime
from tests.cli.test_cli_content import env, run  # noqa: F401 - fixture
from tests.conftest import post_form
from tests.content.test_lists import GOOD, stored
from tests.factories import make_list


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Europe/Lisbn", "Europe/Lisbon"),
        ("europe/warsaw", "Europe/Warsaw"),
        ("Chisinau", "Europe/Chisinau"),
        ("Sarajevo", "Europe/Sarajevo"),
    ],
)
def test_an_unknown_zone_suggests_the_closest_names(typed: str, expected: str) -> None:
    with pytest.raises(UnknownZone) as caught:
        known_zone(typed)
    assert caught.value.suggestions[0] == expected
    assert expected in str(caught.value)


def test_nothing_is_suggested_for_a_name_like_no_zone() -> None:
    assert closest_zones("qqqqqqq") == ()


def test_settings_suggest_the_closest_zone() -> None:
    with pytest.raises(SettingsError, match="NEWSLETTER_TIMEZONE.*did you mean Europe/Lisbon"):
        load({"NEWSLETTER_TIMEZONE": "Europe/Lisbn"}, dotenv=None)


def test_the_list_form_suggests_the_closest_zone(admin: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    page = post_form(admin, "/admin/lists/practitioners/edit", {**GOOD, "timezone": "Europe/Warsw"})
    assert "unknown time zone 'Europe/Warsw'; did you mean Europe/Warsaw" in html.unescape(
        page.text
    )


def test_the_cli_suggests_the_closest_zone(env: dict[str, str], rt: Runtime) -> None:  # noqa: F811
    result = run(env, "lists", "edit", "practitioners", "--timezone", "Lisbon")
    assert result.exit_code == 1
    assert "did you mean Europe/Lisbon?" in result.output


@pytest.mark.parametrize(
    ("cron", "field"),
    [
        ("61 9 * * mon", "the minute field “61” takes 0 to 59"),
        ("0 25 * * mon", "the hour field “25” takes 0 to 23"),
        ("0 9 32 * *", "the day of the month field “32” takes 1 to 31"),
        ("0 9 * 13 *", "the month field “13” takes 1 to 12"),
        ("0 9 * * funday", "the weekday field “funday” takes mon to sun"),
        ("0 9 * *", "it has five fields (minute hour day month weekday), this one has 4"),
    ],
)
def test_a_cron_error_names_the_wrong_field(
    admin: FlaskClient,
    rt: Runtime,
    session,
    cron: str,
    field: str,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    before = stored(rt).digest_cron
    page = post_form(
        admin, "/admin/lists/practitioners/edit", {**GOOD, "digest_cron": cron, "digest_days": []}
    )
    assert f"not a valid cron expression: {field}" in html.unescape(page.text)
    assert stored(rt).digest_cron == before
