"""Transactional mails from a cached skeleton: the same bytes as rendering afresh, and fresh
whenever a template or a list's look changes (subscribers.content.skeletons)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jinja2 import FileSystemLoader
from sqlmodel import Session

from mailer.compose import RenderedMail
from mailer.outbox import Campaign
from subscribers.content import mails, skeletons
from subscribers.content.mails import MailKit, brand
from subscribers.content.templating import TEMPLATES
from subscribers.core.models import MailingList, Member
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

# What differs between two sends of the same mail to the same member however it was rendered:
# the Message-ID and Date headers, and the MIME boundary (random per campaign, mailer.mime).
PER_MESSAGE = re.compile(rb"^(Message-ID|Date): [^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n", re.M | re.I)
BOUNDARY = re.compile(rb"==_alt_[0-9a-f]+")


def comparable(data: bytes) -> bytes:
    return BOUNDARY.sub(b"==_alt_BOUNDARY", PER_MESSAGE.sub(b"", data))


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    skeletons.clear()
    yield
    skeletons.clear()


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of mail rendered from templates (not taken from the cache), in order."""
    seen: list[str] = []
    original = MailKit.render

    def counting(self: MailKit, kind: str, context: Any) -> RenderedMail:
        seen.append(kind)
        return original(self, kind, context)

    monkeypatch.setattr(MailKit, "render", counting)
    return seen


def uncached(kit: MailKit, kind: str, context: Any) -> RenderedMail:
    """The path before the cache: every mail rendered and inlined afresh."""
    return kit.render(kind, context)


QUEUE: dict[str, Callable[..., Any]] = {
    "confirm": mails.queue_confirmation,
    "already_member": mails.queue_already_member,
    "welcome": lambda s, kit, m, *, now: mails.queue_welcome(s, kit, m, [LIST], now=now),
}
LIST = MailingList(id=1, slug="practitioners", name="Frontline Practitioners Network")


@pytest.mark.parametrize("kind", sorted(QUEUE))
@pytest.mark.parametrize("language", ["en", "pl"])
def test_the_cached_mail_is_byte_for_byte_the_freshly_rendered_one(
    rt: Runtime,
    session: Session,
    smtp: ScriptedSMTP,
    monkeypatch: pytest.MonkeyPatch,
    renders: list[str],
    kind: str,
    language: str,
) -> None:
    now = rt.clock()
    ana = make_member(session, now, language=language)
    bob = make_member(session, now, email="bob@example.org", name="Bob", language=language)
    queue = QUEUE[kind]
    with monkeypatch.context() as old_path:
        old_path.setattr(skeletons, "rendered", uncached)
        queue(session, rt.kit, ana, now=now)
    queue(session, rt.kit, bob, now=now)  # renders and keeps the skeleton
    assert renders == [kind, kind]
    queue(session, rt.kit, ana, now=now)  # from the cache
    assert renders == [kind, kind]
    session.commit()

    assert rt.sender.drain().sent == 3
    to_ana = [m.data for m in smtp.messages if m.rcpt_tos == ["ana@example.org"]]
    assert len(to_ana) == 2
    fresh, cached = (comparable(data) for data in to_ana)
    assert len(fresh) < len(to_ana[0]) - 40 and fresh.count(b"==_alt_BOUNDARY") == 4
    assert cached == fresh


def test_a_list_renamed_or_rebranded_gets_a_new_skeleton(
    rt: Runtime, session: Session, renders: list[str]
) -> None:
    lst = make_list(session, rt.clock())
    ana: Member = make_member(session, rt.clock())

    def welcome() -> RenderedMail:
        campaign_id = mails.queue_welcome(session, rt.kit, ana, [lst], now=rt.clock())
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign.rendered()

    assert "Frontline Practitioners Network" in welcome().text
    welcome()
    assert renders == ["welcome"]
    lst.name = "Frontline Researchers"
    assert "Frontline Researchers" in welcome().text
    assert renders == ["welcome", "welcome"]

    def branded() -> RenderedMail:
        return skeletons.rendered(rt.kit, "confirm", {"brand": brand(lst)})

    assert "#1d4e89" in branded().html
    branded()
    assert renders[2:] == ["confirm"]
    lst.accent_color = "#ab3456"
    assert "#ab3456" in branded().html
    lst.logo_url = "https://network.test/logo.png"
    assert "https://network.test/logo.png" in branded().html
    assert renders[2:] == ["confirm", "confirm", "confirm"]


def test_an_edited_template_gets_a_new_skeleton(
    rt: Runtime, tmp_path: Path, renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skeletons, "RECHECK_SECONDS", 0.0)  # the files looked at every time
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    loader = FileSystemLoader(str(templates))
    kit = replace(
        rt.kit,
        html_env=rt.kit.html_env.overlay(loader=loader),
        text_env=rt.kit.text_env.overlay(loader=loader),
    )
    assert "Please confirm your address" in skeletons.rendered(kit, "confirm", {}).html
    skeletons.rendered(kit, "confirm", {})
    assert renders == ["confirm"]

    page = templates / "email" / "confirm.html"
    page.write_text(page.read_text().replace("Confirm my registration", "Yes, it is me"))
    assert "Yes, it is me" in skeletons.rendered(kit, "confirm", {}).html
    base = templates / "email" / "_base.txt"  # the layout, not the mail's own template
    base.write_text(base.read_text() + "\nP.S. edited\n")
    assert "P.S. edited" in skeletons.rendered(kit, "confirm", {}).text
    assert renders == ["confirm", "confirm", "confirm"]


def test_the_template_files_are_looked_at_again_after_a_second(
    rt: Runtime, tmp_path: Path, renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    loader = FileSystemLoader(str(templates))
    kit = replace(
        rt.kit,
        html_env=rt.kit.html_env.overlay(loader=loader),
        text_env=rt.kit.text_env.overlay(loader=loader),
    )
    now = [100.0]
    monkeypatch.setattr(skeletons, "_clock", lambda: now[0])
    skeletons.rendered(kit, "confirm", {})
    page = templates / "email" / "confirm.html"
    page.write_text(page.read_text().replace("Confirm my registration", "Yes, it is me"))
    now[0] += 0.5
    assert "Yes, it is me" not in skeletons.rendered(kit, "confirm", {}).html  # not looked yet
    now[0] += 0.6
    assert "Yes, it is me" in skeletons.rendered(kit, "confirm", {}).html
    assert renders == ["confirm", "confirm"]
