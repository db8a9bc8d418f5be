"""Every staff action reads the same in the audit log whichever edge it came from (issue 16).

For each action ``subscribers.admin.actions.ACTIONS`` says both the workspace and the command
line offer, a scenario does it once through each: the workspace through Flask's test client as a
signed-in admin (every form filled as the page shows it, CSRF token included, mass sends through
their confirmation step), the `newsletter` command in-process through click's runner. Where the
API offers the action too, it is done a third time through the API. Each edge works on its own
copy of one database, set up once through the services, so ids match; the audit entries each
edge wrote must then be equal in everything but the actor and the time.

Every edge runs on SQLite, even when the suite runs on PostgreSQL: this test is about how the
edges word an action, not about the database (the rest of the suite covers PostgreSQL). Every
edge runs on one frozen clock (the command's runtime is built with it), so "in the future" and
"already sent" mean the same for all three.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from werkzeug.test import TestResponse

from mailer.clock import FrozenClock
from subscribers.admin import actions, api_tokens, staff, webhooks
from subscribers.admin.actions import API, CLI, WEB, Entry
from subscribers.cli import support
from subscribers.cli.root import main
from subscribers.content import campaigns, news
from subscribers.core.db import make_engine, transaction
from subscribers.core.models import AuditEntry, MailingList, Member
from subscribers.core.settings import load
from subscribers.invitations import events, rsvp
from subscribers.people.audience import Segment
from subscribers.runtime import Runtime
from subscribers.web import create_app
from tests.api.conftest import Api
from tests.conftest import confirm, csrf_token
from tests.factories import make_list, make_member
from tests.invitations.helpers import spec

ADMIN, EDITOR, LOCKED = "admin@example.org", "editor@example.org", "locked@example.org"
PASSWORD = "correct horse battery"
HOOK = "http://127.0.0.1:8099/hook"  # never called: nothing delivers webhooks here
LATER = "2026-12-01T09:00"  # after the frozen clock's now (25 November 2026)


def offered_by(*edges: str) -> list[str]:
    return sorted(name for name, action in actions.ACTIONS.items() if set(edges) <= action.edges)


# -- the world every scenario starts from --------------------------------------------------


@dataclass(frozen=True)
class World:
    """One SQLite database set up through the services, and what the scenarios need of it."""

    template: Path
    clock: FrozenClock
    env: Mapping[str, str]  # settings of every edge, but the database
    cookie: str  # the admin's signed-in session (valid in every copy of the database)
    last: int  # the id of its last audit entry: a scenario's entries come after
    api_secret: str  # an admin API token
    editor: int  # staff ids
    locked: int
    ana: int  # the member who said yes to the event
    item: int  # a queued news item
    event: int  # an event Ana (PT) was invited to; Piotr (PL) and Ion (MD) were not
    active: int  # an announcement being sent
    paused: int  # a paused announcement
    token: int  # an API token named "website"
    webhook: int

    def copy(self, path: Path) -> str:
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def runtime(self, database_url: str) -> Runtime:
        settings = load({**self.env, "NEWSLETTER_DATABASE_URL": database_url}, dotenv=None)
        return Runtime.build(settings, clock=self.clock)


def _env(directory: Path) -> dict[str, str]:
    return {
        "NEWSLETTER_INSTANCE_PATH": str(directory / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_BASE_URL": "http://newsletter.test",
        "NEWSLETTER_MAIL_FROM": "Frontline Network <news@network.test>",
        "NEWSLETTER_TIMEZONE": "Europe/Lisbon",
        "NEWSLETTER_WEBHOOK_ALLOW_PRIVATE": "1",
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, _sqlite_schema: Path) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("parity")
    template = directory / "template.db"
    shutil.copyfile(_sqlite_schema, template)
    clock = FrozenClock()
    env = _env(directory)
    rt = Runtime.build(
        load({**env, "NEWSLETTER_DATABASE_URL": f"sqlite:///{template}"}, dotenv=None), clock=clock
    )
    ids = _set_up(rt)
    cookie = _signed_in_cookie(rt)
    with rt.new_session() as s:
        last = s.execute(select(func.max(AuditEntry.id))).scalar_one() or 0
    rt.engine.dispose()  # the file alone is the database from here on
    assert not template.with_name("template.db-wal").exists()
    yield World(template=template, clock=clock, env=env, cookie=cookie, last=last, **ids)


def _set_up(rt: Runtime) -> dict[str, Any]:
    now = rt.clock()
    with transaction(rt.new_session()) as s:
        staff.create(s, ADMIN, PASSWORD, "admin", now=now)
        editor = staff.create(s, EDITOR, PASSWORD, "editor", now=now)
        locked = staff.create(s, LOCKED, PASSWORD, "viewer", now=now)
    for _attempt in range(staff.MAX_FAILED_LOGINS):
        with transaction(rt.new_session()) as s:
            staff.authenticate(s, LOCKED, "a wrong guess", ip="192.0.2.1", now=now)
    with rt.new_session() as s:
        lst = make_list(s, now, digest_cron="0 9 * * mon")
        ana = make_member(s, now, lists_=(lst,), language="pt")
        make_member(s, now, lists_=(lst,), email="piotr@example.org", name="Piotr", country="PL")
        make_member(s, now, lists_=(lst,), email="ion@example.org", name="Ion", country="MD")
        ana_id = ana.id
    with transaction(rt.new_session()) as s:
        item = news.add(s, "practitioners", title="Report", body="Forty came.", link=None, now=now)
        active, _count = campaigns.create_announcement(
            s, rt.kit, campaigns.Announcement("practitioners", "Workshop", "Come."), now=now
        )
        paused, _count = campaigns.create_announcement(
            s, rt.kit, campaigns.Announcement("practitioners", "Survey", "Answer."), now=now
        )
        campaigns.set_status(s, paused.id or 0, "paused")
        event = events.create_event(s, rt.kit, spec(), now=now)
        assert event.id is not None
        events.invite(s, rt.kit, event.id, Segment.parse("country=PT"), now=now)
        token, _secret = api_tokens.create(s, "website", "editor", now=now)
        _token, api_secret = api_tokens.create(s, "parity", "admin", now=now)
        endpoint, _secret = webhooks.add(
            s, HOOK, ["member.subscribed"], now=now, allow_private=True
        )
    with transaction(rt.new_session()) as s:
        rsvp.respond(s, rt.kit, event.id, s.get(Member, ana_id), "yes", now=now)
    return {
        "api_secret": api_secret,
        "editor": editor.id,
        "locked": locked.id,
        "ana": ana_id,
        "item": item.id,
        "event": event.id,
        "active": active.id,
        "paused": paused.id,
        "token": token.id,
        "webhook": endpoint.id,
    }


def _signed_in_cookie(rt: Runtime) -> str:
    client = create_app(rt.settings, runtime=rt).test_client()
    page = client.get("/admin/login")
    answer = client.post(
        "/admin/login",
        data={"csrf_token": csrf_token(page.text), "email": ADMIN, "password": PASSWORD},
    )
    assert answer.status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


# -- the edges -----------------------------------------------------------------------------


Fields = Mapping[str, str | Sequence[str]]


class Workspace:
    """The staff workspace as the signed-in admin's browser uses it."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.last = ""  # the last page shown, to say why an action did not happen

    def submit(self, page: str, action: str, fields: Fields | None = None) -> None:
        """Post the form of ``page`` that goes to ``action``, filled as the page shows it but
        for ``fields``, and press the confirmation step's button if one is asked."""
        self.press(self.ask(page, action, fields))

    def ask(self, page: str, action: str, fields: Fields | None = None) -> TestResponse:
        """Post the form; the answer (a confirmation step, or the page it led to)."""
        shown = self.client.get(page)
        assert shown.status_code == 200, (page, shown.status_code)
        data = _form_values(shown.text, page, action)
        for name, value in (fields or {}).items():
            data[name] = [value] if isinstance(value, str) else list(value)
        return self.client.post(action, data=data, follow_redirects=True)

    def press(self, answer: TestResponse) -> None:
        """Confirm, if the answer asks to."""
        if 'id="confirm-form"' in answer.text:
            answer = confirm(self.client, answer, follow_redirects=True)
        assert answer.status_code == 200, (answer.request.path, answer.status_code)
        self.last = answer.text

    def fill(self, page: str, fields: Fields) -> None:
        """Post the form of a page that posts to itself (create and edit pages)."""
        self.submit(page, page.split("?", 1)[0], fields)

    def download(self, url: str) -> None:
        answer = self.client.get(url)
        assert answer.status_code == 200, (url, answer.status_code)

    def said(self) -> str:
        """The notices and form errors of the last page."""
        if not self.last:
            return ""
        page = lxml.html.fromstring(self.last)
        shown = page.xpath('//*[@role="alert" or @role="status" or contains(@class, "errors")]')
        return " | ".join(" ".join(e.text_content().split()) for e in shown)


