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


PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# The middle of each item of the menu's first level: one row when all are level.
MENU_ROWS = """() => new Set([...document.querySelectorAll('ul.menu > li')].map(li => {
    const box = li.getBoundingClientRect();
    return Math.round(box.top + box.height / 2);
})).size"""


def test_the_admin_menu_fits_one_row_at_desktop_width(page: Page, rt: Runtime) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in(page, make_staff(rt, "admin"))  # an admin sees every item
    expect(page.locator("label.menu-button")).to_be_hidden()
    assert page.evaluate(MENU_ROWS) == 1
    page.get_by_text("Administration", exact=True).click()  # a group opens below its name
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", level=1, name="Webhooks")).to_be_visible()


def test_on_a_phone_the_menu_button_opens_the_menu(page: Page, rt: Runtime) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, make_staff(rt, "editor"))
    members = page.get_by_role("link", name="Members", exact=True)
    signout = page.get_by_role("button", name=re.compile("^Sign out"))
    expect(signout).to_be_hidden()  # folded away behind the button
    page.get_by_text("Menu", exact=True).click()
    expect(signout).to_be_visible()
    page.get_by_text("People", exact=True).click()
    members.click()
    expect(page.get_by_role("heading", level=1, name="Members")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
