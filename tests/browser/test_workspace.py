"""Staff sign in and out in a real browser."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from subscribers.runtime import Runtime
from tests.browser.conftest import expect, make_staff, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_sign_in_see_the_workspace_and_sign_out(page: Page, rt: Runtime) -> None:
    email = make_staff(rt, "viewer")

    page.goto("/admin/")  # not signed in: sent to the login page, and back after it
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    sign_in(page, email)
    expect(page).to_have_title("Workspace")
    expect(page.get_by_role("heading", name="Lists", exact=True)).to_be_visible()
    signout = page.get_by_role("button", name=f"Sign out ({email})")
    expect(signout).to_be_visible()

    signout.click()
    expect(page.get_by_role("heading", level=1, name="Staff sign-in")).to_be_visible()
    page.goto("/admin/")
    expect(page.get_by_role("heading", level=1, name="Staff sign-in")).to_be_visible()


def test_wrong_password_is_refused(page: Page, rt: Runtime) -> None:
    email = make_staff(rt, "viewer")
    page.goto("/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
