"""Browser fixtures: the real app over HTTP on loopback, driven by headless Chromium (Playwright).

The app is the one from ``tests/conftest.py`` (its database, frozen clock and a transport to the
aiosmtpd server ``smtp``), served by werkzeug in a background thread on an OS-chosen port; its
``base_url`` is that server's address, so links in mail open in the browser as they are.
Mail goes out when a test calls ``rt.sender.drain()``, or while ``mail_worker`` (once started)
drains the outbox in a background thread.

Chromium is Debian's (/usr/bin/chromium; Playwright's own browser download is not used). Without
it, or without the ``playwright`` package, the browser tests are skipped with the reason;
with ``CI=true`` they fail instead, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from subscribers.admin import staff
from subscribers.core.db import transaction
from subscribers.core.settings import Settings
from subscribers.runtime import Runtime

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

try:  # re-exported for the test modules, so that they collect (and skip) without playwright
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the browser fixture reports it
    expect = None  # type: ignore[assignment]

AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "correct horse battery"
# Debian's chromium, then whatever else a developer's machine calls it.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Headless, and no calls home: this machine's network is closed (see python-svc.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> NoReturn:
    """Skip, or in CI fail: CI must really run the browser tests."""
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """NEWSLETTER_CHROMIUM if set, else /usr/bin/chromium or the first Chromium on PATH."""
    configured = os.environ.get("NEWSLETTER_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole run."""
    executable = find_chromium()
    if executable is None:
        _unavailable("no Chromium found (apt-get install chromium, or set NEWSLETTER_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# -- the app over HTTP ----------------------------------------------------------------------


@pytest.fixture
def _http_server() -> Iterator[BaseWSGIServer]:
    """A bound but not yet serving server: its port is known before the app is built."""

    def not_ready(environ: Any, start_response: Any) -> list[bytes]:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"not ready"]

    server = make_server("127.0.0.1", 0, not_ready, threaded=True)
    yield server
    server.server_close()


@pytest.fixture
def settings(settings: Settings, _http_server: BaseWSGIServer) -> Settings:
    """The suite's settings (tests/conftest.py), with the live server's address as base URL."""
    return dataclasses.replace(settings, base_url=f"http://127.0.0.1:{_http_server.server_port}")


@pytest.fixture
def live_server(app: Flask, rt: Runtime, _http_server: BaseWSGIServer) -> Iterator[str]:
    """The app served over HTTP in a background thread; yields its base URL."""
    _http_server.app = app
    thread = threading.Thread(
        target=_http_server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server"
    )
    thread.start()
    yield rt.settings.base_url
    _http_server.shutdown()
    thread.join(timeout=10)


class MailWorker:
    """Drains the outbox in a background thread, as ``newsletter worker`` does, once started."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: list[BaseException] = []

    def start(self) -> None:
        assert self._thread is None, "started already"
        self._thread = threading.Thread(target=self._run, name="mail-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.failures:
            raise self.failures[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._rt.sender.drain(stop=self._stop)
            except Exception as err:  # noqa: BLE001 - raised again by stop(), in the test
                self.failures.append(err)
                return
            self._stop.wait(0.05)  # the worker's idle poll, not a wait for a condition


@pytest.fixture
def mail_worker(rt: Runtime) -> Iterator[MailWorker]:
    """A background outbox drain; the test starts it (``mail_worker.start()``) when it likes."""
    worker = MailWorker(rt)
    yield worker
    worker.stop()


# -- pages ----------------------------------------------------------------------------------


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test, pointed at the live server."""
    # bypass_csp: the archive's mail pages forbid all scripts, axe-core's included.
    ctx = browser.new_context(base_url=live_server, bypass_csp=True, locale="en-GB")
    ctx.set_default_timeout(TIMEOUT_MS)
    # axe-core in every page from the start: cheaper than injecting it page by page.
    ctx.add_init_script(path=AXE_JS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def csp_errors() -> list[str]:
    """What the browser refused under the site's Content-Security-Policy (``strict_page``)."""
    return []


@pytest.fixture
def strict_page(browser: Browser, live_server: str, csp_errors: list[str]) -> Iterator[Page]:
    """A page that obeys the site's Content-Security-Policy, as real visitors' browsers do; what
    it refuses is in ``csp_errors`` (the workspace's scripts must run from files)."""
    ctx = browser.new_context(base_url=live_server, locale="en-GB")
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.add_init_script(path=AXE_JS)  # injected by the browser itself: not subject to the CSP
    page = ctx.new_page()
    page.on(
        "console",
        lambda message: (
            csp_errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    ctx.close()


def make_staff(rt: Runtime, role: str) -> str:
    """A staff account with ``role``; returns its email (password: PASSWORD)."""
    email = f"{role}@example.org"
    with transaction(rt.new_session()) as s:
        staff.create(s, email, PASSWORD, role, now=rt.clock())
    return email


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait for the workspace home."""
    page.goto("/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Workspace")).to_be_visible()


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run axe-core (vendored) on the current page; describe each violation of these impacts.

    Frames are left out: the only ones are mail previews, sandboxed without scripts (axe would
    wait for each in vain); the tests check the mail HTML as a page of its own.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):  # no init script: a page
        page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))  # of another context
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"], iframes: false});
            return r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ") + " :: " + n.failureSummary),
            }));
        }"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in result
        if v["impact"] in impacts
    ]


def mail_link(message: EmailMessage, base_url: str, kind: str) -> str:
    """The first ``/<kind>/...`` link in a mail's text part, as it points at the live server."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "mail without a text part"
    found = re.search(rf"{re.escape(base_url)}/{kind}/\S+", str(part.get_content()))
    assert found, f"no /{kind}/ link in the mail"
    return found.group(0)
