"""The subscriber's whole journey over HTTP, with mail caught by a real SMTP server."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage

from flask.testing import FlaskClient
from sqlalchemy import select

from mailer.outbox import Delivery, Suppression
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.core.models import ConsentEvent, Member
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.smtp_server import ScriptedSMTP

BASE = "http://newsletter.test"


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link(message: EmailMessage, kind: str) -> str:
    found = re.search(rf"{re.escape(BASE)}(/{kind}/[A-Za-z0-9_.\-]+)", text_of(message))
    assert found, f"no {kind} link in mail"
    return found.group(1)


def register(client: FlaskClient, email: str, **extra: str) -> str:
    page = client.get("/register")
    data = {
        "csrf_token": csrf_token(page.text),
        "email": email,
        "name": "Ana Sousa",
        "organisation": "PSP",
        "country": "PT",
        "sector": "police",
        # English, to read the pages and mail below; tests/i18n reads them in each language.
        "language": "en",
        "lists": "practitioners",
        "consent": "y",
        **extra,
    }
    response = client.post("/register", data=data)
    return response.text


def member(rt: Runtime, email: str | None = None, member_id: int | None = None) -> Member | None:
    with rt.new_session() as s:
        if member_id is not None:
            return s.get(Member, member_id)
        return s.execute(select(Member).where(Member.email == email)).scalar_one_or_none()


def announce(rt: Runtime, subject: str = "Second transnational workshop") -> int:
    with transaction(rt.new_session()) as s:
        _, count = create_announcement(
            s,
            rt.kit,
            Announcement("practitioners", subject, "The network meets online on **6 November**."),
            now=rt.clock(),
        )
    return count


def test_whole_journey(client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session) -> None:
    make_list(session, rt.clock())
    assert "Check your inbox" in register(client, "Ana.Sousa@Example.org")
    rt.sender.drain()
    confirmation = smtp.messages[-1].message
    assert confirmation["To"] == "ana.sousa@example.org"  # the typed name is not used yet
    confirm_path = link(confirmation, "confirm")

    # Following the link (as a scanner would) changes nothing; the button does.
    page = client.get(confirm_path)
    assert page.status_code == 200
    assert member(rt, "ana.sousa@example.org").status == "pending"
    done = client.post(confirm_path, data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200 and "confirmed" in done.text
    ana = member(rt, "ana.sousa@example.org")
    assert ana.status == "active"
    # Confirming twice is harmless.
    assert client.post(confirm_path, data={"csrf_token": csrf_token(page.text)}).status_code == 200

    rt.sender.drain()
    welcome = smtp.messages[-1].message
    assert welcome["Subject"] == "Welcome to the network"
    manage_path = link(welcome, "manage")

    # The manage page: change details, download the data.
    page = client.get(manage_path)
    assert page.status_code == 200 and "ana.sousa@example.org" in page.text
    lists = re.findall(r'name="lists" type="checkbox" value="(\d+)"', page.text)
    saved = client.post(
        manage_path,
        data={
            "csrf_token": csrf_token(page.text),
            "name": "Ana M. Sousa",
            "organisation": "PSP",
            "country": "PT",
            "sector": "police",
            "language": "en",
            "lists": lists,
        },
    )
    assert saved.status_code == 200 and "saved" in saved.text
    assert member(rt, "ana.sousa@example.org").name == "Ana M. Sousa"
    exported = client.post(f"{manage_path}/export", data={"csrf_token": csrf_token(page.text)})
    data = json.loads(exported.data)
    assert data["profile"]["email"] == "ana.sousa@example.org"
    assert [c["action"] for c in data["consent_history"]][:2] == ["given", "confirmed"]
    assert data["consent_history"][0]["consent_version"]
    assert len(data["deliveries"]) == 2

    # A list mail carries RFC 8058 headers; a one-click POST unsubscribes without a session.
    assert announce(rt) == 1
    rt.sender.drain()
    news = smtp.messages[-1].message
    assert news["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    target = re.match(r"<(http[^>]+)>", news["List-Unsubscribe"]).group(1)
    path = target.removeprefix(BASE)
    assert client.get(path).status_code == 200
    assert member(rt, "ana.sousa@example.org").status == "active"  # the GET changed nothing
    fresh = client.application.test_client()  # no cookies, no CSRF token
    assert fresh.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert member(rt, "ana.sousa@example.org").status == "unsubscribed"
    with rt.new_session() as s:
        withdrawn = (
            s.execute(
                select(ConsentEvent).where(
                    ConsentEvent.member_id == ana.id, ConsentEvent.action == "withdrawn"
                )
            )
            .scalars()
            .all()
        )
    assert withdrawn and withdrawn[0].source == "one-click"

    # No further list mail.
    sent_before = len(smtp.messages)
    assert announce(rt, "Third workshop") == 0
    rt.sender.drain()
    assert len(smtp.messages) == sent_before

    # Erase: personal data gone, only a hash kept, old links dead.
    page = client.get(manage_path)
    erased = client.post(
        f"{manage_path}/erase", data={"csrf_token": csrf_token(page.text), "sure": "y"}
    )
    assert erased.status_code == 200
    gone = member(rt, member_id=ana.id)
    assert gone.status == "erased" and gone.email is None and gone.name == ""
    with rt.new_session() as s:
        assert s.execute(select(Suppression)).scalars().one().reason == "erased"
        rows = s.execute(select(Delivery).where(Delivery.recipient_id == ana.id)).scalars().all()
        assert rows and all(d.address == "" and d.personal == {} for d in rows)
    assert client.get(manage_path).status_code == 400
    assert client.get(path).status_code == 400


def test_unsubscribe_by_the_page_button(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    from tests.factories import make_member

    lst = make_list(session, rt.clock())
    ana = make_member(session, rt.clock(), lists_=(lst,))
    announce(rt)
    rt.sender.drain()
    path = link(smtp.messages[-1].message, "unsubscribe")
    page = client.get(path)
    assert "Unsubscribe" in page.text
    assert member(rt, member_id=ana.id).status == "active"
    assert "<button" in page.text and "already unsubscribed" not in page.text
    done = client.post(path)
    assert done.status_code == 200 and "unsubscribed" in done.text
    assert member(rt, member_id=ana.id).status == "unsubscribed"
    # Back on the link later: nothing left to end, so it says so, with no button to press again.
    again = client.get(path)
    assert "You are already unsubscribed from Frontline Practitioners Network" in again.text
    assert "<button" not in again.text and "/manage/" in again.text


def test_unsubscribe_during_a_campaign_stops_the_rest(
    rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    from subscribers.people.preferences import unsubscribe
    from tests.factories import make_member

    lst = make_list(session, rt.clock())
    people = [
        make_member(session, rt.clock(), lists_=(lst,), email=f"m{i}@example.org") for i in range(5)
    ]
    announce(rt)
    with transaction(rt.new_session()) as s:
        unsubscribe(s, s.get(Member, people[3].id), now=rt.clock())
    report = rt.sender.drain()
    assert report.sent == 4 and report.skipped == 1
    assert "m3@example.org" not in {m.rcpt_tos[0] for m in smtp.messages}


def test_the_same_answer_for_new_and_known_addresses(
    client: FlaskClient, rt: Runtime, session
) -> None:
    make_list(session, rt.clock())
    first = register(client, "known@example.org")
    with transaction(rt.new_session()) as s:
        s.get(Member, member(rt, "known@example.org").id).status = "active"
    # Past the 10-minute window: a repeat within it says "try again in N minutes", for a
    # member's address as for a stranger's (tests/web/test_honest_pages.py).
    rt.clock.advance(minutes=10)
    known = register(client, "known@example.org")
    new = register(client, "new@example.org")
    strip = re.compile(r'value="[^"]*"')  # CSRF tokens only: the pages hold no other values
    assert strip.sub("", known) == strip.sub("", new) == strip.sub("", first)


def test_a_known_member_gets_the_manage_link_once_per_ten_minutes(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    from tests.factories import make_member

    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,), email="known@example.org")
    register(client, "known@example.org")
    register(client, "known@example.org")
    rt.sender.drain()
    assert [m.message["Subject"] for m in smtp.messages] == ["You are already registered"]
    assert "/manage/" in text_of(smtp.messages[0].message)
    rt.clock.advance(minutes=11)
    register(client, "known@example.org")
    rt.sender.drain()
    assert len(smtp.messages) == 2


def test_a_form_posted_without_a_language_gets_the_language_of_the_page(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    """A sign-up form on the network's own site, or a script, may leave out the selector: the
    mail then speaks the language the visitor reads, not English."""
    make_list(session, rt.clock())
    slovak = {"Accept-Language": "sk,en;q=0.5"}
    page = client.get("/register", headers=slovak)
    data = {
        "csrf_token": csrf_token(page.text),
        "email": "lucia@example.sk",
        "name": "Lucia Nováková",
        "lists": "practitioners",
        "consent": "y",
    }
    assert client.post("/register", data=data, headers=slovak).status_code == 200
    rt.sender.drain()
    confirmation = smtp.messages[-1].message
    assert confirmation["Content-Language"] == "sk"
    assert member(rt, "lucia@example.sk").language == "sk"  # type: ignore[union-attr]
