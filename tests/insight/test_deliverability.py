"""Bounce figures in the workspace: per campaign and per list, week by week."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import update

from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.outbox import Delivery
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.core.models import Complaint
from subscribers.insight import deliverability
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member


def test_figures_per_campaign_and_per_list(rt: Runtime, session, viewer: FlaskClient) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    for name in ("ana", "bo", "cy", "di"):
        make_member(session, rt.clock(), lists_=(lst,), email=f"{name}@example.org")
    session.commit()
    with transaction(rt.new_session()) as s:
        campaign, _ = create_announcement(
            s, rt.kit, Announcement("practitioners", "Week news", "Body"), now=rt.clock()
        )
        cid = campaign.id
        s.execute(update(Delivery).where(Delivery.campaign_id == cid).values(state=outbox.SENT))
        now = rt.clock()
        for address, kind in (("ana@example.org", "hard"), ("bo@example.org", "soft")):
            s.add(
                Bounce(
                    address_hash=outbox.address_hash(address), campaign_id=cid, kind=kind, at=now
                )
            )
        s.add(
            Complaint(
                address_hash=outbox.address_hash("cy@example.org"),
                campaign_id=cid,
                feedback_type="abuse",
                at=now,
            )
        )
        outbox.suppress(s, "ana@example.org", reason="hard_bounce", now=now)
        outbox.suppress(s, "cy@example.org", reason="complaint", now=now)
    with rt.new_session() as s:
        [row] = deliverability.per_campaign(s, now=rt.clock())
        assert row.campaign.id == cid
        f = row.figures
        assert (f.sent, f.hard, f.soft, f.complaints, f.suppressed) == (4, 1, 1, 1, 2)
        [weeks] = deliverability.per_list(s, now=rt.clock())
        assert weeks.mailing_list is not None and weeks.mailing_list.id == lst.id
        [(week, figures)] = weeks.weeks.items()
        assert week == deliverability.week_starts(rt.clock())[0]
        assert (figures.hard, figures.soft, figures.complaints, figures.suppressed) == (1, 1, 1, 2)
    page = viewer.get("/admin/deliverability")
    assert page.status_code == 200
    assert "Week news" in page.text and 'id="per-campaign"' in page.text
    assert lst.name in page.text
