"""Growth per ISO week, from the consent history, at an injected clock; and its chart."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from flask import Flask
from sqlmodel import Session

from subscribers.insight import growth
from subscribers.runtime import Runtime
from tests.factories import make_member
from tests.people.helpers import consent, signed_in

# The test clock: Wednesday 25 Nov 2026, 09:00 UTC, in ISO week 2026-W48 (Monday 23 Nov).
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)


def network(session: Session) -> None:
    """A known history: who joined and left in which week."""
    a = make_member(session, NOW, email="a@example.org")
    consent(session, a, "confirmed", NOW)  # joins in W48
    b = make_member(session, NOW, email="b@example.org")
    consent(session, b, "imported", NOW - 3 * WEEK)  # joins in W45 ...
    consent(session, b, "confirmed", NOW - WEEK)  # ... a second list in W47 is no new member
    c = make_member(session, NOW, email="c@example.org")
    consent(session, c, "confirmed", NOW - 13 * WEEK)  # joined before the window
    consent(session, c, "withdrawn", NOW - 2 * WEEK)  # leaves in W46
    d = make_member(session, NOW, email="d@example.org")
    consent(session, d, "confirmed", NOW - 2 * WEEK)  # joins in W46
    consent(session, d, "withdrawn", NOW - WEEK)  # leaves two lists in W47 ...
    consent(session, d, "withdrawn", NOW - WEEK + timedelta(hours=1))
    consent(session, d, "erased", NOW - WEEK + timedelta(hours=2))  # ... and is erased: once
    e = make_member(session, NOW, email="e@example.org", status="pending", confirmed_at=None)
    consent(session, e, "given", NOW)  # registered, never confirmed: not a member yet
    f = make_member(session, NOW, email="f@example.org")
    consent(session, f, "confirmed", datetime(2026, 11, 22, 23, 30, tzinfo=UTC))  # Sunday night
    g = make_member(session, NOW, email="g@example.org")
    consent(session, g, "imported", NOW - 11 * WEEK)  # the first week shown, W37


def counts(result: growth.Growth) -> dict[str, tuple[int, int]]:
    return {w.label: (w.joined, w.left) for w in result.weeks if w.joined or w.left}


def test_weekly_counts_at_a_known_time(session: Session) -> None:
    network(session)
    result = growth.weekly(session, now=NOW, timezone="Europe/Lisbon")
    assert len(result.weeks) == 12
    assert result.weeks[0].start == date(2026, 9, 7) and result.weeks[0].label == "2026-W37"
    assert result.weeks[-1].start == date(2026, 11, 23) and result.weeks[-1].label == "2026-W48"
    assert counts(result) == {
        "2026-W37": (1, 0),
        "2026-W45": (1, 0),
        "2026-W46": (1, 1),
        "2026-W47": (1, 1),  # f on Sunday night, Lisbon time; d left
        "2026-W48": (1, 0),
    }
    assert (result.joined, result.left, result.peak) == (5, 2, 1)


def test_weeks_follow_the_time_zone(session: Session) -> None:
    network(session)
    # 23:30 UTC on Sunday is 00:30 on Monday in Warsaw: f joins in W48 there.
    result = growth.weekly(session, now=NOW, timezone="Europe/Warsaw")
    assert counts(result)["2026-W47"] == (0, 1) and counts(result)["2026-W48"] == (2, 0)


def test_the_window_moves_with_the_clock(session: Session) -> None:
    network(session)
    later = growth.weekly(session, now=NOW + 2 * WEEK, timezone="Europe/Lisbon")
    assert later.weeks[-1].label == "2026-W50"
    assert "2026-W37" not in counts(later) and counts(later)["2026-W48"] == (1, 0)


def test_home_page_draws_the_chart(app: Flask, rt: Runtime, session: Session) -> None:
    network(session)
    client = signed_in(app, rt, "viewer")
    page = client.get("/admin/").text
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg and 'role="img"' in svg.group(0) and 'aria-labelledby="growth-title"' in svg.group(0)
    assert '<title id="growth-title">' in svg.group(0) and "5 joined, 2 left" in svg.group(0)
    assert svg.group(0).count('class="joined"') == 12 + 1  # a bar per week and the legend
    table = re.search(r'<table class="visually-hidden">.*?</table>', page, re.S)
    assert table
    rows = re.findall(r'<th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td>', table.group(0))
    assert len(rows) == 12
    assert ("2026-W46 (2026-11-09)", "1", "1") in rows and (
        "2026-W38 (2026-09-14)",
        "0",
        "0",
    ) in rows
    assert "<script" not in page


def test_an_empty_network_draws_an_empty_chart(app: Flask, rt: Runtime) -> None:
    client = signed_in(app, rt, "viewer")
    page = client.get("/admin/")
    assert page.status_code == 200 and "0 joined, 0 left" in page.text
