"""Admins manage staff accounts in the browser: create, change role, unlock, remove.

Nobody can lock the network out of its own workspace: the last admin stays admin and nobody
removes their own account. Every change is in the audit log.
"""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.core.models import StaffUser
from subscribers.runtime import Runtime
from tests.conftest import audit_actions, csrf_token
from tests.web.test_admin import PASSWORD, login, make_staff


def accounts(rt: Runtime) -> dict[str, str]:
    with rt.new_session() as s:
        return {u.email: u.role for u in s.execute(select(StaffUser)).scalars()}


def account_id(rt: Runtime, email: str) -> int:
    with rt.new_session() as s:
        user = s.execute(select(StaffUser).where(StaffUser.email == email)).scalar_one()
        assert user.id is not None
        return user.id


def post(client: FlaskClient, url: str, **data: str):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/admin/staff").text)
    return client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)


def admin_client(app: Flask, rt: Runtime) -> FlaskClient:
    client = app.test_client()
    assert login(client, make_staff(rt, "admin")) == 302
    return client


def test_an_admin_creates_an_editor_who_can_then_sign_in(app: Flask, rt: Runtime) -> None:
    client = admin_client(app, rt)
    page = client.get("/admin/staff")
    assert page.status_code == 200 and "admin@example.org" in page.text

    done = post(client, "/admin/staff", email="Maria@Example.org", role="editor", password=PASSWORD)
    assert "Account created for maria@example.org." in done.text
    assert accounts(rt)["maria@example.org"] == "editor"
    assert login(app.test_client(), "maria@example.org") == 302
    assert ("admin@example.org", "staff.create", "maria@example.org") in audit_actions(rt)


def test_bad_accounts_are_refused_with_a_message_and_nothing_is_stored(
    app: Flask, rt: Runtime
) -> None:
    client = admin_client(app, rt)
    for data, message in [
        ({"email": "not an address", "role": "editor", "password": PASSWORD}, "not valid"),
        ({"email": "x@example.org", "role": "boss", "password": PASSWORD}, "role must be one of"),
        ({"email": "x@example.org", "role": "viewer", "password": "short"}, "at least 10"),
        ({"email": "admin@example.org", "role": "viewer", "password": PASSWORD}, "exists already"),
    ]:
        token = csrf_token(client.get("/admin/staff").text)
        response = client.post("/admin/staff", data={"csrf_token": token, **data})
        assert response.status_code == 200 and message in response.text, data
        assert 'role="alert"' in response.text
    assert accounts(rt) == {"admin@example.org": "admin"}


def test_roles_change_but_the_last_admin_stays_admin(app: Flask, rt: Runtime) -> None:
    client = admin_client(app, rt)
    make_staff(rt, "viewer")
    viewer, admin = account_id(rt, "viewer@example.org"), account_id(rt, "admin@example.org")

    done = post(client, f"/admin/staff/{viewer}/role", **{f"u{viewer}-role": "admin"})
    assert "viewer@example.org is now admin." in done.text
    post(client, f"/admin/staff/{viewer}/role", **{f"u{viewer}-role": "editor"})
    refused = post(client, f"/admin/staff/{admin}/role", **{f"u{admin}-role": "viewer"})
    assert "admin@example.org is the last admin" in refused.text
    assert accounts(rt) == {"admin@example.org": "admin", "viewer@example.org": "editor"}
    assert [a[1] for a in audit_actions(rt)] == ["staff.role", "staff.role"]


def test_accounts_are_removed_but_never_your_own(app: Flask, rt: Runtime) -> None:
    client = admin_client(app, rt)
    make_staff(rt, "editor")
    editor, admin = account_id(rt, "editor@example.org"), account_id(rt, "admin@example.org")
    signed_in_editor = app.test_client()
    assert login(signed_in_editor, "editor@example.org") == 302

    assert (
        "You cannot remove your own account." in post(client, f"/admin/staff/{admin}/remove").text
    )
    assert "was removed" in post(client, f"/admin/staff/{editor}/remove").text
    assert accounts(rt) == {"admin@example.org": "admin"}
    # The removed account's open session is worth nothing at once.
    assert signed_in_editor.get("/admin/").status_code == 302
    assert ("admin@example.org", "staff.remove", "editor@example.org") in audit_actions(rt)


def test_a_locked_account_is_unlocked_at_once(app: Flask, rt: Runtime) -> None:
    client = admin_client(app, rt)
    make_staff(rt, "editor")
    for _ in range(5):
        login(app.test_client(), "editor@example.org", "wrong password")
    assert login(app.test_client(), "editor@example.org") == 429
    assert "Locked after failed attempts" in client.get("/admin/staff").text

    done = post(client, f"/admin/staff/{account_id(rt, 'editor@example.org')}/unlock")
    assert "editor@example.org can sign in again." in done.text
    assert login(app.test_client(), "editor@example.org") == 302


def test_only_admins_see_the_staff_page(app: Flask, rt: Runtime) -> None:
    client = app.test_client()
    assert login(client, make_staff(rt, "editor")) == 302
    assert client.get("/admin/staff").status_code == 403
    assert 'href="/admin/staff"' not in client.get("/admin/").text


def test_everyone_changes_their_own_password_knowing_the_current_one(
    app: Flask, rt: Runtime
) -> None:
    client = app.test_client()
    assert login(client, make_staff(rt, "viewer")) == 302
    new = "a new and longer passphrase"

    def change(current: str, new_password: str, repeat: str):  # type: ignore[no-untyped-def]
        token = csrf_token(client.get("/admin/password").text)
        data = {"csrf_token": token, "current": current, "new": new_password, "repeat": repeat}
        return client.post("/admin/password", data=data, follow_redirects=True)

    assert "The current password is not right." in change("guess", new, new).text
    assert "The two new passwords differ." in change(PASSWORD, new, new + "!").text
    assert "at least 10 characters" in change(PASSWORD, "short", "short").text
    assert login(app.test_client(), "viewer@example.org") == 302  # unchanged so far

    assert "Your password was changed." in change(PASSWORD, new, new).text
    assert login(app.test_client(), "viewer@example.org") == 401
    assert login(app.test_client(), "viewer@example.org", new) == 302
    assert ("viewer@example.org", "staff.password", "viewer@example.org") in audit_actions(rt)
