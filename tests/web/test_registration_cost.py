"""What one registration costs the database: statements counted as they go to the driver.

At 50 sign-ups a second (a registration link shared widely) every round trip to PostgreSQL is
paid 50 times a second while a campaign may be draining (issue 19). ``bench/
serve_while_draining.py`` prints the same count beside its latencies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select, text

from mailer.outbox import Delivery
from subscribers.core.db import make_engine, transaction
from subscribers.core.models import ConsentEvent, MailingList, Member, Subscription
from subscribers.people.registration import OfferedLists
from subscribers.runtime import Runtime
from tests.conftest import csrf_token, on_postgres
from tests.factories import make_list

# The work of a new address: count the address's attempt, insert the member (which also tells
# whether an erasure's suppression is to be lifted and whether any webhook is set up), insert
# its subscriptions (to the lists still public) and consent records, insert the confirmation's
# campaign and delivery. The offered lists come from the copy the form was shown from
# (registration.OfferedLists). BEGIN and COMMIT are not counted (every transaction has them).
# It was 17 before issue 19, then 9 (the lists read, the suppression and the webhooks asked).
NEW_ADDRESS_STATEMENTS = 6
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen.append(" ".join(statement.split())[:100])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def form(token: str, email: str, lists: str = "practitioners") -> dict[str, str]:
    return {
        "csrf_token": token,
        "email": email,
        "name": "Ana Sousa",
        "country": "PT",
        "sector": "police",
        "language": "en",
        "lists": lists,
        "consent": "y",
        "consent_wording": "1",  # as the page sends back the wording it showed (see token)
    }


@pytest.fixture
def token(rt: Runtime, client: FlaskClient) -> str:
    with transaction(rt.new_session()) as s:
        make_list(s, rt.clock())
        make_list(s, rt.clock(), slug="researchers", name="Researchers")
    page = client.get("/register").text
    assert 'name="consent_wording" value="1"' in page  # version 1 in English
    return csrf_token(page)


@pytest.mark.parametrize("lists", ["practitioners", "researchers"])
def test_a_new_address_registers_in_a_handful_of_statements(
    rt: Runtime, client: FlaskClient, engine: Engine, token: str, lists: str
) -> None:
    with statements(engine) as seen:
        answer = client.post(
            "/register", data=form(token, "ana@example.org", lists), environ_base=REMOTE
        )
    assert answer.status_code == 200 and "inbox" in answer.text
    assert len(seen) <= NEW_ADDRESS_STATEMENTS, seen
    with rt.new_session() as s:
        for model in (Member, Subscription, ConsentEvent, Delivery):
            assert s.execute(select(func.count()).select_from(model)).scalar_one() == 1


def test_two_lists_cost_no_more_than_one(
    rt: Runtime, client: FlaskClient, engine: Engine, token: str
) -> None:
    data = form(token, "ana@example.org") | {"lists": ["practitioners", "researchers"]}
    with statements(engine) as seen:
        assert client.post("/register", data=data, environ_base=REMOTE).status_code == 200
    assert len(seen) <= NEW_ADDRESS_STATEMENTS, seen
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Subscription)).scalar_one() == 2
        assert s.execute(select(func.count()).select_from(ConsentEvent)).scalar_one() == 2


REMOTE = {"REMOTE_ADDR": "198.51.100.9"}


@pytest.mark.skipif(on_postgres(), reason="SQLite's single write lock")
def test_the_form_is_checked_before_the_write_lock_is_taken(
    rt: Runtime, engine: Engine, token: str, client: FlaskClient
) -> None:
    """A registration reads its lists and checks its form without SQLite's write lock, so the
    lock, which a draining worker wants hundreds of times a second, is held for the writes
    alone. With the lists read in the write transaction, this answer would wait for the lock
    (here at most 0.2 s) and fail."""
    from subscribers.web import create_app

    impatient = make_engine(str(engine.url), busy_timeout=0.2)
    app = create_app(rt.settings, runtime=Runtime.build(rt.settings, engine=impatient))
    browser = app.test_client()
    fresh = csrf_token(browser.get("/register").text)
    with engine.connect() as writer:
        writer.execute(text("UPDATE mailing_list SET name = name"))  # BEGIN IMMEDIATE: locked
        answer = browser.post("/register", data=form(fresh, "not an address"), environ_base=REMOTE)
        writer.rollback()
    assert answer.status_code == 400, answer.text
    assert "email" in answer.text.lower()
    impatient.dispose()


def test_a_list_no_longer_public_is_refused_though_the_form_offered_it(
    rt: Runtime, client: FlaskClient, token: str
) -> None:
    """The form (and the process's copy of the lists) offered "researchers"; staff made it
    private since: the registration is refused and leaves nothing, and the form reads again."""
    with transaction(rt.new_session()) as s:
        s.execute(text("UPDATE mailing_list SET public = false WHERE slug = 'researchers'"))
    data = form(token, "ana@example.org") | {"lists": ["practitioners", "researchers"]}
    answer = client.post("/register", data=data, environ_base=REMOTE)
    assert answer.status_code == 400 and "Please choose lists from the form" in answer.text
    with rt.new_session() as s:
        for model in (Member, Subscription, ConsentEvent, Delivery):
            assert s.execute(select(func.count()).select_from(model)).scalar_one() == 0
    again = client.post("/register", data=data, environ_base=REMOTE)
    assert again.status_code == 400 and 'value="researchers"' not in again.text


def test_a_known_address_is_refused_a_list_no_longer_public(
    rt: Runtime, client: FlaskClient, token: str
) -> None:
    assert client.post("/register", data=form(token, "ana@example.org"), environ_base=REMOTE)
    with transaction(rt.new_session()) as s:
        s.execute(text("UPDATE mailing_list SET public = false WHERE slug = 'researchers'"))
    data = form(token, "ana@example.org", "researchers")
    answer = client.post("/register", data=data, environ_base=REMOTE)
    assert answer.status_code == 400 and "Please choose lists from the form" in answer.text
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Subscription)).scalar_one() == 1


def test_a_list_made_public_after_the_form_was_read_is_offered(
    rt: Runtime, client: FlaskClient, token: str
) -> None:
    with transaction(rt.new_session()) as s:
        make_list(s, rt.clock(), slug="trainers", name="Trainers")
    data = form(token, "ana@example.org", "trainers")
    assert client.post("/register", data=data, environ_base=REMOTE).status_code == 200
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Subscription)).scalar_one() == 1


def test_the_copy_of_the_lists_is_read_again_when_old() -> None:
    now = [0.0]
    offered = OfferedLists(max_age=60, clock=lambda: now[0])
    reads: list[str] = []

    def read() -> list[MailingList]:
        reads.append("read")
        return [MailingList(id=1, slug="practitioners", name=f"Name {len(reads)}")]

    assert offered.lists(["practitioners"], read)[0].name == "Name 1"
    now[0] = 59
    assert offered.lists(["practitioners"], read)[0].name == "Name 1"
    now[0] = 61
    assert offered.lists(["practitioners"], read)[0].name == "Name 2"
    offered.forget()
    assert offered.lists([], read)[0].name == "Name 3"