def _form_values(page_text: str, page: str, action: str) -> dict[str, list[str]]:
    """What a browser sends for the form posting to ``action`` (buttons aside)."""
    doc = lxml.html.fromstring(page_text)
    path = page.split("?", 1)[0]
    for form in doc.forms:
        if (form.get("action") or path) == action and form.get("method", "").lower() == "post":
            data: dict[str, list[str]] = {}
            for name, value in form.form_values():
                data.setdefault(name, []).append(value)
            return data
    raise AssertionError(f"no form posting to {action} on {page}")


def _cli(w: World, database_url: str, command: str, stdin: str | None) -> None:
    env = {**w.env, "NEWSLETTER_DATABASE_URL": database_url}
    args = shlex.split(command)
    result = CliRunner().invoke(main, args, input=stdin, env=env, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)


def _api_call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    """One API request; an update first reads the resource for its ETag (If-Match)."""
    headers = {}
    if method == "PATCH":
        headers["If-Match"] = api.get(path).headers["ETag"]
    answer = api(method, path, json=body, headers=headers)
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)


# -- the scenarios -------------------------------------------------------------------------

Web = Callable[[Workspace, World], None]
# `newsletter` arguments as typed (shlex; one command a line), given a temp dir for files
Command = Callable[[World, Path], str]
ApiCall = Callable[[World], tuple[str, str] | tuple[str, str, dict[str, Any]]]


