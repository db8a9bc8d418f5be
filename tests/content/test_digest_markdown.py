"""A digest's and an announcement's Markdown, as members read it in both parts of the mail."""

from __future__ import annotations

import re

from sqlalchemy import select

from mailer.outbox import Campaign
from subscribers.content import campaigns, digests, news
from subscribers.content.campaigns import Announcement
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.invitations.helpers import network

BODY = (
    "# Findings\n\nClose to **40** came. Read [the report](https://network.test/report).\n\n## Next"
)


def _campaign(rt: Runtime, kind: str) -> Campaign:
    with rt.new_session() as s:
        return s.execute(select(Campaign).where(Campaign.kind == kind)).scalar_one()


def test_digest_text_part_has_no_markdown_and_item_headings_rank_below_the_title(
    rt: Runtime, session
) -> None:  # type: ignore[no-untyped-def]
    network(session, rt, "ana")
    with transaction(rt.new_session()) as s:
        news.add(s, "practitioners", title="Workshop report", body=BODY, link=None, now=rt.clock())
        digests.create_digest(s, rt.kit, "practitioners", now=rt.clock())
    digest = _campaign(rt, "digest")
    assert "##" not in digest.text and "**" not in digest.text and "](" not in digest.text
    # The address may be the click-counting redirect to it: a numbered reference either way.
    assert "the report [1]" in digest.text and re.search(r"\n\[1\] http\S+", digest.text)
    # The item's title is an <h2>: its own "#" and "##" come below it, never above or beside.
    levels = [int(n) for n in re.findall(r"<h(\d)\b", digest.html)]
    title = levels[re.findall(r"<h\d\b[^>]*>([^<]*)", digest.html).index("Workshop report")]
    assert title == 2 and re.search(r"<h3\b[^>]*>Findings</h3>", digest.html)
    assert re.search(r"<h4\b[^>]*>Next</h4>", digest.html)


def test_announcement_text_part_has_no_markdown(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    network(session, rt, "ana")
    with transaction(rt.new_session()) as s:
        campaigns.create_announcement(
            s, rt.kit, Announcement("practitioners", "Second workshop", BODY), now=rt.clock()
        )
    announcement = _campaign(rt, "announcement")
    assert "#" not in announcement.text and "**" not in announcement.text
    assert re.search(r"\n\[1\] http\S+", announcement.text)
    assert re.search(r"<h2\b[^>]*>Findings</h2>", announcement.html)
