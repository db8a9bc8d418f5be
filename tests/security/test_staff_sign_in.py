"""Staff sign-in: nobody locks an account out from elsewhere, the answer never tells which
addresses are staff, and a session ends for every copy of its cookie (issue 17, points 4, 6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from subscribers.admin import staff
from subscribers.core.db import transaction
from subscribers.core.errors import Throttled
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.web.test_admin import PASSWORD, make_staff

ATTACKER, OFFICE = "203.0.113.66", "198.51.100.10"


def login_from(client: FlaskClient, ip: str, email: str, password: str = PASSWORD) -> int:
    page = client.get("/admin/login", environ_base={"REMOTE_ADDR": ip})
    return client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page.text), "email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    ).status_code


# -- point 4: throttled per address and account ---------------------------------------------


def test_guessing_from_one_address_does_not_lock_out_the_real_user(app: Flask, rt: Runtime) -> None:
    email = make_staff(rt, "admin")
    attacker = app.test_client()
    for _ in range(staff.MAX_FAILED_LOGINS):
        assert login_from(attacker, ATTACKER, email, "guess") == 401
    # The attacker is slowed down, even when they guess right...
    assert login_from(attacker, ATTACKER, email) == 429
    assert login_from(attacker, ATTACKER, email, "another guess") == 429
    # ...while the real user, from their own address, signs in.
    assert login_from(app.test_client(), OFFICE, email) == 302
    # The workspace shows the account as locked (from somewhere) until an admin unlocks it.
    with transaction(rt.new_session()) as s:
        user = staff.get(s, email)
        assert staff.locked_out(s, user, now=rt.clock())
        staff.unlock(s, user)
        assert not staff.locked_out(s, user, now=rt.clock())
    assert login_from(attacker, ATTACKER, email) == 302


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash checked, by hash (the dummy one for unknown addresses)."""
    checked: list[str] = []
    real: Callable[..., bool] = staff.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        checked.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(staff, "check_password_hash", counting)
    return checked


def authenticate(rt: Runtime, email: str, password: str, ip: str = ATTACKER) -> Any:
    with transaction(rt.new_session()) as s:
        try:
            return staff.authenticate(s, email, password, ip=ip, now=rt.clock())
        except Throttled:
            return "throttled"


def test_known_unknown_and_throttled_addresses_do_the_same_work(
    rt: Runtime, hashes: list[str]
) -> None:
    email = make_staff(rt, "editor")
    outcomes = [authenticate(rt, "nobody@example.org", "guess")]
    outcomes += [authenticate(rt, email, "guess") for _ in range(staff.MAX_FAILED_LOGINS)]
    outcomes += [authenticate(rt, email, PASSWORD)]  # throttled, though right
    for _ in range(staff.MAX_FAILED_LOGINS):
        outcomes.append(authenticate(rt, "nobody@example.org", "guess"))
    assert outcomes[:-1] == [None] * (1 + staff.MAX_FAILED_LOGINS) + ["throttled"] + [None] * (
        staff.MAX_FAILED_LOGINS - 1
    )
    # An unknown address is throttled the same way, so that cannot tell staff apart either.
    assert outcomes[-1] == "throttled"
    # One scrypt hash checked per attempt, whichever path it took.
    assert len(hashes) == len(outcomes)
    assert all(h.startswith("scrypt:") for h in hashes)


def test_a_wrong_current_password_is_throttled_and_always_hashed(
    rt: Runtime, hashes: list[str]
) -> None:
    from subscribers.core.errors import InvalidInput

    make_staff(rt, "viewer")
    answers = []
    for attempt in range(staff.MAX_WRONG_CURRENT + 1):
        with transaction(rt.new_session()) as s:
            user = staff.get(s, "viewer@example.org")
            current = PASSWORD if attempt == staff.MAX_WRONG_CURRENT else "guess"
            try:
                staff.change_password(s, user, current, "a brand new password", now=rt.clock())
                answers.append("changed")
            except InvalidInput:
                answers.append("wrong")
            except Throttled:
                answers.append("throttled")
    assert answers == ["wrong"] * staff.MAX_WRONG_CURRENT + ["throttled"]
    assert len(hashes) == len(answers)
    rt.clock.advance(minutes=16)  # type: ignore[attr-defined]
    with transaction(rt.new_session()) as s:
        user = staff.get(s, "viewer@example.org")
        staff.change_password(s, user, PASSWORD, "a brand new password", now=rt.clock())


# -- point 6: sessions end for every copy of the cookie -------------------------------------


def signed_in_pair(app: Flask, rt: Runtime, role: str) -> tuple[FlaskClient, FlaskClient]:
    """A signed-in browser, and a second one holding a copy of its session cookie."""
    email = make_staff(rt, role)
    browser = app.test_client()
    assert login_from(browser, OFFICE, email) == 302
    cookie = browser.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/admin/").status_code == 200
    return browser, thief


def signed_out(client: FlaskClient) -> bool:
    response = client.get("/admin/")
    return response.status_code == 302 and "/admin/login" in response.location


def button(client: FlaskClient, path: str, **data: str) -> int:
    page = client.get("/admin/")
    return client.post(path, data={"csrf_token": csrf_token(page.text), **data}).status_code


def test_signing_out_ends_every_copy_of_the_session(app: Flask, rt: Runtime) -> None:
    browser, thief = signed_in_pair(app, rt, "editor")
    assert button(browser, "/admin/logout") == 302
    assert signed_out(thief) and signed_out(browser)


def test_a_new_password_ends_the_other_sessions_but_not_this_one(app: Flask, rt: Runtime) -> None:
    browser, thief = signed_in_pair(app, rt, "editor")
    page = browser.get("/admin/password")
    response = browser.post(
        "/admin/password",
        data={
            "csrf_token": csrf_token(page.text),
            "current": PASSWORD,
            "new": "a brand new password",
            "repeat": "a brand new password",
        },
    )
    assert response.status_code == 302
    assert signed_out(thief)
    assert browser.get("/admin/").status_code == 200


def test_a_role_change_or_removal_ends_the_accounts_sessions(app: Flask, rt: Runtime) -> None:
    admin = app.test_client()
    assert login_from(admin, OFFICE, make_staff(rt, "admin")) == 302
    _browser, thief = signed_in_pair(app, rt, "editor")
    with rt.new_session() as s:
        editor_id = staff.get(s, "editor@example.org").id
    assert (
        button(admin, f"/admin/staff/{editor_id}/role", **{f"u{editor_id}-role": "viewer"}) == 302
    )
    assert signed_out(thief)
    _browser, thief = signed_in_pair(app, rt, "viewer")
    with rt.new_session() as s:
        viewer_id = staff.get(s, "viewer@example.org").id
    assert button(admin, f"/admin/staff/{viewer_id}/remove") == 302
    assert signed_out(thief)
    # Admins changing their own role stay signed in (with the new role).
    assert admin.get("/admin/staff").status_code == 200


def test_an_account_made_under_a_reused_id_does_not_match_an_old_cookie(
    app: Flask, rt: Runtime
) -> None:
    make_staff(rt, "admin")
    _browser, thief = signed_in_pair(app, rt, "editor")
    with transaction(rt.new_session()) as s:
        staff.remove(s, staff.get(s, "editor@example.org"), acting=None)
        staff.create(s, "newcomer@example.org", PASSWORD, "editor", now=rt.clock())
    assert signed_out(thief)
