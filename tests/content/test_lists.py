"""Lists in the workspace: admins create and edit them; bad input changes nothing."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.core.models import MailingList
from subscribers.runtime import Runtime
from tests.conftest import audit_actions, post_form
from tests.factories import make_list

GOOD = {
    "name": "Frontline Practitioners Network",
    "description": "Reports and invitations.",
    "from_address": "Frontline Network <news@network.test>",
    "reply_to": "team@network.test",
    "accent_color": "#aa3300",
    "logo_url": "https://network.test/logo.png",
    "footer": "A cross-sector exchange in seven countries",
    "digest_cron": "0 9 * * mon",
    "timezone": "Europe/Warsaw",
    "public": "y",
}


def stored(rt: Runtime, slug: str = "practitioners") -> MailingList:
    with rt.new_session() as s:
        return s.execute(select(MailingList).where(MailingList.slug == slug)).scalar_one()


def test_admin_creates_a_list(admin: FlaskClient, rt: Runtime) -> None:
    form = admin.get("/admin/lists/new")
    assert form.status_code == 200 and 'value="Europe/Lisbon"' in form.text
    done = post_form(admin, "/admin/lists/new", {**GOOD, "slug": "researchers"})
    assert done.status_code == 302
    lst = stored(rt, "researchers")
    assert (lst.accent_color, lst.timezone, lst.public) == ("#aa3300", "Europe/Warsaw", True)
    assert ("admin@example.org", "list.create", "researchers") in audit_actions(rt)
    listing = admin.get("/admin/lists")
    assert "Frontline Practitioners Network" in listing.text
    assert "every Monday at 9:00\u202fAM, Warsaw time" in listing.text


def test_a_duplicate_slug_is_refused(admin: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    again = post_form(admin, "/admin/lists/new", {**GOOD, "slug": "practitioners"})
    assert again.status_code == 200 and "exists already" in again.text


def test_admin_edits_a_list(admin: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    page = admin.get("/admin/lists/practitioners/edit")
    assert page.status_code == 200 and 'value="Frontline Practitioners Network"' in page.text
    data = {**GOOD, "name": "Frontline <Network>"}
    del data["public"]  # an unticked box: invitation only
    done = post_form(admin, "/admin/lists/practitioners/edit", data)
    assert done.status_code == 302
    lst = stored(rt)
    assert lst.name == "Frontline <Network>"
    assert lst.from_address == "Frontline Network <news@network.test>"
    assert (lst.reply_to, lst.logo_url) == ("team@network.test", "https://network.test/logo.png")
    assert (lst.digest_cron, lst.timezone, lst.public) == ("0 9 * * mon", "Europe/Warsaw", False)
    actor, action, target = audit_actions(rt)[-1]
    assert (actor, action, target) == ("admin@example.org", "list.edit", "practitioners")
    listing = admin.get("/admin/lists")
    assert "Frontline &lt;Network&gt;" in listing.text  # escaped
    assert "Invitation only" in listing.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "must not be empty"),
        ("digest_cron", "every monday", "not a valid cron expression"),
        ("digest_cron", "61 9 * * mon", "not a valid cron expression"),
        ("timezone", "Mars/Olympus", "unknown time zone"),
        ("timezone", "../../etc/passwd", "unknown time zone"),
        ("accent_color", "red", "#rrggbb"),
        ("accent_color", "#12345", "#rrggbb"),
        ("logo_url", "javascript:alert(1)", "http(s) URL"),
        ("logo_url", "ftp://network.test/logo.png", "http(s) URL"),
        ("logo_url", "https://[network.test/logo.png", "http(s) URL"),  # was a 500
        ("logo_url", "https://network.test:port/logo.png", "http(s) URL"),
        ("from_address", "News <news@network.test>\nBcc: x@y.test", "not a valid address"),
        ("from_address", "News <not-an-address>", "not a valid address"),
        ("reply_to", "team@", "not a valid address"),
        ("footer", "line\nbreak", "single line"),
    ],
)
def test_list_edit_refuses_bad_values(  # type: ignore[no-untyped-def]
    admin: FlaskClient, rt: Runtime, session, field: str, value: str, message: str
) -> None:
    make_list(session, rt.clock())
    before = stored(rt).model_dump()
    page = post_form(admin, "/admin/lists/practitioners/edit", {**GOOD, field: value})
    assert page.status_code == 200
    assert message in page.text
    assert 'role="alert"' in page.text
    assert stored(rt).model_dump() == before  # nothing changed
    assert audit_actions(rt) == []


def test_every_bad_value_is_shown_at_once(admin: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    bad = {**GOOD, "digest_cron": "soon", "timezone": "Nowhere", "accent_color": "blue"}
    page = post_form(admin, "/admin/lists/practitioners/edit", bad)
    for message in ("not a valid cron expression", "unknown time zone", "#rrggbb"):
        assert message in page.text


def test_editors_and_viewers_cannot_change_lists(sign_in, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    for role in ("viewer", "editor"):
        client = sign_in(role)
        assert client.get("/admin/lists").status_code == 200
        assert client.get("/admin/lists/practitioners/edit").status_code == 403
        assert post_form(client, "/admin/lists/new", GOOD, page="/admin/lists").status_code == 403
