"""A visitor whose browser asks for Romanian registers, reads Romanian pages, gets Romanian mail,
and the confirmation link opens a Romanian page even in another browser."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from subscribers.runtime import Runtime
from tests.browser.conftest import axe_violations, expect, mail_link
from tests.factories import make_list
from tests.i18n.languages import english_left, html_lang, need_catalogue, visible_text
from tests.smtp_server import ScriptedSMTP

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture
def romanian(browser: Browser, live_server: str):  # type: ignore[no-untyped-def]
    """A browser profile set to Romanian (its Accept-Language is ro-RO)."""
    # bypass_csp as the other pages' fixture: axe-core is injected as a script of the test's own.
    ctx = browser.new_context(base_url=live_server, locale="ro-RO", bypass_csp=True)
    yield ctx.new_page()
    ctx.close()


def test_a_romanian_browser_registers_in_romanian_and_gets_romanian_mail(
    romanian, context, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:  # type: ignore[no-untyped-def]
    need_catalogue("ro")
    make_list(session, rt.clock())
    page = romanian
    page.goto("/register")
    assert html_lang(page.content()) == "ro"
    assert english_left(visible_text(page.content()), "ro") == []
    switcher = page.locator("nav.languages")
    expect(switcher.get_by_role("link", name="Română")).to_have_attribute("aria-current", "true")
    expect(switcher.get_by_role("link", name="English")).to_be_visible()
    # The form guesses the language the visitor reads for their mail.
    expect(page.locator("#language")).to_have_value("ro")
    page.locator("#email").fill("ioana@example.md")
    page.locator("#name").fill("Ioana Rusu")
    page.locator("#country").select_option("MD")
    page.locator("#sector").select_option("probation")
    page.locator("#consent").check()
    # content() read mid-navigation is empty: wait for the page the submit loads.
    with page.expect_navigation():
        page.locator("form button[type=submit]").click()
    assert html_lang(page.content()) == "ro"
    assert english_left(visible_text(page.content()), "ro") == []
    assert axe_violations(page) == []

    rt.sender.drain()
    (received,) = smtp.messages
    mail = received.message
    assert mail["Content-Language"] == "ro"
    text = str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    html = str(mail.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]
    assert html_lang(html) == "ro"
    assert english_left(f"{mail['Subject']}\n{text}\n{visible_text(html)}", "ro") == []

    # The link opens in Romanian even in an English browser: the member chose Romanian.
    english = context.new_page()
    english.goto(mail_link(mail, rt.settings.base_url, "confirm"))
    assert html_lang(english.content()) == "ro"
    with english.expect_navigation():
        english.locator("form button[type=submit]").click()
    assert html_lang(english.content()) == "ro"
    assert english_left(visible_text(english.content()), "ro") == []
    rt.sender.drain()
    welcome = smtp.messages[-1].message
    assert welcome["Content-Language"] == "ro"
    welcome_text = str(welcome.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert english_left(f"{welcome['Subject']}\n{welcome_text}", "ro") == []