@dataclass(frozen=True)
class Scenario:
    """One action as each edge is asked to do it, with the same inputs."""

    web: Web
    cli: Command
    stdin: str | None = None
    api: ApiCall | None = None  # (method, path[, JSON body]) under /api/v1


def _text_file(directory: Path, text: str) -> str:
    path = directory / "text.md"
    path.write_text(text, encoding="utf-8")
    return shlex.quote(str(path))


def _event(w: World) -> str:
    return f"/admin/events/{w.event}"


def _news(w: World) -> str:
    return f"/admin/news/{w.item}"


def _steer(ws: Workspace, campaign_id: int, verb: str) -> None:
    """Press the pause, resume or cancel button of the campaign's page."""
    page = f"/admin/campaigns/{campaign_id}"
    ws.submit(page, f"{page}/{verb}")


NEWS = {"title": "Minutes", "body": "Read them.", "link": "https://network.test/minutes"}
NEWS_ARGS = "--title Minutes --body 'Read them.' --link https://network.test/minutes"
ANNOUNCE = "/admin/announce?list=practitioners"
MAIL = {"subject": "Minutes", "body": "Read them."}
MAIL_ARGS = "announce --list practitioners --subject Minutes --body 'Read them.'"
EVENT = {"title": "Second workshop", "start": "2026-12-20T10:00", "end": "2026-12-20T12:00"}
EVENT_ARGS = "--title 'Second workshop' --start 2026-12-20T10:00 --end 2026-12-20T12:00"
POLISH = {"language": "pl", "title": "Raport", "body": "Przyszło czterdzieści osób."}
EVENTS = ["member.subscribed", "rsvp.changed"]

