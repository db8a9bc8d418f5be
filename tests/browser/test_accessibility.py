"""axe-core over every page a person can reach: no "serious" or "critical" violation, and no
page wider than the screen, on a phone (375 px) or a desktop (1280 px).

Public pages are reached as a member reaches them (the register form, the links in the mail);
staff pages are every parameter-less GET route under /admin/ in the URL map, then every staff
page linked from those (the pages of the lists, news, campaigns... created beforehand).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Flask
from werkzeug.exceptions import HTTPException

from subscribers.content import digests, news
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.invitations import events
from subscribers.runtime import Runtime
from tests.browser.conftest import axe_violations, expect, mail_link, make_staff, sign_in
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Pages of one kind (one endpoint) looked at: the first found of each is enough.
PER_ENDPOINT = 1
MAX_STAFF_PAGES = 80


PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# Elements a page may scroll sideways inside (wide tables sit in such a region); the page itself
# must not.
OVERFLOW = """() => {
    const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
    return wide ? [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                     && !e.closest('.scroll'))
        .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))
        : [];
}"""


def phone_problems(page: Page) -> list[str]:
    """On a 375 px phone screen and a 1280 px desktop one the page must not scroll sideways
    (scrollWidth <= innerWidth; wide tables scroll inside their own region)."""
    before = page.viewport_size
    problems = []
    try:
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)
            too_wide = page.evaluate(OVERFLOW)
            if too_wide:
                problems.append(f"wider than a {size['width']} px screen: {', '.join(too_wide)}")
    finally:
        if before:
            page.set_viewport_size(before)
    return problems


def report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(v) for page, v in found.items() if v)


def test_public_pages(page: Page, rt: Runtime, smtp: ScriptedSMTP, session) -> None:
    make_list(session, rt.clock())
    base = rt.settings.base_url
    found: dict[str, list[str]] = {}

    def check(name: str, heading: str) -> None:
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        found[name] = axe_violations(page) + phone_problems(page)

    def link_in_mail(subject: str, kind: str) -> str:
        rt.sender.drain()
        mail = next(m for m in reversed(smtp.messages) if subject in m.message["Subject"])
        return mail_link(mail.message, base, kind)

    page.goto("/privacy")
    check("privacy", "Privacy notice")
    page.goto("/register")
    check("register", "Join the network's mailing")

    page.get_by_role("button", name="Register").click()  # nothing filled in: errors shown
    expect(page.get_by_role("alert").first).to_be_visible()
    check("register with errors", "Join the network's mailing")
    page.get_by_label("Email address").fill("ana.sousa@example.org")
    page.get_by_label("Name", exact=True).fill("Ana Sousa")
    page.get_by_label(re.compile("^I agree to receive")).check()
    page.get_by_role("button", name="Register").click()
    check("check inbox", "Check your inbox")

    page.goto(link_in_mail("confirm your registration", "confirm"))
    check("confirm", "Confirm your registration")
    page.get_by_role("button", name="Confirm my registration").click()
    check("confirmed", "Welcome to the network")

    page.goto(link_in_mail("Welcome", "manage"))
    check("manage", "Your subscription")

    make_event(rt)
    page.goto(link_in_mail("Invitation", r"events/\d+/rsvp"))
    check("rsvp", "Prison radicalisation workshop")
    page.get_by_role("button", name=re.compile("attend", re.IGNORECASE)).click()
    expect(page.get_by_role("status")).to_contain_text("You are registered")
    check("rsvp done", "Prison radicalisation workshop")

    announce(rt)
    page.goto(link_in_mail("Second workshop", "unsubscribe"))
    check("unsubscribe", "Unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    check("unsubscribed", "You are unsubscribed")

    page.goto("/archive/practitioners")
    check("archive", "Frontline Practitioners Network")
    page.get_by_role("link", name="Second workshop").click()
    check("archived announcement", "Second workshop")

    page.goto("/manage/not-a-token")
    check("bad link", "This link does not work")
    page.goto("/no-such-page")
    found["not found"] = axe_violations(page)

    assert not any(found.values()), report(found)


def announce(rt: Runtime) -> None:
    """An announcement to the practitioners list, queued."""
    with transaction(rt.new_session()) as s:
        create_announcement(
            s,
            rt.kit,
            Announcement("practitioners", "Second workshop", "We meet on **6 November**."),
            now=rt.clock(),
        )


def add_news(rt: Runtime) -> None:
    """A news item waiting for the practitioners' next digest."""
    with transaction(rt.new_session()) as s:
        news.add(
            s,
            "practitioners",
            title="Workshop report",
            body="Close to 40 took part.",
            link="https://example.org/report",
            now=rt.clock(),
        )


def make_event(rt: Runtime) -> None:
    """An event on the practitioners list, its invitation queued for the list's members."""
    start = rt.clock() + timedelta(days=10)
    spec = events.EventSpec(
        list_slug="practitioners",
        title="Prison radicalisation workshop",
        start=start,
        end=start + timedelta(hours=3),
        timezone="Europe/Lisbon",
        description="Exchange of practice between prison and probation staff.",
        location="Lisbon",
        capacity=30,
    )
    with transaction(rt.new_session()) as s:
        event = events.create_event(s, rt.kit, spec, now=rt.clock())
        assert event.id is not None
        events.invite(s, rt.kit, event.id, now=rt.clock())


