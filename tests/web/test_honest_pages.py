"""Public pages say what happened (issue 12.4), without telling a stranger who is registered.

- An old confirmation link used after unsubscribing does not say "confirmed": the member stays
  unsubscribed and the page says so, with the way back (registering again).
- Registering the same address again within the 10-minute window sends nothing, and the page
  says so and when to try again, instead of "We have sent a message".

Enumeration: the hold depends only on when this address was last sent a registration mail, and
the first registration of *any* address (unknown, pending or a member's) sends one and starts
the window. So the two pages a stranger can get (sent / try again in N minutes) come out the
same for a member's address and for an address nobody registered; the last test shows it.
"""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.outbox import Campaign
from subscribers.core.models import Member
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP
from tests.web.test_tokens import registration_answer as register
from tests.web.test_tokens import token_in

SENT = "We have sent a message to the address you gave."


def main_text(page: str) -> str:
    """The page's <main>, the part that answers (the layout around it is the same for all)."""
    found = re.search(r"<main.*?</main>", page, re.S)
    assert found
    return found.group(0)


def campaigns(rt: Runtime) -> int:
    with rt.new_session() as s:
        return int(s.execute(select(func.count()).select_from(Campaign)).scalar_one())


def confirm(client: FlaskClient, token: str) -> str:
    page = client.get(f"/confirm/{token}")
    answer = client.post(f"/confirm/{token}", data={"csrf_token": csrf_token(page.text)})
    assert answer.status_code == 200
    return answer.text


def member_status(rt: Runtime, email: str) -> str:
    with rt.new_session() as s:
        return s.execute(select(Member.status).where(Member.email == email)).scalar_one()


def test_an_old_confirmation_link_after_unsubscribing_does_not_say_confirmed(
    client: FlaskClient,
    rt: Runtime,
    smtp: ScriptedSMTP,
    session,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    register(client, "ana@example.org")
    rt.sender.drain()
    token = token_in(smtp.messages[-1].message, "confirm")
    assert "Your registration is confirmed." in confirm(client, token)
    again = confirm(client, token)  # a second click: true, and said so
    assert "Your registration was already confirmed." in again

    with rt.new_session() as s:
        ana = s.execute(select(Member).where(Member.email == "ana@example.org")).scalar_one()
        assert ana.id is not None
        unsubscribe = rt.kit.signer.sign("unsubscribe", ana.id, ana.nonce, "")  # as in mail
    assert client.post(f"/unsubscribe/{unsubscribe}").status_code == 200
    assert member_status(rt, "ana@example.org") == "unsubscribed"

    late = confirm(client, token)
    assert "confirmed" not in main_text(late)
    assert "You are not subscribed" in late and 'href="/register"' in late
    assert member_status(rt, "ana@example.org") == "unsubscribed"


def test_registering_again_within_ten_minutes_says_when_to_try_again(
    client: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    assert SENT in register(client, "ana@example.org")
    assert campaigns(rt) == 1

    held = register(client, "ana@example.org")
    assert SENT not in held
    assert "we did not send another" in held and "try again in 10 minutes" in held
    rt.clock.advance(minutes=9, seconds=1)
    assert "try again in 1 minute." in register(client, "ana@example.org")
    assert campaigns(rt) == 1

    rt.clock.advance(seconds=59)  # ten minutes since the mail: a new one goes
    assert SENT in register(client, "ana@example.org")
    assert campaigns(rt) == 2


def test_the_answers_do_not_tell_a_stranger_who_is_registered(
    client: FlaskClient,
    rt: Runtime,
    session,  # type: ignore[no-untyped-def]
) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), email="member@example.org", lists_=(lst,))
    rt.clock.advance(days=30)
    first = [main_text(register(client, a)) for a in ("member@example.org", "nobody@example.org")]
    second = [main_text(register(client, a)) for a in ("member@example.org", "nobody@example.org")]
    assert first[0] == first[1] and SENT in first[0]
    assert second[0] == second[1] and "try again in 10 minutes" in second[0]
    assert campaigns(rt) == 2  # one "already a member" note, one confirmation