SCENARIOS: dict[str, Scenario] = {
    # staff accounts
    "staff.create": Scenario(
        web=lambda ws, w: ws.fill(
            "/admin/staff", {"email": "new@example.org", "role": "editor", "password": PASSWORD}
        ),
        cli=lambda w, d: "staff create new@example.org --role editor --password-stdin",
        stdin=PASSWORD + "\n",
    ),
    "staff.role": Scenario(
        web=lambda ws, w: ws.submit(
            "/admin/staff", f"/admin/staff/{w.editor}/role", {f"u{w.editor}-role": "viewer"}
        ),
        cli=lambda w, d: f"staff set-role {EDITOR} viewer",
    ),
    "staff.unlock": Scenario(
        web=lambda ws, w: ws.submit("/admin/staff", f"/admin/staff/{w.locked}/unlock"),
        cli=lambda w, d: f"staff unlock {LOCKED}",
    ),
    "staff.remove": Scenario(
        web=lambda ws, w: ws.submit("/admin/staff", f"/admin/staff/{w.editor}/remove"),
        cli=lambda w, d: f"staff remove {EDITOR}",
    ),
    # lists and members
    "list.create": Scenario(
        web=lambda ws, w: ws.fill("/admin/lists/new", {"slug": "newsroom", "name": "Newsroom"}),
        cli=lambda w, d: "lists create newsroom --name Newsroom",
        api=lambda w: ("POST", "/lists", {"slug": "newsroom", "name": "Newsroom"}),
    ),
    "list.edit": Scenario(
        web=lambda ws, w: ws.fill("/admin/lists/practitioners/edit", {"name": "Practitioners"}),
        cli=lambda w, d: "lists edit practitioners --name Practitioners",
        api=lambda w: ("PATCH", "/lists/practitioners", {"name": "Practitioners"}),
    ),
    "members.export": Scenario(
        web=lambda ws, w: ws.submit("/admin/members", "/admin/lists/practitioners/export"),
        cli=lambda w, d: "subscribers export --list practitioners",
    ),
    # news, digests, announcements, campaigns
    "news.add": Scenario(
        web=lambda ws, w: ws.fill("/admin/news/new?list=practitioners", NEWS),
        cli=lambda w, d: f"news add --list practitioners {NEWS_ARGS}",
        api=lambda w: ("POST", "/news", {"list": "practitioners", **NEWS}),
    ),
    "news.edit": Scenario(
        web=lambda ws, w: ws.fill(f"{_news(w)}/edit", {"title": "Full report"}),
        cli=lambda w, d: f"news edit {w.item} --title 'Full report'",
        api=lambda w: ("PATCH", f"/news/{w.item}", {"title": "Full report"}),
    ),
    "news.translate": Scenario(
        web=lambda ws, w: ws.submit(_news(w), f"{_news(w)}/translation", POLISH),
        cli=lambda w, d: (
            f"news edit {w.item} --lang pl --title Raport --body 'Przyszło czterdzieści osób.'"
        ),
    ),
    "news.withdraw": Scenario(
        web=lambda ws, w: ws.submit(_news(w), f"{_news(w)}/withdraw"),
        cli=lambda w, d: f"news withdraw {w.item}",
        api=lambda w: ("POST", f"/news/{w.item}/withdraw"),
    ),
    "digest.send": Scenario(
        web=lambda ws, w: ws.submit("/admin/", "/admin/lists/practitioners/digest"),
        cli=lambda w, d: "digest send practitioners",
    ),
    "announce.test": Scenario(
        web=lambda ws, w: ws.fill(ANNOUNCE, {**MAIL, "action": "test"}),
        cli=lambda w, d: f"{MAIL_ARGS} --test-to {ADMIN}",
    ),
    "announce.send": Scenario(
        web=lambda ws, w: ws.fill(ANNOUNCE, {**MAIL, "country": ["PL"], "action": "send"}),
        cli=lambda w, d: f"{MAIL_ARGS} --segment country=PL",
        api=lambda w: (
            "POST",
            "/announcements",
            {"list": "practitioners", **MAIL, "segment": "country=PL"},
        ),
    ),
    "announce.schedule": Scenario(
        web=lambda ws, w: ws.fill(ANNOUNCE, {**MAIL, "send_after": LATER, "action": "schedule"}),
        cli=lambda w, d: f"{MAIL_ARGS} --at {LATER}",
        api=lambda w: (
            "POST",
            "/announcements",
            {"list": "practitioners", **MAIL, "send_at": LATER},
        ),
    ),
    "campaign.pause": Scenario(
        web=lambda ws, w: _steer(ws, w.active, "pause"),
        cli=lambda w, d: f"campaigns pause {w.active}",
        api=lambda w: ("POST", f"/campaigns/{w.active}/pause"),
    ),
    "campaign.resume": Scenario(
        web=lambda ws, w: _steer(ws, w.paused, "resume"),
        cli=lambda w, d: f"campaigns resume {w.paused}",
        api=lambda w: ("POST", f"/campaigns/{w.paused}/resume"),
    ),
    "campaign.cancel": Scenario(
        web=lambda ws, w: _steer(ws, w.active, "cancel"),
        cli=lambda w, d: f"campaigns cancel {w.active}",
        api=lambda w: ("POST", f"/campaigns/{w.active}/cancel"),
    ),
    # events
    "event.create": Scenario(
        web=lambda ws, w: ws.fill("/admin/events/new", {"list_slug": "practitioners", **EVENT}),
        cli=lambda w, d: f"events create --list practitioners {EVENT_ARGS}",
        api=lambda w: ("POST", "/events", {"list": "practitioners", **EVENT}),
    ),
    "event.update": Scenario(
        web=lambda ws, w: ws.fill(f"{_event(w)}/edit", {"location": "Lisbon, room 2"}),
        cli=lambda w, d: f"events update {w.event} --location 'Lisbon, room 2'",
    ),
    "event.translate": Scenario(
        web=lambda ws, w: ws.submit(_event(w), f"{_event(w)}/translation", POLISH),
        cli=lambda w, d: (
            f"events translate {w.event} --lang pl --title Raport "
            f"--body-file {_text_file(d, POLISH['body'])}"
        ),
    ),
    "event.invite": Scenario(
        web=lambda ws, w: ws.submit(_event(w), f"{_event(w)}/invite", {"country": ["PL"]}),
        cli=lambda w, d: f"events invite {w.event} --segment country=PL",
        api=lambda w: ("POST", f"/events/{w.event}/invite", {"segment": "country=PL"}),
    ),
    "event.cancel": Scenario(
        web=lambda ws, w: ws.submit(_event(w), f"{_event(w)}/cancel", {"reason": "Flooded."}),
        cli=lambda w, d: f"events cancel {w.event} --reason Flooded.",
    ),
    "event.rsvps_export": Scenario(
        web=lambda ws, w: ws.download(f"{_event(w)}/rsvps.csv"),
        cli=lambda w, d: f"events rsvps {w.event} --csv",
    ),
    "event.join_link": Scenario(
        web=lambda ws, w: ws.submit(_event(w), f"{_event(w)}/rsvps/{w.ana}/join-link"),
        cli=lambda w, d: f"events resend-join-link {w.event} ana@example.org",
    ),
    # API tokens and webhooks
    "token.create": Scenario(
        web=lambda ws, w: ws.fill("/admin/tokens", {"name": "crm", "role": "viewer"}),
        cli=lambda w, d: "tokens create crm --role viewer",
    ),
    "token.revoke": Scenario(
        web=lambda ws, w: ws.submit("/admin/tokens", f"/admin/tokens/{w.token}/revoke"),
        cli=lambda w, d: "tokens revoke website",
    ),
    "webhook.add": Scenario(
        web=lambda ws, w: ws.fill("/admin/webhooks", {"url": HOOK + "/2", "events": EVENTS}),
        cli=lambda w, d: f"webhooks add {HOOK}/2 --events {','.join(EVENTS)}",
        api=lambda w: ("POST", "/webhooks", {"url": HOOK + "/2", "events": EVENTS}),
    ),
    "webhook.remove": Scenario(
        web=lambda ws, w: ws.submit("/admin/webhooks", f"/admin/webhooks/{w.webhook}/remove"),
        cli=lambda w, d: f"webhooks remove {w.webhook}",
        api=lambda w: ("DELETE", f"/webhooks/{w.webhook}"),
    ),
}


