"""Answering an invitation: the link's page, the POST, tokens, seats and the waiting list."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask.testing import FlaskClient

from subscribers.core.db import transaction
from subscribers.core.errors import Conflict, TokenError
from subscribers.core.models import Member
from subscribers.invitations import rsvp
from subscribers.invitations.event_mails import rsvp_url
from subscribers.people import preferences
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.invitations.helpers import (
    BASE,
    JOIN_URL,
    LISBON,
    answer,
    bodies_of,
    create,
    invite,
    network,
    recipients_of,
    rsvp_links,
    statuses,
    text_of,
)
from tests.smtp_server import ScriptedSMTP


def path(rt: Runtime, member: Member, event_id: int, reply: str) -> str:
    return rsvp_url(rt.kit, member, event_id, reply).removeprefix(BASE)


def post(client: FlaskClient, url: str) -> tuple[int, str]:
    page = client.get(url)
    done = client.post(url, data={"csrf_token": csrf_token(page.text)})
    return done.status_code, done.text


def test_the_link_in_the_mail_shows_a_button_and_only_the_post_answers(
    client: FlaskClient, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt, location="Rua Augusta 10, Lisboa")
    invite(rt, event_id)
    rt.sender.drain()
    links = rsvp_links(smtp.messages[-1].message)

    # A scanner following every link answers nothing.
    for reply in ("yes", "no", "maybe"):
        page = client.get(links[reply])
        assert page.status_code == 200
        assert '<form method="post">' in page.text and "Transnational workshop" in page.text
    assert statuses(rt, event_id) == {ana.id: "invited"}
    assert len(recipients_of(rt, "rsvp_confirmation")) == 0

    page = client.get(links["yes"])
    assert "Yes, I will attend</button>" in page.text
    assert "Rua Augusta 10, Lisboa" in page.text
    assert JOIN_URL not in page.text and "meet.network.test" not in page.text  # members only

    status, text = post(client, links["yes"])
    assert status == 200 and "You are registered" in text
    assert statuses(rt, event_id) == {ana.id: "yes"}
    assert JOIN_URL not in text  # not on a page, even for a yes: by mail only
    rt.sender.drain()
    confirmation = smtp.messages[-1].message
    assert confirmation["Subject"] == "You are registered: Transnational workshop"
    assert JOIN_URL in text_of(confirmation)


def test_a_post_without_the_form_token_changes_nothing(
    client: FlaskClient, rt: Runtime, session
) -> None:
    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt)
    invite(rt, event_id)
    response = client.post(path(rt, ana, event_id, "yes"))
    assert response.status_code == 400
    assert statuses(rt, event_id) == {ana.id: "invited"}


def test_a_token_for_another_event_is_refused(client: FlaskClient, rt: Runtime, session) -> None:
    _, (ana,) = network(session, rt, "ana")
    first, second = create(rt), create(rt, title="Second workshop")
    invite(rt, first)
    invite(rt, second)
    token = path(rt, ana, first, "yes").rsplit("/", 1)[1]
    url = f"/events/{second}/rsvp/{token}"
    assert client.get(url).status_code == 400
    page = client.get(path(rt, ana, second, "yes"))
    response = client.post(url, data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 400 and "not valid" in response.text
    assert statuses(rt, first) == {ana.id: "invited"}
    assert statuses(rt, second) == {ana.id: "invited"}
    with rt.new_session() as s, pytest.raises(TokenError):
        rsvp.read_token(s, rt.kit, second, token)


def test_a_token_for_another_member_is_refused(client: FlaskClient, rt: Runtime, session) -> None:
    _, (ana, piotr) = network(session, rt, "ana", "piotr")
    event_id = create(rt)
    invite(rt, event_id)
    # Piotr's id signed with Ana's nonce (as if Ana edited her link): the nonce gives it away.
    forged = rt.kit.signer.sign("rsvp", piotr.id or 0, ana.nonce, f"{event_id}:yes")
    url = f"/events/{event_id}/rsvp/{forged}"
    assert client.get(url).status_code == 400
    # And Ana's own token with a byte changed to point elsewhere fails its signature.
    token = path(rt, ana, event_id, "yes").rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert client.get(f"/events/{event_id}/rsvp/{tampered}").status_code == 400
    # A token of another purpose (unsubscribe) is no RSVP token.
    other = rt.kit.signer.sign("unsubscribe", ana.id or 0, ana.nonce, f"{event_id}:yes")
    assert client.get(f"/events/{event_id}/rsvp/{other}").status_code == 400
    assert set(statuses(rt, event_id).values()) == {"invited"}


def test_erasure_kills_the_links(client: FlaskClient, rt: Runtime, session) -> None:
    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt)
    invite(rt, event_id)
    url = path(rt, ana, event_id, "yes")
    with transaction(rt.new_session()) as s:
        preferences.erase(s, rt.kit, s.get(Member, ana.id), now=rt.clock())
    assert client.get(url).status_code == 400


def test_the_answer_can_change_until_the_deadline(
    client: FlaskClient, rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt, rsvp_deadline=datetime(2026, 12, 1, 18, 0, tzinfo=LISBON))
    invite(rt, event_id)
    assert post(client, path(rt, ana, event_id, "maybe"))[0] == 200
    assert post(client, path(rt, ana, event_id, "yes"))[0] == 200
    status, text = post(client, path(rt, ana, event_id, "yes"))
    assert status == 200 and "already your answer" in text  # a second click: no new mail
    assert statuses(rt, event_id) == {ana.id: "yes"}
    assert len(recipients_of(rt, "rsvp_confirmation")) == 2

    token = csrf_token(client.get(path(rt, ana, event_id, "no")).text)  # page left open...
    rt.clock.set(datetime(2026, 12, 1, 18, 0, tzinfo=LISBON))  # ...past the deadline
    page = client.get(path(rt, ana, event_id, "no"))
    assert "Answers for this event are closed." in page.text and "<button" not in page.text
    late = client.post(path(rt, ana, event_id, "no"), data={"csrf_token": token})
    assert late.status_code == 409 and "closed" in late.text
    assert statuses(rt, event_id) == {ana.id: "yes"}


def test_when_full_a_yes_waits_and_a_no_gives_the_seat_to_the_first_in_line(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt, capacity=1)
    invite(rt, event_id)
    assert answer(rt, event_id, ana, "yes").status == "yes"
    rt.clock.advance(minutes=1)
    assert answer(rt, event_id, piotr, "yes").status == "waiting"
    rt.clock.advance(minutes=1)
    assert answer(rt, event_id, ion, "yes").status == "waiting"
    rt.sender.drain()
    waiting_mail = [m.message for m in smtp.messages if m.rcpt_tos == ["piotr@example.org"]][-1]
    assert waiting_mail["Subject"] == "Waiting list: Transnational workshop"
    assert "waiting list" in text_of(waiting_mail) and JOIN_URL not in text_of(waiting_mail)

    # Saying yes again keeps one's place in line; "maybe" frees nothing for a waiting member.
    assert answer(rt, event_id, piotr, "yes").changed is False
    before = len(smtp.messages)
    outcome = answer(rt, event_id, ana, "no")
    assert [m.email for m in outcome.promoted] == ["piotr@example.org"]  # first in line
    assert statuses(rt, event_id) == {ana.id: "no", piotr.id: "yes", ion.id: "waiting"}
    rt.sender.drain()
    promoted = [m.message for m in smtp.messages[before:] if m.rcpt_tos == ["piotr@example.org"]]
    assert len(promoted) == 1
    assert "a place has become free" in text_of(promoted[0])
    assert JOIN_URL in text_of(promoted[0])

    # Ana changes her mind: the event is full again, so she joins the line behind Ion.
    rt.clock.advance(minutes=1)
    assert answer(rt, event_id, ana, "yes").status == "waiting"
    assert answer(rt, event_id, piotr, "maybe").promoted[0].email == "ion@example.org"
    assert statuses(rt, event_id)[ion.id] == "yes"
    with rt.new_session() as s:
        assert rsvp.seats_taken(s, rsvp.lookup.get(s, event_id)) == 1


def test_more_seats_in_an_update_go_to_the_waiting_list(rt: Runtime, session) -> None:
    from subscribers.invitations import events
    from tests.invitations.helpers import spec

    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt, capacity=1)
    invite(rt, event_id)
    for member in (ana, piotr, ion):
        answer(rt, event_id, member, "yes")
        rt.clock.advance(seconds=5)
    with transaction(rt.new_session()) as s:
        outcome = events.update_event(s, rt.kit, event_id, spec(capacity=2), now=rt.clock())
    assert outcome.promoted == 1 and outcome.mailed == 0
    assert statuses(rt, event_id) == {ana.id: "yes", piotr.id: "yes", ion.id: "waiting"}


def test_no_answers_once_cancelled(rt: Runtime, session) -> None:
    from subscribers.invitations import events

    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt)
    invite(rt, event_id)
    with transaction(rt.new_session()) as s:
        events.cancel_event(s, rt.kit, event_id, now=rt.clock())
    with pytest.raises(Conflict, match="cancelled"):
        answer(rt, event_id, ana, "yes")


def test_the_join_link_reaches_only_those_who_said_yes(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "maybe")
    answer(rt, event_id, ion, "no")
    rt.sender.drain()
    with_link = {m.rcpt_tos[0] for m in smtp.messages if JOIN_URL in bodies_of(m.message)}
    assert with_link == {"ana@example.org"}
    with rt.new_session() as s:
        member = rsvp.resend_join_link(s, rt.kit, event_id, ana.id or 0, now=rt.clock())
        assert member.email == "ana@example.org"
        with pytest.raises(rsvp.NotFound):
            rsvp.resend_join_link(s, rt.kit, event_id, piotr.id or 0, now=rt.clock())
