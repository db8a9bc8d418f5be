"""Who holds the rows in ``sending``: ``newsletter outbox status`` and the campaign monitor name
each worker, alive or dead, and say when a dead one's rows can be taken over."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from flask.testing import FlaskClient

from mailer import outbox, workers
from mailer.clock import FrozenClock
from subscribers.cli.root import main
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.mailer.test_sender import addresses, queue

LEASE = workers.LEASE


def hold_rows(rt: Runtime, clock: FrozenClock) -> tuple[int, workers.Worker, workers.Worker]:
    """Ten deliveries: four held by a worker last seen two minutes ago, three by a live one."""
    cid = queue(rt.new_session, clock, addresses(10))
    with transaction(rt.new_session()) as s:
        gone = workers.register(s, now=clock())
        outbox.claim(s, now=clock(), lease=LEASE, limit=4, worker_id=gone.id)
    clock.advance(minutes=2)
    with transaction(rt.new_session()) as s:
        live = workers.register(s, now=clock())
        # Past the rows whose lease ran out (ids 1-4), which a claim would otherwise take first.
        outbox.claim(s, now=clock(), lease=LEASE, limit=3, after_id=4, worker_id=live.id)
    clock.advance(seconds=5)
    return cid, live, gone


def test_outbox_status_names_live_and_dead_workers(
    rt: Runtime, tmp_path: Path, database_url: str
) -> None:
    # The command reads the wall clock: set the scene just behind it.
    clock = FrozenClock(datetime.now(UTC) - timedelta(minutes=2, seconds=5))
    cid, live, gone = hold_rows(rt, clock)
    env = {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }
    result = CliRunner().invoke(main, ["outbox", "status"], env=env)
    assert result.exit_code == 0, result.output
    first, alive, dead = result.output.splitlines()
    assert first == f"campaign {cid}: queued 3, sending 7, sent 0, failed 0, skipped 0"
    assert re.fullmatch(
        rf"  sending 3 by worker {re.escape(live.label)}, alive, last seen [5-9] s ago", alive
    )
    assert dead == f"  sending 4 by worker {gone.label}, dead, last seen 2 min ago; " + (
        "claimable again now"
    )


def test_the_campaign_monitor_shows_who_is_sending(
    rt: Runtime, clock: FrozenClock, viewer: FlaskClient
) -> None:
    cid, live, gone = hold_rows(rt, clock)
    page = viewer.get(f"/admin/campaigns/{cid}").text
    table = page.split('id="holders"', 1)[1].split("</table>", 1)[0]
    alive = table.split('<tr class="alive">')[1].split("</tr>")[0]
    dead = table.split('<tr class="dead">')[1].split("</tr>")[0]
    assert live.label in alive and "Alive" in alive and "<td>3</td>" in alive
    assert "5 seconds ago" in alive
    assert gone.label in dead and "Not running" in dead and "<td>4</td>" in dead
    assert "can take over its deliveries now" in dead and "2 minutes ago" in dead

    # A worker that died a moment ago: its rows come back when their lease runs out.
    with transaction(rt.new_session()) as s:
        s.execute(
            workers.update(workers.Worker)
            .where(workers.Worker.id == live.id)  # type: ignore[arg-type]
            .values(last_seen=clock() - LEASE)
        )
    page = viewer.get(f"/admin/campaigns/{cid}").text
    assert "Another worker can take over its deliveries in 25 seconds." in page
