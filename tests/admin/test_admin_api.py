"""The workspace pages for API tokens and webhooks (admins only)."""

from __future__ import annotations

import dataclasses
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from subscribers.admin import webhook_sender
from subscribers.core.models import AuditEntry
from subscribers.runtime import Runtime
from subscribers.web import create_app
from tests.api.conftest import Api
from tests.conftest import csrf_token
from tests.web.test_admin import login, make_staff


def test_create_a_token_shown_once_then_revoke_it(client: FlaskClient, rt: Runtime) -> None:
    login(client, make_staff(rt, "admin"))
    page = client.get("/admin/tokens")
    made = client.post(
        "/admin/tokens",
        data={"csrf_token": csrf_token(page.text), "name": "crm", "role": "viewer", "expires": ""},
    )
    secret = re.search(r"<code>(nlt_[^<]+)</code>", made.text).group(1)
    assert secret not in client.get("/admin/tokens").text  # never shown again
    api = Api(client.application.test_client(), secret)
    assert api.get("/api/v1/lists").status_code == 200
    token_id = re.search(r'id="token-(\d+)"', made.text).group(1)
    client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(page.text)})
    assert api.get("/api/v1/lists").status_code == 401
    junk = client.post(
        "/admin/tokens",
        data={
            "csrf_token": csrf_token(page.text),
            "name": "x",
            "role": "viewer",
            "expires": "soon",
        },
    )
    assert "Please give a date and time." in junk.text
    with rt.new_session() as s:
        rows = s.execute(select(AuditEntry.actor, AuditEntry.action)).all()
    assert rows == [("admin@example.org", "token.create"), ("admin@example.org", "token.revoke")]


def test_webhooks_page_refuses_loopback_unless_allowed(client: FlaskClient, rt: Runtime) -> None:
    login(client, make_staff(rt, "admin"))
    page = client.get("/admin/webhooks")
    form = {
        "csrf_token": csrf_token(page.text),
        "url": "http://127.0.0.1:9/h",
        "events": "complaint",
    }
    refused = client.post("/admin/webhooks", data=form)
    assert "NEWSLETTER_WEBHOOK_ALLOW_PRIVATE=1" in refused.text and "whsec_" not in refused.text


def test_webhooks_page_adds_lists_attempts_and_replays(rt: Runtime) -> None:
    settings = dataclasses.replace(rt.settings, webhook_allow_private=True)
    open_rt = Runtime.build(settings, clock=rt.clock, transport=rt.transport, engine=rt.engine)
    client = create_app(settings, runtime=open_rt).test_client()
    login(client, make_staff(open_rt, "admin"))
    page = client.get("/admin/webhooks")
    token = csrf_token(page.text)
    made = client.post(
        "/admin/webhooks",
        data={"csrf_token": token, "url": "http://127.0.0.1:9/h", "events": "member.erased"},
    )
    assert re.search(r"<code>whsec_[^<]+</code>", made.text)
    from subscribers.admin import webhooks
    from subscribers.core.db import transaction

    with transaction(open_rt.new_session()) as s:
        webhooks.emit(s, "member.erased", {"member_id": 7}, now=open_rt.clock())
    report = webhook_sender.deliver_due(open_rt.new_session, open_rt.clock, allow_private=True)
    assert report.retried == 1  # nothing listens on port 9
    listed = client.get("/admin/webhooks").text
    assert "member.erased" in listed and "ConnectionRefusedError" in listed
    delivery_id = re.search(r'id="delivery-(\d+)"', listed).group(1)
    again = client.post(
        f"/admin/webhook-deliveries/{delivery_id}/replay", data={"csrf_token": token}
    )
    assert again.status_code == 302  # queued already: told so, nothing breaks
