"""The worker process: scheduling role on PostgreSQL, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer import outbox, workers
from subscribers import worker
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.conftest import on_postgres
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP


@pytest.mark.skipif(not on_postgres(), reason="the scheduling role is a PostgreSQL lock")
def test_another_worker_takes_over_the_scheduling_role(rt: Runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import scheduler

    started: list[str] = []
    real_build = scheduler.build_scheduler

    def recording_build(runtime: Runtime):  # type: ignore[no-untyped-def]
        started.append(threading.current_thread().name)
        return real_build(runtime)

    monkeypatch.setattr(scheduler, "build_scheduler", recording_build)
    first_stop, second_stop = threading.Event(), threading.Event()
    first = threading.Thread(
        target=worker.schedule_when_leader,
        args=(rt, first_stop),
        kwargs={"retry": 0.05},
        name="first",
    )
    first.start()
    while not started:
        first.join(0.01)
    second = threading.Thread(
        target=worker.schedule_when_leader,
        args=(rt, second_stop),
        kwargs={"retry": 0.05},
        name="second",
    )
    second.start()
    second.join(0.3)
    assert started == ["first"]  # the second waits while the first holds the lock
    first_stop.set()  # the leader goes away; its connection and lock go with it
    first.join(10)
    while len(started) < 2:
        second.join(0.01)
    assert started == ["first", "second"]
    second_stop.set()
    second.join(10)


def test_newsletter_worker_stops_cleanly_on_sigterm(
    tmp_path: Path, database_url: str, engine
) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }
    newsletter = Path(sys.executable).with_name("newsletter")
    proc = subprocess.Popen(
        [str(newsletter), "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        assert "worker started" in proc.stdout.readline()  # running, signal handlers installed
        # It sends in the background: each thread yields the CPU to the web app (mailer.priority).
        if sys.platform == "linux":
            tasks = list(Path(f"/proc/{proc.pid}/task").iterdir())
            nice = [int((t / "stat").read_text().rsplit(")", 1)[1].split()[16]) for t in tasks]
            assert nice and min(nice) >= 10, nice
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_sigterm_mid_campaign_hands_back_every_unsent_row_before_exiting(
    tmp_path: Path, database_url: str, rt: Runtime, smtp: ScriptedSMTP
) -> None:
    """``newsletter worker`` sending slowly (20 messages a second) is stopped part-way: when it
    exits, no row is left in ``sending`` for a lease to free, and it signed off."""
    with rt.new_session() as s:
        lst = make_list(s, rt.clock())
        for i in range(60):
            make_member(s, rt.clock(), lists_=(lst,), email=f"m{i:02d}@example.org", name=f"M {i}")
    with transaction(rt.new_session()) as s:
        campaign, _ = create_announcement(
            s, rt.kit, Announcement("practitioners", "Workshop", "Body"), now=rt.clock()
        )
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_SMTP_URL": smtp.url,
        "NEWSLETTER_SEND_RATE": "20",
        "NEWSLETTER_SMTP_CONNECTIONS": "2",
    }
    newsletter = Path(sys.executable).with_name("newsletter")
    proc = subprocess.Popen(
        [str(newsletter), "worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        smtp.wait_for(5, timeout=60)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    with rt.new_session() as s:
        counts = outbox.counts(s, campaign.id)[campaign.id or 0]
        (me,) = s.execute(select(workers.Worker)).scalars()
    assert counts["sending"] == 0 and counts["queued"] > 0, counts
    assert counts["sent"] == len(smtp.messages) < 60
    assert me.stopped_at is not None
