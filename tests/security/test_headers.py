"""Security headers (issue 17, point 8): a CSP without inline script, no framing, no token in a
Referer, no sniffing, nothing kept of staff and member pages."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from subscribers.content.templating import TEMPLATES
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.people.helpers import signed_in


def member_tokens(rt: Runtime, session, *purposes: str) -> list[str]:  # type: ignore[no-untyped-def]
    member = make_member(session, rt.clock(), lists_=(make_list(session, rt.clock()),))
    assert member.id is not None
    return [rt.kit.signer.sign(purpose, member.id, member.nonce) for purpose in purposes]


def test_every_page_forbids_inline_script_and_framing(client: FlaskClient) -> None:
    for path in ("/register", "/privacy", "/admin/login", "/healthz", "/nowhere"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_no_template_has_inline_script() -> None:
    for template in (TEMPLATES / "web").rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template  # no onclick= and the like


def test_token_pages_send_no_referrer_and_are_not_kept(
    client: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    pages = {
        "confirm": "/confirm/{}",
        "manage": "/manage/{}",
        "unsubscribe": "/unsubscribe/{}",
    }
    tokens = member_tokens(rt, session, *pages)
    for (_purpose, path), token in zip(pages.items(), tokens, strict=True):
        response = client.get(path.format(token))
        assert response.status_code == 200, path
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert response.headers["Cache-Control"] == "no-store", path
    rsvp = client.get("/events/1/rsvp/junk.token")  # an RSVP page, even for a bad token
    assert rsvp.headers["Referrer-Policy"] == "no-referrer"
    other = client.get("/register")
    assert other.headers["Referrer-Policy"] == "same-origin"
    assert "no-store" not in other.headers.get("Cache-Control", "")


def test_staff_pages_are_not_kept(app: Flask, rt: Runtime) -> None:
    viewer = signed_in(app, rt, "viewer")
    for path in ("/admin/", "/admin/login"):
        assert viewer.get(path).headers["Cache-Control"] == "no-store", path


def test_a_token_page_form_works_over_https_without_a_referer(
    app: Flask,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    """No-referrer means the browser sends no Referer with the page's own form either; the
    CSRF check must not ask for one (the signed token and SameSite cookie protect the form)."""
    client = app.test_client()
    path = f"/confirm/{member_tokens(rt, session, 'confirm')[0]}"
    page = client.get(path, base_url="https://newsletter.test")
    response = client.post(
        path, data={"csrf_token": csrf_token(page.text)}, base_url="https://newsletter.test"
    )
    assert response.status_code == 200, response.text


def test_the_workspace_scripts_are_files(client: FlaskClient) -> None:
    for name in ("audience.js", "campaign.js"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and response.mimetype == "text/javascript"
        assert Path(TEMPLATES / "web" / "static" / name).is_file()