# -- running a scenario --------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    actor: str
    entry: Entry


def _written_since(engine: Engine, last: int) -> list[Written]:
    with Session(engine) as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id))
        return [Written(e.actor, Entry(e.action, e.target, e.detail)) for e in rows.scalars()]


class Site:
    """The web app the workspace and the API scenarios talk to, on a fresh copy of the world
    for each of them (one app for all: building one takes a third of a second)."""

    def __init__(self, world: World, path: Path) -> None:
        self.world, self.path = world, path
        world.copy(path)
        self.rt = world.runtime(f"sqlite:///{path}")
        self.app = create_app(self.rt.settings, runtime=self.rt)

    def fresh(self) -> None:
        self.rt.engine.dispose()  # no connection to the old file is left, nor its WAL
        assert not Path(f"{self.path}-wal").exists()
        self.world.copy(self.path)

    def through_workspace(self, scenario: Scenario) -> list[Written]:
        self.fresh()
        client = self.app.test_client()
        client.set_cookie("session", self.world.cookie)
        workspace = Workspace(client)
        scenario.web(workspace, self.world)
        written = _written_since(self.rt.engine, self.world.last)
        assert written, f"the workspace recorded nothing; the page said: {workspace.said()}"
        return written

    def through_api(self, call: ApiCall) -> list[Written]:
        self.fresh()
        method, path, *body = call(self.world)
        _api_call(
            Api(self.app.test_client(), self.world.api_secret), method, "/api/v1" + path, *body
        )
        return _written_since(self.rt.engine, self.world.last)


