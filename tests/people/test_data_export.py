"""The member's own data export (manage page) holds everything: event answers and bounces too."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from mailer import bounce_log
from mailer.bounces import BounceReport
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.invitations.helpers import answer, create, invite, network


def test_the_export_lists_event_answers_and_bounces(
    client: FlaskClient, rt: Runtime, session
) -> None:
    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt, capacity=5)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    with transaction(rt.new_session()) as s:
        report = BounceReport("soft", ("ana@example.org",), None, "4.2.2", "452 mailbox full", "")
        bounce_log.record(s, report, now=rt.clock())
    path = rt.kit.manage_url(ana).removeprefix(rt.settings.base_url)
    page = client.get(path)
    data = json.loads(
        client.post(f"{path}/export", data={"csrf_token": csrf_token(page.text)}).data
    )

    (answered,) = data["event_answers"]
    assert answered["event"] == "Transnational workshop"
    assert answered["answer"] == "yes"
    assert answered["starts_at"] == "2026-12-10T14:00:00+00:00"
    assert answered["answered_at"] == rt.clock().isoformat()
    assert data["bounces"] == [
        {
            "kind": "soft",
            "status": "4.2.2",
            "diagnostic": "452 mailbox full",
            "at": rt.clock().isoformat(),
        }
    ]
