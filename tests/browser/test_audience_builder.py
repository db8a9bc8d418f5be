"""The audience builder in a browser (issue 12.2): the invitation form has the announce form's
checkboxes (country names shown, codes sent) and its live count, under the site's CSP."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from subscribers.runtime import Runtime
from tests.browser.conftest import expect, make_staff, sign_in
from tests.invitations.helpers import create, network, recipients_of

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_invite_poland_by_ticking_its_name_with_a_live_count(
    strict_page: Page,
    csp_errors: list[str],
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    page = strict_page
    network(session, rt)  # Ana (PT), Piotr (PL), Ion (MD)
    event_id = create(rt, start=rt.clock() + timedelta(days=10))
    sign_in(page, make_staff(rt, "editor"))

    page.goto(f"/admin/events/{event_id}")
    form = page.locator("#invite-form")
    count = form.locator("[data-audience-count]")
    expect(count).to_have_text("3")  # everyone not invited yet, fetched on load
    form.get_by_role("group", name="Country").get_by_label("Poland").check()
    expect(count).to_have_text("1")  # the live count follows the ticks
    form.get_by_role("group", name="Country").get_by_label("Moldova").check()
    expect(count).to_have_text("2")
    form.get_by_role("group", name="Country").get_by_label("Moldova").uncheck()
    expect(count).to_have_text("1")

    form.get_by_role("button", name="Send invitations").click()
    expect(page.locator("#confirm-question")).to_contain_text("Invite 1 member of")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_role("status").first).to_contain_text("Invitation queued for 1 member.")
    assert recipients_of(rt, "invitation") == ["piotr@example.org"]
    # Back on the event page, the count leaves out who is invited already.
    expect(page.locator("#invite-form [data-audience-count]")).to_have_text("2")
    assert csp_errors == []
