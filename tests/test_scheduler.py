"""Digests on schedule: DST, missed slots, empty weeks, once per period (injected clock)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

import scheduler
from mailer.outbox import Campaign
from subscribers.content import digests, news
from subscribers.core.db import transaction
from subscribers.core.models import NewsItem
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member

LISBON = ZoneInfo("Europe/Lisbon")


def weekly_list(session, rt: Runtime):  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock(), digest_cron="0 9 * * mon", timezone="Europe/Lisbon")
    make_member(session, rt.clock(), lists_=(lst,))
    return lst


def queue_item(rt: Runtime, title: str) -> None:
    with transaction(rt.new_session()) as s:
        news.add(
            s, "practitioners", title=title, body=f"{title}: details.", link=None, now=rt.clock()
        )


def digests_sent(rt: Runtime) -> list[Campaign]:
    with rt.new_session() as s:
        return list(
            s.execute(
                select(Campaign).where(Campaign.kind == "digest").order_by(Campaign.id)
            ).scalars()
        )


def test_weekly_digest_fires_at_nine_lisbon_time_across_both_dst_changes() -> None:
    trigger = digests.digest_trigger(
        type("L", (), {"digest_cron": "0 9 * * mon", "timezone": "Europe/Lisbon"})()
    )
    for start in (datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 10, 12, tzinfo=UTC)):
        fires, previous, cursor = [], None, start
        for _ in range(4):
            previous = trigger.get_next_fire_time(previous, cursor)
            fires.append(previous)
            cursor = previous + timedelta(seconds=1)
        local = [f.astimezone(LISBON) for f in fires]
        assert all(t.weekday() == 0 and (t.hour, t.minute) == (9, 0) for t in local)
        assert [(b - a).days for a, b in zip(local, local[1:], strict=False)] == [7, 7, 7]
        # One of the four weeks crosses a DST change: UTC hours differ, local ones do not.
        assert len({f.astimezone(UTC).hour for f in fires}) == 2


def test_latest_slot_is_the_last_fire_time_not_after_now() -> None:
    trigger = digests.digest_trigger(
        type("L", (), {"digest_cron": "0 9 * * mon", "timezone": "Europe/Lisbon"})()
    )
    summer_monday = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # 09:00 WEST
    assert digests.latest_slot(trigger, summer_monday) == summer_monday
    assert digests.latest_slot(trigger, summer_monday - timedelta(seconds=1)) == datetime(
        2026, 3, 23, 9, 0, tzinfo=UTC
    )


def test_three_missed_slots_give_one_digest(rt: Runtime, session) -> None:
    weekly_list(session, rt)
    scheduler.bind(rt)
    rt.clock.set(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    queue_item(rt, "Workshop report")
    rt.clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))  # three Mondays later
    assert "with 1 news item queued" in scheduler.send_digest("practitioners")
    assert "already sent" in scheduler.send_digest("practitioners")  # a second run, same slot
    sent = digests_sent(rt)
    assert len(sent) == 1 and sent[0].ref.endswith("2026-11-23T09:00:00+00:00")


def test_an_empty_week_sends_nothing_and_late_items_wait_for_the_next(rt: Runtime, session) -> None:
    weekly_list(session, rt)
    scheduler.bind(rt)
    rt.clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    assert "nothing queued" in scheduler.send_digest("practitioners")
    queue_item(rt, "Announced after the digest ran")
    assert "already" not in scheduler.send_digest("practitioners")  # same slot, now has news
    rt.clock.set(datetime(2026, 11, 30, 9, 0, 5, tzinfo=UTC))
    queue_item(rt, "Next week's news")
    assert "with 1 news item queued" in scheduler.send_digest("practitioners")
    with rt.new_session() as s:
        items = s.execute(select(NewsItem).order_by(NewsItem.id)).scalars().all()
    assert [i.status for i in items] == ["sent", "sent"]
    assert items[0].digest_campaign_id != items[1].digest_campaign_id


def test_two_workers_queue_one_digest_per_period(rt: Runtime, session) -> None:
    weekly_list(session, rt)
    queue_item(rt, "Only once")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        with transaction(rt.new_session()) as s:
            outcomes.append(
                digests.create_digest(
                    s, rt.kit, "practitioners", now=rt.clock(), period="2026-11-23T09:00"
                ).describe()
            )

    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(digests_sent(rt)) == 1
    assert sum("digest" in o and "queued for 1" in o for o in outcomes) == 1


def test_jobs_coalesce_missed_runs() -> None:
    assert scheduler.JOB_DEFAULTS["coalesce"] is True
    assert scheduler.JOB_DEFAULTS["misfire_grace_time"] >= 7 * 24 * 3600


def test_purge_job_removes_stale_registrations(rt: Runtime, session) -> None:
    from subscribers.core.models import Member

    make_member(session, rt.clock(), status="pending", confirmed_at=None)
    scheduler.bind(rt)
    assert scheduler.purge_unconfirmed() == 0
    rt.clock.advance(days=7, seconds=1)
    assert scheduler.purge_unconfirmed() == 1
    with rt.new_session() as s:
        assert s.execute(select(Member)).first() is None


def test_purge_job_removes_old_rate_limit_counters(rt: Runtime, session) -> None:
    from subscribers.core.models import Throttle
    from subscribers.people import throttle

    throttle.hit(
        session, "register-ip:198.51.100.9", limit=5, window=timedelta(hours=1), now=rt.clock()
    )
    session.commit()
    scheduler.bind(rt)
    assert scheduler.purge_throttle() == 0
    rt.clock.advance(days=2, seconds=1)
    assert scheduler.purge_throttle() == 1
    with rt.new_session() as s:
        assert s.execute(select(Throttle)).first() is None


def test_purge_job_forgets_workers_gone_for_a_week_unless_they_hold_rows(rt: Runtime) -> None:
    from sqlalchemy import update

    from mailer import outbox, workers
    from tests.mailer.test_sender import queue

    queue(rt.new_session, rt.clock, ["held@example.org"])
    with transaction(rt.new_session()) as s:
        gone = workers.register(s, now=rt.clock())
        holding = workers.register(s, now=rt.clock())
        # A row left in sending by a worker that died: it must still say whose it is.
        s.execute(update(outbox.Delivery).values(state=outbox.SENDING, worker_id=holding.id))
        gone_id, holding_id = gone.id, holding.id
    scheduler.bind(rt)
    rt.clock.advance(days=7)
    assert scheduler.purge_workers() == 0  # a week to the second: not yet
    with transaction(rt.new_session()) as s:
        alive_id = workers.register(s, now=rt.clock()).id
    rt.clock.advance(seconds=1)
    assert scheduler.purge_workers() == 1
    with rt.new_session() as s:
        left = {w.id for w in s.execute(select(workers.Worker)).scalars()}
    assert left == {holding_id, alive_id} and gone_id not in left
