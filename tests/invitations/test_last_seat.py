"""Two members take the last seat at the same moment: one gets it, the other waits.

Meant for PostgreSQL (NEWSLETTER_TEST_DATABASE_URL), where the two transactions really run at
once and the event row lock (SELECT ... FOR UPDATE) decides; on SQLite, BEGIN IMMEDIATE makes
the second wait for the first, and the test holds as well.
"""

from __future__ import annotations

import threading
from typing import Any

from subscribers.core.db import transaction
from subscribers.core.models import Member
from subscribers.invitations import rsvp
from subscribers.runtime import Runtime
from tests.conftest import on_postgres
from tests.factories import make_member
from tests.invitations.helpers import answer, create, invite, network, statuses

ROUNDS = 8 if on_postgres() else 2


def race(rt: Runtime, event_id: int, members: list[Member]) -> list[Any]:
    """Each member answers "yes" in a thread of its own, with its own session, all at once."""
    barrier = threading.Barrier(len(members))
    results: list[Any] = [None] * len(members)

    def take(index: int, member: Member) -> None:
        session = rt.new_session()
        try:
            barrier.wait(timeout=10)
            with transaction(session):
                results[index] = rsvp.respond(
                    session, rt.kit, event_id, member, "yes", now=rt.clock()
                ).status
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            results[index] = err
        finally:
            session.close()

    threads = [threading.Thread(target=take, args=(i, m)) for i, m in enumerate(members)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_yes_for_the_last_seat_give_one_seat_and_one_place_in_line(
    rt: Runtime, session
) -> None:
    lst, (ana,) = network(session, rt, "ana")
    racers = [
        make_member(session, rt.clock(), lists_=(lst,), email=f"m{i}@example.org", name=f"M {i}")
        for i in range(2 * ROUNDS)
    ]
    for round_ in range(ROUNDS):
        event_id = create(rt, capacity=2, title=f"Workshop {round_}")
        invite(rt, event_id)
        assert answer(rt, event_id, ana, "yes").status == "yes"  # one seat left
        pair = racers[2 * round_ : 2 * round_ + 2]
        results = race(rt, event_id, pair)
        assert sorted(results) == ["waiting", "yes"], results
        taken = statuses(rt, event_id)
        assert sorted(taken[m.id] for m in pair) == ["waiting", "yes"]
        with rt.new_session() as s:
            assert rsvp.seats_taken(s, rsvp.lookup.get(s, event_id)) == 2
