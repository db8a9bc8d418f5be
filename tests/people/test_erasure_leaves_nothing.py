"""Erasure leaves nothing behind: every text column of every table is searched afterwards."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select

from mailer import bounce_log
from mailer.bounces import BounceReport
from mailer.outbox import Delivery
from subscribers.core import uploads
from subscribers.core.db import metadata, transaction
from subscribers.core.models import Member, Rsvp, Throttle
from subscribers.people import import_jobs, members, throttle
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.invitations.helpers import answer, create, invite
from tests.smtp_server import ScriptedSMTP
from tests.web.test_journey import link

EMAIL = "zuzanna.zeta@example.org"
NAME = "Zuzanna Wiśniewska-Zeta"
ORGANISATION = "Ośrodek Probacji Zetowo"
IP = "203.0.113.77"


def _register_and_confirm(client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP) -> str:
    """Register and confirm over HTTP from IP; returns the manage path."""
    page = client.get("/register")
    client.post(
        "/register",
        data={
            "csrf_token": csrf_token(page.text),
            "email": EMAIL,
            "name": NAME,
            "organisation": ORGANISATION,
            "country": "PL",
            "sector": "probation",
            "language": "pl",
            "lists": "practitioners",
            "consent": "y",
        },
        environ_base={"REMOTE_ADDR": IP},
        headers={"User-Agent": f"Mail client of {NAME}"},
    )
    rt.sender.drain()
    confirm_path = link(smtp.messages[-1].message, "confirm")
    page = client.get(confirm_path)
    client.post(
        confirm_path,
        data={"csrf_token": csrf_token(page.text)},
        environ_base={"REMOTE_ADDR": IP},
    )
    return link(smtp.messages[-1].message, "manage")


def _every_record(client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session) -> str:
    make_list(session, rt.clock())
    manage_path = _register_and_confirm(client, rt, smtp)
    with rt.new_session() as s:
        member = s.execute(select(Member).where(Member.email == EMAIL)).scalar_one()
    # A refused delivery: the welcome mail, refused with a text that quotes address and name.
    smtp.reject_recipient(EMAIL, 550, f"5.1.1 <{EMAIL}> {NAME}: no such user")
    rt.sender.drain()
    # An invitation answered "yes".
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, member, "yes")
    with transaction(rt.new_session()) as s:
        delivery = s.execute(select(Delivery).where(Delivery.recipient_id == member.id)).first()
        assert delivery is not None
        diagnostic = f"552 5.2.2 <{EMAIL}> {NAME} mailbox full"
        for kind, delivery_id in (("soft", None), ("hard", delivery[0].id)):
            report = BounceReport(kind, (EMAIL,), delivery_id, "5.2.2", diagnostic, "")
            bounce_log.record(s, report, now=rt.clock())
        # Staff edited the member: an audit entry.
        changed = {"organisation": f"{ORGANISATION} (Zetowo)"}
        members.update_details(s, member, changed, actor="editor@network.test", now=rt.clock())
    # An import that refused a line quoting the address (the same address twice).
    _import(rt, f"email,name\n{EMAIL},{NAME}\n{EMAIL.upper()},{NAME}\n".encode())
    with rt.new_session() as s:
        texts = _all_text(s)
    assert EMAIL in texts and NAME in texts and ORGANISATION in texts and IP in texts
    assert f"{NAME}: no such user" in texts and "mailbox full" in texts
    assert f"duplicate of an earlier line ({EMAIL})" in texts
    return manage_path


def _import(rt: Runtime, raw: bytes) -> None:
    upload = uploads.store(Path(rt.settings.instance_path) / "imports", raw, now=rt.clock())
    with rt.new_session() as s, transaction(s):
        job = import_jobs.start(
            s,
            "practitioners",
            raw,
            upload=upload,
            filename="directory.csv",
            consent_note="They signed up at the Lisbon workshop.",
            actor="editor@network.test",
            now=rt.clock(),
        )
    assert job.id is not None
    assert import_jobs.run(rt.new_session, job.id, raw, clock=rt.clock, pause=0).skipped


def _all_text(session) -> str:  # type: ignore[no-untyped-def]
    """Every value of every column of every table, as one text to search."""
    found = []
    for table in metadata.sorted_tables:
        for row in session.execute(select(table)).all():
            for value in row:
                if isinstance(value, bytes):
                    value = value.decode("utf-8", "replace")
                found.append(str(value))
    return "\n".join(found)


def test_erasing_a_member_leaves_no_trace_in_any_table(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    manage_path = _every_record(client, rt, smtp, session)
    page = client.get(manage_path)
    erased = client.post(
        f"{manage_path}/erase", data={"csrf_token": csrf_token(page.text), "sure": "y"}
    )
    assert erased.status_code == 200

    with rt.new_session() as s:
        texts = _all_text(s).lower()
        assert s.execute(select(Rsvp)).first() is None
    for secret in (EMAIL, NAME, ORGANISATION, "zetowo", "zuzanna", IP):
        assert secret.lower() not in texts, secret


def test_old_rate_limit_counters_are_purged(rt: Runtime, session) -> None:
    for key in ("register-ip:198.51.100.1", "register-ip:198.51.100.2"):
        assert throttle.hit(session, key, limit=5, window=timedelta(hours=1), now=rt.clock())
    session.commit()
    rt.clock.advance(days=1)
    assert throttle.hit(
        session, "register-ip:198.51.100.2", limit=5, window=timedelta(hours=1), now=rt.clock()
    )
    rt.clock.advance(days=1, seconds=1)
    assert throttle.purge(session, now=rt.clock()) == 1
    assert [row.key for row in session.execute(select(Throttle)).scalars()] == [
        "register-ip:198.51.100.2"
    ]
