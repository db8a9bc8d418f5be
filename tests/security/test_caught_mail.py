"""The caught-mail viewer (/admin/outbox) is for editors and admins, and its member links
cannot be followed: nobody acts for a member through it (issue 17, point 11)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from subscribers.core.capture import REMOVED, neutralise
from subscribers.core.db import transaction
from subscribers.core.settings import Settings
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.web.test_admin import login, make_staff

TOKEN_LINK = re.compile(r"/(?:confirm|manage|unsubscribe|events/\d+/rsvp)/(?!link-removed)[\w.\-]+")


def catching_app(settings: Settings, clock, engine) -> tuple[Flask, Runtime]:  # type: ignore[no-untyped-def]
    from subscribers.web import create_app

    rt = Runtime.build(settings, clock=clock, engine=engine)  # capture:// by default
    return create_app(settings, runtime=rt), rt


def caught_pages(client: FlaskClient) -> list[str]:
    listing = client.get("/admin/outbox")
    assert listing.status_code == 200
    pages = []
    for name in re.findall(r"/admin/outbox/([\d-]+\.eml)", listing.text):
        for path in (f"/admin/outbox/{name}", f"/admin/outbox/{name}/html"):
            response = client.get(path)
            assert response.status_code == 200
            pages.append(response.text)
    return pages


def test_viewers_cannot_read_caught_mail(settings, clock, engine) -> None:  # type: ignore[no-untyped-def]
    app, rt = catching_app(settings, clock, engine)
    viewer = app.test_client()
    login(viewer, make_staff(rt, "viewer"))
    for path in ("/admin/outbox", "/admin/outbox/00000000000000000001-11.eml"):
        assert viewer.get(path).status_code == 403


def test_member_links_in_caught_mail_cannot_be_followed(settings, clock, engine) -> None:  # type: ignore[no-untyped-def]
    app, rt = catching_app(settings, clock, engine)
    with transaction(rt.new_session()) as s:
        make_member(s, clock(), lists_=(make_list(s, clock()),), email="ana@example.org")
    from tests.web.test_journey import announce

    announce(rt)
    rt.sender.drain()
    editor = app.test_client()
    login(editor, make_staff(rt, "editor"))
    pages = caught_pages(editor)
    assert len(pages) == 2  # the announcement's text and HTML views
    for page in pages:
        assert TOKEN_LINK.search(page) is None, TOKEN_LINK.search(page)
        assert f"/unsubscribe/{REMOVED}" in page  # where the link went is still shown


def test_neutralise_keeps_other_links_and_other_sites() -> None:
    base = "https://news.example.org"
    text = (
        f"{base}/manage/abc.DEF-12_x {base}/events/7/rsvp/tok.en?answer=yes "
        f"{base}/archive/practitioners https://elsewhere.example/manage/abc"
    )
    assert neutralise(text, base) == (
        f"{base}/manage/{REMOVED} {base}/events/7/rsvp/{REMOVED}?answer=yes "
        f"{base}/archive/practitioners https://elsewhere.example/manage/abc"
    )


def test_mail_to_your_own_address_keeps_its_links(settings, clock, engine) -> None:  # type: ignore[no-untyped-def]
    """Staff trying the sign-up journey with their own address (the README's quick start)
    follow their own confirmation link: acting on your own membership is no one else's."""
    app, rt = catching_app(settings, clock, engine)
    email = make_staff(rt, "editor")
    with transaction(rt.new_session()) as s:
        make_member(s, clock(), lists_=(make_list(s, clock()),), email=email)
    from tests.web.test_journey import announce

    announce(rt)
    rt.sender.drain()
    editor = app.test_client()
    login(editor, email)
    assert all(TOKEN_LINK.search(page) for page in caught_pages(editor))
