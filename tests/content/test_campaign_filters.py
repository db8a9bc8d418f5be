"""Issue 12.7: the campaigns list shows mass mail and transactional mail apart (mass mail by
default), filters by kind, list and state, names kinds in words, and shrugs off junk."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from mailer import outbox
from mailer.compose import RenderedMail
from mailer.outbox import Delivery, Recipient
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.factories import make_list

SUBJECTS = {
    # subject: (kind, list, status, send in hours (None: now), deliveries still to send)
    "Spring announcement": ("announcement", "practitioners", "active", None, 0),
    "Weekly digest": ("digest", "practitioners", "active", None, 2),
    "Workshop invitation": ("invitation", "researchers", "active", None, 0),
    "Later announcement": ("announcement", "researchers", "active", 24, 1),
    "Held announcement": ("announcement", "practitioners", "paused", None, 1),
    "Dropped reminder": ("reminder", "practitioners", "cancelled", None, 1),
    "Please confirm": ("confirm", "practitioners", "active", None, 0),
    "Welcome aboard": ("welcome", "practitioners", "active", None, 0),
    "Your answer": ("rsvp_confirmation", "researchers", "active", None, 1),
    "[Test] Spring": ("test", "practitioners", "active", None, 0),
}


@pytest.fixture
def sent(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    """One campaign per row of SUBJECTS, with a delivery sent and those still to send."""
    now = rt.clock()
    by_slug = {
        "practitioners": make_list(session, now),
        "researchers": make_list(session, now, slug="researchers", name="Researchers"),
    }
    with transaction(rt.new_session()) as s:
        for subject, (kind, slug, status, hours, pending) in SUBJECTS.items():
            campaign = outbox.create_campaign(
                s,
                rendered=RenderedMail(kind, subject, "<p>x</p>", "x"),
                sender="news@network.test",
                now=now,
                list_id=by_slug[slug].id,
                send_after=now + timedelta(hours=hours) if hours else None,
            )
            campaign.status = status
            people = [Recipient(i, f"m{i}@example.org") for i in range(1 + pending)]
            outbox.enqueue(s, campaign, people, now=now)
            s.execute(
                update(Delivery)
                .where(Delivery.campaign_id == campaign.id, Delivery.recipient_id == 0)
                .values(state=outbox.SENT)
            )


def shown(client: FlaskClient, query: str = "") -> list[str]:
    page = client.get(f"/admin/campaigns{query}")
    assert page.status_code == 200
    return re.findall(r'<td><a href="/admin/campaigns/\d+">([^<]+)</a>', page.text)


MASS = [
    "Dropped reminder",
    "Held announcement",
    "Later announcement",
    "Workshop invitation",
    "Weekly digest",
    "Spring announcement",
]
TRANSACTIONAL = ["[Test] Spring", "Your answer", "Welcome aboard", "Please confirm"]


@pytest.mark.usefixtures("sent")
def test_mass_mail_is_shown_first_and_transactional_mail_on_its_own_tab(
    viewer: FlaskClient,
) -> None:
    page = viewer.get("/admin/campaigns").text
    assert 'aria-current="page" id="tab-mass"' in page
    assert shown(viewer) == MASS
    assert shown(viewer, "?view=transactional") == TRANSACTIONAL
    # Kinds read as words, never as codes.
    assert "Event invitation ·" in page and ">invitation ·" not in page
    other = viewer.get("/admin/campaigns?view=transactional").text
    assert "Answer to an invitation ·" in other and "rsvp_confirmation ·" not in other
    assert "Confirmation request ·" in other and "Test mail ·" in other


@pytest.mark.usefixtures("sent")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?kind=announcement", ["Held announcement", "Later announcement", "Spring announcement"]),
        ("?list=researchers", ["Later announcement", "Workshop invitation"]),
        ("?kind=announcement&list=researchers", ["Later announcement"]),
        ("?state=done", ["Workshop invitation", "Spring announcement"]),
        ("?state=sending", ["Weekly digest"]),
        ("?state=scheduled", ["Later announcement"]),
        ("?state=paused", ["Held announcement"]),
        ("?state=cancelled", ["Dropped reminder"]),
        ("?state=done&list=practitioners", ["Spring announcement"]),
        ("?view=transactional&state=done", ["[Test] Spring", "Welcome aboard", "Please confirm"]),
        ("?view=transactional&state=sending&list=researchers", ["Your answer"]),
        ("?kind=welcome", ["Welcome aboard"]),  # a transactional kind opens its tab
        ("?view=mass&kind=confirm", MASS),  # not on this tab: every kind, and it says so
    ],
)
def test_filters_combine(viewer: FlaskClient, query: str, expected: list[str]) -> None:
    assert shown(viewer, query) == expected


@pytest.mark.usefixtures("sent")
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?view=everything", "There is no tab “everything”; showing mass mail."),
        ("?state=lost", "There is no state “lost”; showing every state."),
        ("?list=nope", "There is no list “nope”; showing every list."),
        ("?kind=<script>", "No kind of mail “&lt;script&gt;” here; showing every kind."),
        ("?view=mass&kind=confirm", "No kind of mail “confirm” here; showing every kind."),
    ],
)
def test_junk_in_the_query_is_named_and_ignored(
    viewer: FlaskClient, query: str, message: str
) -> None:
    page = viewer.get(f"/admin/campaigns{query}")
    assert page.status_code == 200
    assert message in page.text and "<script>" not in page.text
    assert shown(viewer, query) == MASS


@pytest.mark.usefixtures("sent")
def test_the_form_keeps_the_choices_and_a_campaign_page_names_its_kind(
    viewer: FlaskClient,
) -> None:
    page = viewer.get("/admin/campaigns?kind=digest&state=sending&list=practitioners").text
    assert '<option value="digest" selected>Digest</option>' in page
    assert '<option value="sending" selected>Sending</option>' in page
    assert '<option value="practitioners" selected>' in page
    assert '<option value="confirm"' not in page  # only this tab's kinds
    assert "1 campaign found." in page
    none = viewer.get("/admin/campaigns?kind=digest&state=cancelled").text
    assert "No campaign matches these filters." in none
    campaign_id = re.search(r'href="/admin/campaigns/(\d+)">Weekly digest', page).group(1)
    assert "(Digest)" in viewer.get(f"/admin/campaigns/{campaign_id}").text
