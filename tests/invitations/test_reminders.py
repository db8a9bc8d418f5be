"""Reminders to those who said yes, timed with an injected clock (never a sleep)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import scheduler
from subscribers.core.db import transaction
from subscribers.invitations import events
from subscribers.invitations.reminders import send_due_reminders
from subscribers.runtime import Runtime
from tests.invitations.helpers import (
    JOIN_URL,
    LISBON,
    answer,
    bodies_of,
    campaigns,
    create,
    invite,
    network,
    recipients_of,
    spec,
)
from tests.smtp_server import ScriptedSMTP

START = datetime(2026, 12, 10, 14, 0, tzinfo=LISBON)  # 14:00 UTC (winter)


def run(rt: Runtime) -> int:
    with transaction(rt.new_session()) as s:
        return send_due_reminders(s, rt.clock(), kit=rt.kit)


def answered(rt: Runtime, session, **overrides) -> int:  # type: ignore[no-untyped-def]
    _, (ana, piotr, ion) = network(session, rt)
    event_id = create(rt, **overrides)
    invite(rt, event_id)
    answer(rt, event_id, ana, "yes")
    answer(rt, event_id, piotr, "no")
    answer(rt, event_id, ion, "maybe")
    return event_id


def test_24_hours_and_1_hour_before_to_those_who_said_yes_once_each(
    rt: Runtime, session, smtp: ScriptedSMTP
) -> None:
    event_id = answered(rt, session)
    rt.clock.set(START - timedelta(hours=24, seconds=1))
    assert run(rt) == 0
    rt.clock.set(START - timedelta(hours=24))
    assert run(rt) == 1
    assert run(rt) == 0  # the job runs again a minute later, or on a second worker: once
    rt.clock.advance(minutes=1)
    assert run(rt) == 0
    [day_before] = campaigns(rt, "reminder")
    assert day_before.ref == f"reminder:{event_id}:1440"
    assert day_before.subject == "Reminder: Transnational workshop starts in 24 hours"

    rt.clock.set(START - timedelta(minutes=61))
    assert run(rt) == 0
    rt.clock.set(START - timedelta(minutes=60))
    assert run(rt) == 1 and run(rt) == 0
    assert [c.ref for c in campaigns(rt, "reminder")] == [
        f"reminder:{event_id}:1440",
        f"reminder:{event_id}:60",
    ]
    assert recipients_of(rt, "reminder") == ["ana@example.org", "ana@example.org"]

    rt.sender.drain()
    reminders = [m.message for m in smtp.messages if m.message["Subject"].startswith("Reminder")]
    assert [m["Subject"] for m in reminders] == [
        "Reminder: Transnational workshop starts in 24 hours",
        "Reminder: Transnational workshop starts in 1 hour",
    ]
    assert all(JOIN_URL in bodies_of(m) for m in reminders)  # the join link, to a yes
    rt.clock.set(START)
    assert run(rt) == 0  # started: nothing more


def test_reminder_offsets_are_per_event(rt: Runtime, session) -> None:
    event_id = answered(rt, session, reminders=(2 * 1440, 30))
    rt.clock.set(START - timedelta(days=2, seconds=1))
    assert run(rt) == 0
    rt.clock.set(START - timedelta(days=2))
    assert run(rt) == 1
    rt.clock.set(START - timedelta(hours=24))
    assert run(rt) == 0  # not a reminder time for this event
    rt.clock.set(START - timedelta(minutes=30))
    assert run(rt) == 1
    assert [c.subject.rsplit(" in ", 1)[1] for c in campaigns(rt, "reminder")] == [
        "2 days",
        "30 minutes",
    ]
    no_reminders = create(rt, title="Quiet event", reminders=())
    rt.clock.set(START - timedelta(minutes=10))
    assert run(rt) == 0 and event_id != no_reminders


def test_a_worker_down_for_the_day_sends_one_late_reminder_not_two(rt: Runtime, session) -> None:
    answered(rt, session)
    rt.clock.set(START - timedelta(hours=3))
    assert run(rt) == 1
    [late] = campaigns(rt, "reminder")
    assert late.subject.endswith("starts in 3 hours")  # what is really left
    rt.clock.set(START - timedelta(hours=1))
    assert run(rt) == 1


def test_no_reminder_to_those_who_declined_or_after_a_cancellation(rt: Runtime, session) -> None:
    event_id = answered(rt, session)
    rt.clock.set(START - timedelta(hours=24))
    assert run(rt) == 1
    with transaction(rt.new_session()) as s:
        events.cancel_event(s, rt.kit, event_id, now=rt.clock())
    [day_before] = campaigns(rt, "reminder")
    assert day_before.status == "cancelled"  # not yet sent: it never will be
    rt.clock.set(START - timedelta(hours=1))
    assert run(rt) == 0
    assert recipients_of(rt, "reminder") == ["ana@example.org"]


def test_nobody_said_yes_means_no_reminder_yet(rt: Runtime, session) -> None:
    _, (ana,) = network(session, rt, "ana")
    event_id = create(rt)
    invite(rt, event_id)
    rt.clock.set(START - timedelta(hours=24))
    assert run(rt) == 0 and campaigns(rt, "reminder") == []
    rt.clock.set(START - timedelta(hours=20))
    answer(rt, event_id, ana, "yes")
    assert run(rt) == 1  # a late yes still gets the day-before reminder, saying what is left
    assert campaigns(rt, "reminder")[0].subject.endswith("starts in 20 hours")


def test_a_moved_event_is_reminded_again_for_its_new_time(rt: Runtime, session) -> None:
    event_id = answered(rt, session)
    rt.clock.set(START - timedelta(hours=24))
    assert run(rt) == 1
    later = START + timedelta(days=7)
    with transaction(rt.new_session()) as s:
        events.update_event(s, rt.kit, event_id, spec(start=later), now=rt.clock())
    assert run(rt) == 0
    rt.clock.set(later - timedelta(hours=24))
    assert run(rt) == 1
    refs = [c.ref for c in campaigns(rt, "reminder")]
    assert refs == [f"reminder:{event_id}:1440:moved0", f"reminder:{event_id}:1440"]


def test_the_scheduler_runs_reminders_every_minute(rt: Runtime, session) -> None:
    answered(rt, session)
    jobs = scheduler.build_scheduler(rt)
    job = jobs.get_job("event-reminders")
    assert job is not None and job.func_ref == "scheduler:send_event_reminders"
    now = datetime(2026, 12, 9, 14, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, now) - now <= timedelta(minutes=1)
    rt.clock.set(START - timedelta(hours=24))
    assert scheduler.send_event_reminders() == 1
    assert scheduler.send_event_reminders() == 0