def staff_start_pages(app: Flask) -> list[str]:
    """Every GET route under /admin/ that takes no URL parameter, from the URL map."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin/")
        and "GET" in (rule.methods or ())
        and not rule.arguments
        and rule.endpoint != "admin.login"
    )


def endpoint_of(app: Flask, path: str) -> str | None:
    try:
        endpoint, _args = app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:
        return None
    return str(endpoint)


def required_role(app: Flask, path: str) -> str | None:
    endpoint = endpoint_of(app, path)
    return getattr(app.view_functions[endpoint], "required_role", None) if endpoint else None


def make_content(rt: Runtime, session) -> None:
    """Something on every staff page: lists, members, news, an announcement and an event sent,
    a second staff account."""
    lst = make_list(session, rt.clock(), digest_cron="0 9 * * mon")
    make_list(session, rt.clock(), slug="researchers", name="Researchers", public=False)
    make_member(session, rt.clock(), lists_=(lst,))
    make_member(session, rt.clock(), email="pending@example.org", status="pending")
    add_news(rt)
    announce(rt)
    make_event(rt)
    rt.sender.drain()
    make_staff(rt, "viewer")


def test_staff_pages(page: Page, app: Flask, rt: Runtime, session) -> None:
    make_content(rt, session)
    found: dict[str, list[str]] = {}

    page.goto("/admin/login")
    found["/admin/login"] = axe_violations(page)
    page.get_by_label("Email").fill("nobody@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    found["/admin/login (wrong password)"] = axe_violations(page)

    sign_in(page, make_staff(rt, "admin"))
    start = staff_start_pages(app)
    assert "/admin/" in start
    queue, seen = list(start), set(start)
    per_endpoint = Counter(endpoint_of(app, path) for path in start)
    while queue and len(found) < MAX_STAFF_PAGES:
        path = queue.pop(0)
        response = page.request.get(path)  # GET first: a CSV export must not become a download
        if response.status >= 500:
            found[path] = [f"HTTP {response.status}"]
        if not response.ok or not response.headers.get("content-type", "").startswith("text/html"):
            continue
        page.goto(path)
        found[path] = axe_violations(page) + phone_problems(page)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            link = urlsplit(href)
            target = link.path + (f"?{link.query}" if link.query else "")
            if link.netloc != urlsplit(rt.settings.base_url).netloc:
                continue
            endpoint = endpoint_of(app, link.path)
            if (
                not link.path.startswith("/admin/")
                or target in seen
                or endpoint is None
                or per_endpoint[endpoint] >= PER_ENDPOINT
            ):
                continue
            seen.add(target)
            per_endpoint[endpoint] += 1
            queue.append(target)

    for path in (p for p in start if p.endswith("/new")):  # the forms, sent empty: errors shown
        page.goto(path)
        page.locator("main form[method=post]").last.locator("button[type=submit]").last.click()
        expect(page.get_by_role("alert").first).to_be_visible()
        found[f"{path} (sent empty)"] = axe_violations(page)

    page.goto("/admin/no-such-page")
    found["/admin/no-such-page"] = axe_violations(page)

    page.goto("/admin/")
    page.get_by_role("button", name=re.compile("^Sign out")).click()
    sign_in(page, "viewer@example.org")
    editors_only = next(path for path in start if required_role(app, path) == "editor")
    response = page.goto(editors_only)
    assert response is not None and response.status == 403
    found[f"{editors_only} (forbidden)"] = axe_violations(page)
    assert not any(found.values()), report(found)


def test_caught_mail_pages(page: Page, app: Flask, rt: Runtime, session) -> None:
    """With no SMTP server configured, the outbox keeps mail to read: its pages, and each kind
    of mail's HTML as a page of its own (as the archive shows it to anybody)."""
    assert rt.settings.smtp_url.startswith("capture:")
    caught = Runtime.build(rt.settings, clock=rt.clock, engine=rt.engine)  # the catch-all
    app.extensions["newsletter"] = caught  # swapped before the first request
    make_member(session, rt.clock(), lists_=(make_list(session, rt.clock()),))
    announce(rt)
    add_news(rt)
    with transaction(rt.new_session()) as s:
        digests.create_digest(s, rt.kit, "practitioners", now=rt.clock())
    make_event(rt)
    page.goto("/register")  # and a confirmation request
    page.get_by_label("Email address").fill("new@example.org")
    page.get_by_label(re.compile("^I agree to receive")).check()
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1, name="Check your inbox")).to_be_visible()
    assert caught.sender.drain().sent == 4
    found: dict[str, list[str]] = {}

    sign_in(page, make_staff(rt, "editor"))  # caught mail is for editors and admins
    page.goto("/admin/outbox")
    found["outbox"] = axe_violations(page) + phone_problems(page)
    mails = page.locator("main table a")
    expect(mails).to_have_count(4)
    for subject, href in [(a.inner_text(), a.get_attribute("href")) for a in mails.all()]:
        assert href
        page.goto(href)
        expect(page.get_by_role("heading", level=1, name="Caught mail")).to_be_visible()
        found[f"caught: {subject}"] = axe_violations(page) + phone_problems(page)
        page.goto(f"{href}/html")
        found[f"mail HTML: {subject}"] = axe_violations(page)
    assert not any(found.values()), report(found)


def test_the_check_finds_violations(browser: Browser) -> None:
    """The harness is not vacuous: a picture without text and an unlabelled field are found."""
    page = browser.new_page()
    try:
        page.set_content('<html><body><img src="x.png"><input type="text"></body></html>')
        found = "\n".join(axe_violations(page))
    finally:
        page.close()
    assert "image-alt (critical)" in found and "label (critical)" in found, found
