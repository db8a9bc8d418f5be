"""Automatic brakes: a campaign pauses itself above its hard-bounce or complaint rate."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlmodel import Session

import scheduler
from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.compose import RenderedMail
from mailer.outbox import Campaign, Delivery, Recipient
from subscribers.content import brakes, campaigns
from subscribers.content.brakes import Limits
from subscribers.core.db import transaction
from subscribers.core.models import AuditEntry, Complaint
from subscribers.core.settings import SettingsError, load
from subscribers.runtime import Runtime

DEFAULTS = Limits()  # 5 % hard bounces, 0.3 % complaints, after 100 sent


def campaign_with(session: Session, rt: Runtime, *, sent: int, queued: int = 10) -> int:
    """A campaign of which ``sent`` deliveries went out and ``queued`` are still waiting."""
    mail = RenderedMail(kind="announcement", subject="S", html="<p>h</p>", text="t")
    campaign = outbox.create_campaign(
        session, rendered=mail, sender="n@network.test", now=rt.clock()
    )
    people = [Recipient(i, f"m{i}@example.org") for i in range(1, sent + queued + 1)]
    outbox.enqueue(session, campaign, people, now=rt.clock())
    assert campaign.id is not None
    session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign.id, Delivery.recipient_id <= sent)
        .values(state=outbox.SENT, sent_at=rt.clock())
    )
    session.commit()
    return campaign.id


def hard_bounces(session: Session, rt: Runtime, cid: int, count: int, start: int = 1) -> None:
    for i in range(start, start + count):
        session.add(
            Bounce(
                address_hash=outbox.address_hash(f"m{i}@example.org"),
                campaign_id=cid,
                kind="hard",
                at=rt.clock(),
            )
        )
    session.commit()


def complaints(session: Session, rt: Runtime, cid: int, count: int, start: int = 1) -> None:
    for i in range(start, start + count):
        session.add(
            Complaint(
                address_hash=outbox.address_hash(f"m{i}@example.org"),
                campaign_id=cid,
                feedback_type="abuse",
                at=rt.clock(),
            )
        )
    session.commit()


def check(rt: Runtime, cid: int, limits: Limits = DEFAULTS) -> bool:
    with transaction(rt.new_session()) as s:
        return brakes.check(s, cid, limits, now=rt.clock())


def status(rt: Runtime, cid: int) -> tuple[str, str | None]:
    with rt.new_session() as s:
        c = s.get(Campaign, cid)
        assert c is not None
        return c.status, c.brake


def audit_details(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.new_session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
        return [(e.action, e.target, e.detail) for e in rows]


def test_hard_bounce_rate_above_five_percent_pauses(session, rt) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=100)
    hard_bounces(session, rt, cid, 5)
    assert not check(rt, cid) and status(rt, cid) == ("active", None)  # 5.0 %: at the limit
    hard_bounces(session, rt, cid, 1, start=6)
    assert check(rt, cid) and status(rt, cid) == ("paused", "hard_bounces")
    [(action, target, detail)] = audit_details(rt)
    assert (action, target) == ("campaign.auto_pause", f"campaign:{cid}")
    assert "6 hard bounces of 100 sent (6.00 %) passed the limit of 5 %" in detail
    assert not check(rt, cid)  # once


def test_refusals_at_send_time_count_as_hard_bounces(session, rt) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=94)
    session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == cid, Delivery.recipient_id.between(95, 100))  # type: ignore[attr-defined]
        .values(state=outbox.FAILED, last_code=550, last_error="5.1.1 user unknown")
    )
    session.commit()
    with rt.new_session() as s:
        assert brakes.rates(s, cid) == brakes.Rates(sent=100, hard=6, complaints=0)
    assert check(rt, cid) and status(rt, cid) == ("paused", "hard_bounces")


def test_complaint_rate_above_three_per_thousand_pauses(session, rt) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=1000)
    complaints(session, rt, cid, 3)
    assert not check(rt, cid)  # 0.3 %: at the limit
    complaints(session, rt, cid, 1, start=4)
    assert check(rt, cid) and status(rt, cid) == ("paused", "complaints")
    [(_action, _target, detail)] = audit_details(rt)
    assert "4 complaints of 1000 sent (0.40 %) passed the limit of 0.3 %" in detail


def test_nothing_is_judged_below_the_minimum_sample(session, rt) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=99)
    hard_bounces(session, rt, cid, 50)
    complaints(session, rt, cid, 50)
    assert not check(rt, cid) and status(rt, cid) == ("active", None)
    assert check(rt, cid, Limits(min_sent=99))


def test_a_campaign_with_nothing_left_to_send_is_not_paused(session, rt) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=100, queued=0)
    hard_bounces(session, rt, cid, 20)
    assert not check(rt, cid) and status(rt, cid) == ("active", None)


def test_resuming_overrides_the_brake(session, rt) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=100)
    hard_bounces(session, rt, cid, 10)
    assert check(rt, cid)
    with transaction(rt.new_session()) as s:
        campaigns.set_status(s, cid, outbox.ACTIVE)
    assert status(rt, cid) == ("active", "overridden")
    complaints(session, rt, cid, 5)
    assert not check(rt, cid) and status(rt, cid) == ("active", "overridden")


def test_resuming_from_the_cli_overrides_the_brake_too(  # type: ignore[no-untyped-def]
    session, rt, database_url: str, tmp_path
) -> None:
    from click.testing import CliRunner

    from subscribers.cli.root import main

    cid = campaign_with(session, rt, sent=100)
    hard_bounces(session, rt, cid, 10)
    assert check(rt, cid)
    env = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }
    result = CliRunner().invoke(main, ["campaigns", "resume", str(cid)], env=env)
    assert result.exit_code == 0, result.output
    assert status(rt, cid) == ("active", "overridden")
    assert not check(rt, cid)  # the brake does not stop it again


def test_the_scheduler_job_watches_recent_campaigns(session, rt) -> None:  # type: ignore[no-untyped-def]
    old = campaign_with(session, rt, sent=100)
    hard_bounces(session, rt, old, 10)
    rt.clock.advance(days=7, minutes=1)
    fresh = campaign_with(session, rt, sent=100)
    hard_bounces(session, rt, fresh, 10, start=1)
    scheduler.bind(rt)
    assert scheduler.apply_brakes() == [fresh]
    assert status(rt, fresh)[0] == "paused" and status(rt, old)[0] == "active"


def test_the_monitor_says_why(session, rt, viewer: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    cid = campaign_with(session, rt, sent=1000)
    complaints(session, rt, cid, 4)
    assert check(rt, cid)
    page = viewer.get(f"/admin/campaigns/{cid}")
    assert page.status_code == 200
    assert 'id="brake"' in page.text
    assert "0.4 %" in page.text and "0.3 %" in page.text and "4 of 1000" in page.text


def test_limits_come_from_the_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"NEWSLETTER_INSTANCE_PATH": str(tmp_path), "NEWSLETTER_SECRET_KEY": "k" * 32}
    assert Limits.of(load(base, dotenv=None)) == Limits(5.0, 0.3, 100)
    custom = load(
        {
            **base,
            "NEWSLETTER_BRAKE_HARD_BOUNCE_RATE": "2.5",
            "NEWSLETTER_BRAKE_COMPLAINT_RATE": "0.1%",
            "NEWSLETTER_BRAKE_MIN_SENT": "500",
        },
        dotenv=None,
    )
    assert Limits.of(custom) == Limits(2.5, 0.1, 500)
    for name, bad in (
        ("NEWSLETTER_BRAKE_HARD_BOUNCE_RATE", "0"),
        ("NEWSLETTER_BRAKE_COMPLAINT_RATE", "lots"),
        ("NEWSLETTER_BRAKE_MIN_SENT", "-1"),
    ):
        with pytest.raises(SettingsError, match=name):
            load({**base, name: bad}, dotenv=None)


@pytest.mark.parametrize(
    ("verb", "status"), [("paused", outbox.PAUSED), ("resumed", outbox.ACTIVE)]
)
def test_a_cancelled_campaign_refuses_the_verb_it_was_asked(  # type: ignore[no-untyped-def]
    session, rt, verb: str, status: str
) -> None:
    """`campaigns pause` of a cancelled campaign said it "cannot be resumed"."""
    from subscribers.core.errors import Conflict

    cid = campaign_with(session, rt, sent=1)
    with transaction(rt.new_session()) as s:
        campaigns.set_status(s, cid, outbox.CANCELLED)
    with transaction(rt.new_session()) as s, pytest.raises(Conflict) as refused:
        campaigns.set_status(s, cid, status)
    assert str(refused.value) == f"campaign {cid} is cancelled and cannot be {verb}"
