"""Erasing a member who holds a seat or waits for one: the seat is freed, the line moves up."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import update

from subscribers.core.db import transaction
from subscribers.core.errors import NotFound
from subscribers.core.models import ERASED, Member
from subscribers.invitations import events, rsvp
from subscribers.people import preferences
from subscribers.runtime import Runtime
from tests.invitations.helpers import (
    answer,
    create,
    invite,
    network,
    recipients_of,
    statuses,
)


def erase(rt: Runtime, member: Member) -> None:
    with transaction(rt.new_session()) as s:
        preferences.erase(s, rt.kit, s.get(Member, member.id), now=rt.clock())


def resend(rt: Runtime, event_id: int, member: Member) -> Member:
    with transaction(rt.new_session()) as s:
        return rsvp.resend_join_link(s, rt.kit, event_id, member.id or 0, now=rt.clock())


def full_event(rt: Runtime, session) -> tuple[int, list[Member]]:  # type: ignore[no-untyped-def]
    """One seat: Ana has it, Piotr then Ion wait."""
    _, people = network(session, rt)
    event_id = create(rt, capacity=1)
    invite(rt, event_id)
    for member in people:
        answer(rt, event_id, member, "yes")
    return event_id, people


def raise_capacity(rt: Runtime, event_id: int) -> int:
    """Five seats instead of one; returns how many were promoted."""
    with transaction(rt.new_session()) as s:
        spec = dataclasses.replace(events.spec_of(s, events.get(s, event_id)), capacity=5)
        return events.update_event(s, rt.kit, event_id, spec, now=rt.clock()).promoted


def test_erasing_a_seat_holder_gives_the_seat_to_the_first_in_line(rt: Runtime, session) -> None:
    event_id, (ana, piotr, ion) = full_event(rt, session)
    assert statuses(rt, event_id) == {ana.id: "yes", piotr.id: "waiting", ion.id: "waiting"}

    erase(rt, ana)
    # Ana's answer is gone with her data; Piotr, first in line, has the seat and is told.
    assert statuses(rt, event_id) == {piotr.id: "yes", ion.id: "waiting"}
    assert recipients_of(rt, "rsvp_confirmation")[-1] == "piotr@example.org"
    assert resend(rt, event_id, piotr).id == piotr.id


def test_after_erasing_someone_in_line_answers_capacity_and_join_links_still_work(
    rt: Runtime, session
) -> None:
    event_id, (ana, piotr, ion) = full_event(rt, session)
    erase(rt, piotr)
    assert statuses(rt, event_id) == {ana.id: "yes", ion.id: "waiting"}

    # Ana's "no" frees the seat: it goes to Ion, not to the erased Piotr.
    assert [m.id for m in answer(rt, event_id, ana, "no").promoted] == [ion.id]
    assert resend(rt, event_id, ion).id == ion.id
    with pytest.raises(NotFound):
        resend(rt, event_id, piotr)
    # More seats: nobody left waiting, nothing breaks.
    assert raise_capacity(rt, event_id) == 0


def test_a_member_erased_before_seats_were_released_is_never_promoted(rt: Runtime, session) -> None:
    """Data erased by an older version kept its answers: the waiting list skips it."""
    event_id, (ana, piotr, ion) = full_event(rt, session)
    with transaction(rt.new_session()) as s:  # what erasure used to leave: the row, no address
        s.execute(update(Member).where(Member.id == piotr.id).values(email=None, status=ERASED))

    assert [m.id for m in answer(rt, event_id, ana, "no").promoted] == [ion.id]
    with pytest.raises(NotFound):
        resend(rt, event_id, piotr)
    assert raise_capacity(rt, event_id) == 0