@pytest.fixture(scope="module")
def site(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    made = Site(world, tmp_path_factory.mktemp("site") / "site.db")
    yield made
    made.rt.engine.dispose()


def _through_cli(w: World, scenario: Scenario, directory: Path) -> list[Written]:
    database_url = w.copy(directory / "cli.db")
    for command in scenario.cli(w, directory).splitlines():
        _cli(w, database_url, command, scenario.stdin)
    engine = make_engine(database_url)
    written = _written_since(engine, w.last)
    engine.dispose()
    return written


class _RuntimeOnTheClock:
    """``Runtime`` for subscribers.cli.support: ``build(settings)`` on the test's frozen clock."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock

    def build(self, settings: Any) -> Runtime:
        return Runtime.build(settings, clock=self.clock)


def _entries(written: list[Written]) -> list[Entry]:
    return [one.entry for one in written]


def _web_and_cli(
    site: Site, scenario: Scenario, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Entry], list[Entry]]:
    """The entries the workspace and the command wrote, each on its copy of the world."""
    monkeypatch.setattr(support, "Runtime", _RuntimeOnTheClock(site.world.clock))
    web = site.through_workspace(scenario)
    cli = _through_cli(site.world, scenario, directory)
    assert {one.actor for one in web} == {ADMIN}
    assert all(one.actor.startswith("cli") for one in cli)
    return _entries(web), _entries(cli)


@pytest.mark.parametrize("name", offered_by(WEB, CLI))
def test_the_workspace_and_the_command_record_the_same_entry(
    name: str, site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = SCENARIOS.get(name)
    assert scenario is not None, (
        f"{name} is offered by the workspace and the command line: add its scenario to "
        "SCENARIOS in tests/test_actions.py"
    )
    web, cli = _web_and_cli(site, scenario, tmp_path, monkeypatch)
    assert name in {entry.action for entry in web}
    assert cli == web
    if scenario.api is not None:
        api = site.through_api(scenario.api)
        assert {one.actor for one in api} == {"api (parity)"}
        assert _entries(api) == web


def _edit_then_translate(ws: Workspace, w: World) -> None:
    ws.fill(f"{_news(w)}/edit", {"title": "Full report"})
    ws.submit(_news(w), f"{_news(w)}/translation", POLISH)


def _edit_with_translation(w: World, directory: Path) -> str:
    translation = _text_file(directory, f"{POLISH['title']}\n\n{POLISH['body']}")
    return f"news edit {w.item} --title 'Full report' --translation pl={translation}"


def test_an_edit_with_a_translation_reads_as_the_two_workspace_forms(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`news edit --translation` changes the item and writes a translation in one command; the
    log says both, as after the workspace's edit form and then its translation form."""
    both = Scenario(web=_edit_then_translate, cli=_edit_with_translation)
    web, cli = _web_and_cli(site, both, tmp_path, monkeypatch)
    assert [entry.action for entry in web] == ["news.edit", "news.translate"]
    assert cli == web


def _invite_from_two_tabs(ws: Workspace, w: World) -> None:
    """Ask in two tabs, then confirm in both: by the second, everyone is invited already."""
    tabs = [ws.ask(_event(w), f"{_event(w)}/invite", {"country": ["PL"]}) for _tab in range(2)]
    for tab in tabs:
        ws.press(tab)


def test_inviting_nobody_new_is_no_invitation_in_the_log(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second invitation to the same audience queues nothing, and the log says nothing of
    it: not "members: 0" from the workspace where the command and the API stay silent."""
    twice = Scenario(
        web=_invite_from_two_tabs,
        cli=lambda w, d: f"events invite {w.event} --segment country=PL\n" * 2,
    )
    web, cli = _web_and_cli(site, twice, tmp_path, monkeypatch)
    assert web == [Entry("event.invite", str(site.world.event), "members: 1; segment: country=PL")]
    assert cli == web


def test_every_action_of_two_edges_has_a_scenario() -> None:
    """A new action offered by the workspace and the command line cannot skip the check; one
    the API offers too is compared there as well; a scenario outlives no action."""
    assert sorted(SCENARIOS) == offered_by(WEB, CLI)
    assert sorted(n for n, s in SCENARIOS.items() if s.api) == offered_by(WEB, CLI, API)


def test_only_registered_actions_are_written(world: World, tmp_path: Path) -> None:
    rt = world.runtime(world.copy(tmp_path / "x.db"))
    with pytest.raises(ValueError, match="not a registered action"), rt.new_session() as s:
        actions.write(s, Entry("list.rename", "practitioners"), actor="x", now=rt.clock())
    rt.engine.dispose()


def test_the_world_is_as_the_scenarios_expect(world: World, tmp_path: Path) -> None:
    """The setup the scenarios rely on (so a failing scenario points at its edge, not here)."""
    rt = world.runtime(world.copy(tmp_path / "x.db"))
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(MailingList)).scalar_one() == 1
        assert staff.locked_out(s, staff.get(s, LOCKED), now=rt.clock())
        assert rsvp.counts(s, world.event)["yes"] == 1
        assert datetime.fromisoformat(LATER).replace(tzinfo=rt.clock().tzinfo) > rt.clock()
    rt.engine.dispose()
