"""An editor writes, previews and sends an announcement; the monitor follows it to 100 %."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from subscribers.runtime import Runtime
from tests.browser.conftest import MailWorker, axe_violations, expect, make_staff, sign_in
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

if TYPE_CHECKING:
    from playwright.sync_api import Page

SUBJECT = "Second transnational workshop"
BODY = "The network meets online on **6 November**.\n\n- reports\n- a panel on prisons"
MEMBERS = ("ana@example.org", "ben@example.org", "chloe@example.org")
MONITOR_TIMEOUT_MS = 15_000  # the page polls every 2 s; a slow CI machine gets some slack


def test_write_preview_send_and_follow_an_announcement(
    strict_page: Page,
    csp_errors: list[str],
    rt: Runtime,
    smtp: ScriptedSMTP,
    mail_worker: MailWorker,
    session,  # type: ignore[no-untyped-def]
) -> None:
    # Under the site's Content-Security-Policy: the live count and the monitor run from files.
    page = strict_page
    lst = make_list(session, rt.clock())
    for email in MEMBERS:
        make_member(
            session, rt.clock(), email=email, name=email.split("@")[0].title(), lists_=(lst,)
        )
    make_member(session, rt.clock(), email="left@example.org", status="unsubscribed")
    sign_in(page, make_staff(rt, "editor"))
    a11y: dict[str, list[str]] = {}

    page.goto("/admin/announce")
    expect(page.get_by_role("heading", level=1, name="Write an announcement")).to_be_visible()
    page.get_by_label("List", exact=True).select_option("practitioners")
    expect(page.locator("#audience-count")).to_have_text("3")  # the live count (JavaScript)

    page.get_by_role("button", name="Send now").click()  # no subject, no text: refused
    expect(page.get_by_role("alert").first).to_be_visible()
    a11y["announce, with errors"] = axe_violations(page)
    assert rt.sender.drain().sent == 0 and not smtp.messages

    page.get_by_label("Subject", exact=True).fill(SUBJECT)
    page.get_by_label("Text (Markdown)", exact=True).fill(BODY)
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    expect(page.locator("#preview-subject")).to_have_text(SUBJECT)
    expect(page.locator("#preview-sample")).to_contain_text("one of 3 recipients")
    expect(page.locator("#preview-text")).to_contain_text("6 November")
    mail_html = page.frame_locator("#preview-html")
    expect(mail_html.locator("strong", has_text="6 November")).to_be_visible()
    expect(page.get_by_label("Subject", exact=True)).to_have_value(
        SUBJECT
    )  # the form keeps what was typed
    a11y["announce, preview"] = axe_violations(page)

    page.get_by_role("button", name="Send now").click()
    # Nothing goes out before the confirmation step says, in numbers, what will happen.
    expect(page.locator("#confirm-question")).to_contain_text("Send to 3 members of")
    assert rt.sender.drain().sent == 0
    a11y["announce, confirm"] = axe_violations(page)
    page.get_by_role("button", name="Send now").click()
    expect(page).to_have_url(re.compile(r"/admin/campaigns/\d+$"))
    expect(page.get_by_role("heading", level=1, name=SUBJECT)).to_be_visible()
    expect(page.get_by_role("status").first).to_have_text("Queued for 3 members.")
    progress = page.locator("#progress")
    expect(progress).to_have_attribute("data-percent", "0")  # nothing sent before the worker runs
    a11y["campaign monitor"] = axe_violations(page)

    mail_worker.start()
    expect(progress).to_have_attribute("data-percent", "100", timeout=MONITOR_TIMEOUT_MS)
    expect(progress).to_contain_text("100 %")
    expect(page.locator("#count-sent")).to_have_text("3")
    expect(page.locator("#campaign-state")).to_have_text("Done")
    a11y["campaign monitor, done"] = axe_violations(page)

    received = smtp.wait_for(3)
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(MEMBERS)
    for message in received:
        assert message.message["Subject"] == SUBJECT
        text = message.message.get_body(preferencelist=("plain",))
        assert text is not None and "6 November" in str(text.get_content())
    assert not any(a11y.values()), a11y
    assert csp_errors == []
