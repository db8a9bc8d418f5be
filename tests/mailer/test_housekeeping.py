"""The housekeeping job: delivery rows past the retention period folded into campaign figures.

The outbox must not grow without bound, yet every figure staff read stays the same, unfinished
campaigns are never touched, and what a member's data export shows besides those old mails
(profile, subscriptions, consent, answers, bounces) is kept.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import scheduler
from mailer import outbox
from mailer.compose import RenderedMail
from mailer.outbox import Delivery, Recipient
from subscribers.content import campaigns
from subscribers.core.db import transaction
from subscribers.core.models import Member
from subscribers.core.settings import SettingsError, load
from subscribers.insight import deliverability
from subscribers.people import preferences
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member

MAIL = RenderedMail(kind="announcement", subject="Workshop report", html="<p>Hi</p>", text="Hi")


def _campaign(rt: Runtime, list_id: int, members: list[Member]) -> tuple[int, list[int]]:
    """A campaign to ``members``; its id and its delivery ids, in member order."""
    with transaction(rt.new_session()) as s:
        campaign = outbox.create_campaign(
            s, rendered=MAIL, sender="news@network.test", now=rt.clock(), list_id=list_id
        )
        recipients = [Recipient(m.id or 0, m.email, m.name, {}) for m in members]
        outbox.enqueue(s, campaign, recipients, now=rt.clock())
        ids = list(
            s.execute(
                select(Delivery.id)
                .where(Delivery.campaign_id == campaign.id)
                .order_by(Delivery.recipient_id)
            ).scalars()
        )
        assert campaign.id is not None
        return campaign.id, ids


def _sent(rt: Runtime, delivery_id: int) -> None:
    with transaction(rt.new_session()) as s:
        outbox.mark_sent(s, delivery_id, now=rt.clock(), message_id="<m@network.test>", attempts=1)


def _failed(rt: Runtime, delivery_id: int) -> None:
    # mark_unsent applies only to a row a worker claimed; this one is failed as if it had been.
    with transaction(rt.new_session()) as s:
        s.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(state=outbox.FAILED, last_code=550, last_error="unknown")
        )


def _rows(rt: Runtime, campaign_id: int) -> int:
    with rt.new_session() as s:
        return s.execute(
            select(func.count()).select_from(Delivery).where(Delivery.campaign_id == campaign_id)
        ).scalar_one()


def _figures(rt: Runtime) -> tuple[object, ...]:
    with rt.new_session() as s:
        recent = [(p.campaign.id, p.counts, p.done, p.total) for p in campaigns.recent(s)]
        sent = [
            (row.campaign.id, row.figures.sent)
            for row in deliverability.per_campaign(s, now=rt.clock())
        ]
        return outbox.counts(s), recent, sent


def test_old_finished_campaigns_are_folded_and_every_figure_stays(rt: Runtime, session) -> None:
    lst = make_list(session, rt.clock())
    ana = make_member(session, rt.clock(), lists_=(lst,))
    bo = make_member(session, rt.clock(), lists_=(lst,), email="bo@example.org", name="Bo Nowak")
    session.commit()
    assert lst.id is not None
    old, (to_ana, to_bo) = _campaign(rt, lst.id, [ana, bo])
    _sent(rt, to_ana)
    _failed(rt, to_bo)
    with transaction(rt.new_session()) as s:
        outbox.suppress(s, bo.email, reason="hard_bounce", now=rt.clock())
    # As old, but one row still waits to be sent: not finished, so never folded.
    unfinished, _ = _campaign(rt, lst.id, [ana])
    with rt.new_session() as s:
        export_before = preferences.export(s, s.get(Member, ana.id))
    figures_before = _figures(rt)

    rt.clock.advance(days=180, seconds=1)
    recent, [recent_row] = _campaign(rt, lst.id, [ana])
    _sent(rt, recent_row)
    scheduler.bind(rt)
    assert scheduler.fold_old_deliveries() == 2

    assert _rows(rt, old) == 0
    assert _rows(rt, unfinished) == 1 and _rows(rt, recent) == 1
    counts, listed, sent = _figures(rt)
    before_counts, before_listed, before_sent = figures_before
    assert {cid: counts[cid] for cid in before_counts} == before_counts
    assert counts[old][outbox.SENT] == 1 and counts[old][outbox.FAILED] == 1
    assert [row for row in listed if row[0] != recent] == before_listed
    assert [row for row in sent if row[0] != recent] == before_sent
    with rt.new_session() as s:
        assert outbox.suppressed(s, [bo.email]) == {bo.email}
        export_after = preferences.export(s, s.get(Member, ana.id))
    # Only the folded mails leave the export: the rows that held them are gone.
    assert {k: v for k, v in export_after.items() if k != "deliveries"} == {
        k: v for k, v in export_before.items() if k != "deliveries"
    }
    assert len(export_before["deliveries"]) == 2 and len(export_after["deliveries"]) == 2
    assert export_after["deliveries"][0] == export_before["deliveries"][1]  # the unfinished one

    assert scheduler.fold_old_deliveries() == 0  # nothing left to fold


def test_a_big_campaign_is_folded_chunk_by_chunk(rt: Runtime, session) -> None:
    lst = make_list(session, rt.clock())
    members = [
        make_member(session, rt.clock(), lists_=(lst,), email=f"m{i}@example.org") for i in range(5)
    ]
    session.commit()
    assert lst.id is not None
    campaign_id, ids = _campaign(rt, lst.id, members)
    for delivery_id in ids[:3]:
        _sent(rt, delivery_id)
    for delivery_id in ids[3:]:
        _failed(rt, delivery_id)
    rt.clock.advance(days=181)
    folded = []
    while True:
        with transaction(rt.new_session()) as s:
            rows = outbox.fold_old(s, before=rt.clock() - timedelta(days=180), chunk=2)
        if not rows:
            break
        folded.append(rows)
        with rt.new_session() as s:  # between chunks, the figures are already right
            assert outbox.counts(s, campaign_id)[campaign_id][outbox.SENT] == 3
    assert folded == [2, 2, 1]
    with rt.new_session() as s:
        by_state = outbox.counts(s, campaign_id)[campaign_id]
    assert (by_state[outbox.SENT], by_state[outbox.FAILED]) == (3, 2)


def test_retention_setting() -> None:
    env = {"NEWSLETTER_SECRET_KEY": "x" * 40}
    assert load(env, dotenv=None).delivery_retention_days == 180
    assert (
        load(
            {**env, "NEWSLETTER_DELIVERY_RETENTION_DAYS": "0"}, dotenv=None
        ).delivery_retention_days
        == 0
    )
    with pytest.raises(SettingsError, match="NEWSLETTER_DELIVERY_RETENTION_DAYS"):
        load({**env, "NEWSLETTER_DELIVERY_RETENTION_DAYS": "-1"}, dotenv=None)
