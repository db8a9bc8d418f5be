"""A large import runs in short transactions: the site keeps answering, and a stopped import
resumes without doubling anything (issue 17, point 5). The full size: bench/import_probe.py.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select, text

from mailer.clock import FrozenClock
from subscribers.core import uploads
from subscribers.core.db import make_engine, transaction
from subscribers.core.models import IMPORT_DONE, AuditEntry, ConsentEvent, ImportJob, Member
from subscribers.people import import_jobs
from subscribers.runtime import Runtime
from tests.conftest import on_postgres
from tests.factories import make_list
from tests.web.test_registration_input import form_data

NOTE = "Members of the 2024 practitioners' directory"


def csv_of(count: int) -> bytes:
    lines = ["email,name,country,sector"]
    lines += [f"person{i}@example.org,Person {i},PT,police" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


def start(rt: Runtime, raw: bytes) -> int:
    name = uploads.store(Path(rt.settings.instance_path) / "imports", raw, now=rt.clock())
    with rt.new_session() as s, transaction(s):
        job = import_jobs.start(
            s,
            "practitioners",
            raw,
            upload=name,
            filename="directory.csv",
            consent_note=NOTE,
            actor="editor@example.org",
            now=rt.clock(),
        )
    assert job.id is not None
    return job.id


def count(rt: Runtime, model: type) -> int:
    with rt.new_session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def probe_app(rt: Runtime, database_url: str) -> Flask:
    """The site as a second process sees it: its own engine and connections."""
    from subscribers.web import create_app

    engine = make_engine(database_url) if not on_postgres() else rt.engine
    probe = Runtime.build(rt.settings, clock=rt.clock, transport=rt.transport, engine=engine)
    return create_app(rt.settings, runtime=probe)


def test_the_site_answers_while_an_import_runs(
    rt: Runtime,
    session,
    probe_app: Flask,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """No request fails, and none waits for the import: each waits at most for one chunk,
    while one transaction for the whole file made them wait until it ended. (Compared with the
    import's own time, so a slow or busy machine slows both alike.)"""
    make_list(session, rt.clock())
    monkeypatch.setattr(import_jobs, "CHUNK_LINES", 100)
    monkeypatch.setattr(import_jobs, "BATCH_LINES", 20)
    job_id = start(rt, csv_of(1500))
    finished = threading.Event()
    took: list[float] = []

    def importing() -> None:
        began = time.perf_counter()
        try:
            import_jobs.run(rt.new_session, job_id, csv_of(1500), clock=rt.clock)
        finally:
            took.append(time.perf_counter() - began)
            finished.set()

    worker = threading.Thread(target=importing)
    worker.start()
    answers: list[tuple[str, int, float]] = []
    client = probe_app.test_client()
    while not finished.is_set():
        began = time.perf_counter()
        answers.append(("healthz", client.get("/healthz").status_code, time.perf_counter() - began))
        n = len(answers)
        data = form_data(client, email=f"probe{n}@example.net")
        began = time.perf_counter()
        response = client.post(
            "/register", data=data, environ_base={"REMOTE_ADDR": f"192.0.2.{n % 250}"}
        )
        answers.append(("register", response.status_code, time.perf_counter() - began))
    worker.join()
    assert len(answers) >= 4, "the import ended before the probe could ask anything"
    assert [a for a in answers if a[1] not in (200, 302)] == []
    slowest = max(seconds for _what, _status, seconds in answers)
    assert slowest < took[0] / 2, (slowest, took[0])
    with rt.new_session() as s:
        job = s.get(ImportJob, job_id)
        assert job is not None and (job.status, job.added, job.done) == (IMPORT_DONE, 1500, 1500)
    registered = sum(1 for what, _status, _s in answers if what == "register")
    assert count(rt, Member) == 1500 + registered


@pytest.mark.skipif(on_postgres(), reason="SQLite's single write lock")
def test_reading_never_waits_for_the_write_lock(rt: Runtime, engine: Engine) -> None:
    """A page that reads answers at once while another connection holds the write lock (with
    BEGIN IMMEDIATE for reads too, /healthz would wait, here at most 0.2 s, and fail)."""
    from subscribers.web import create_app

    impatient = make_engine(str(engine.url), busy_timeout=0.2)
    app = create_app(rt.settings, runtime=Runtime.build(rt.settings, engine=impatient))
    with engine.connect() as writer:
        writer.execute(text("UPDATE staff_user SET role = role"))  # BEGIN IMMEDIATE: locked
        health = app.test_client().get("/healthz")
        assert health.status_code == 200, health.text
        writer.rollback()


class Stop(Exception):
    pass


def test_a_stopped_import_resumes_where_it_stopped_and_repeats_nothing(
    rt: Runtime,
    session,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    make_list(session, rt.clock())
    monkeypatch.setattr(import_jobs, "CHUNK_LINES", 40)
    monkeypatch.setattr(import_jobs, "CHUNK_SECONDS", 60)  # chunks by lines, not by time
    raw = csv_of(100) + b"person7@example.org,again,PT,police\n"  # a duplicate line, line 102
    job_id = start(rt, raw)
    seen: list[int] = []

    def crash_after_two_chunks(job: ImportJob) -> None:
        seen.append(job.done)
        if len(seen) == 2:
            raise Stop

    with pytest.raises(Stop):
        import_jobs.run(
            rt.new_session, job_id, raw, clock=rt.clock, on_progress=crash_after_two_chunks, pause=0
        )
    assert seen == [40, 80] and count(rt, Member) == 80  # two chunks committed, no more
    job = import_jobs.run(rt.new_session, job_id, raw, clock=rt.clock, pause=0)
    assert (job.status, job.done, job.added, job.updated, job.skipped) == (
        IMPORT_DONE,
        101,
        100,
        0,
        1,
    )
    assert import_jobs.report(job).skipped == [
        (102, "duplicate of an earlier line (person7@example.org)")
    ]
    assert count(rt, Member) == 100 and count(rt, ConsentEvent) == 100
    assert count(rt, AuditEntry) == 1
    # A finished job does nothing when run again; the same file imported again only updates.
    assert import_jobs.run(rt.new_session, job_id, raw, clock=rt.clock, pause=0).added == 100
    again = import_jobs.run(rt.new_session, start(rt, raw), raw, clock=rt.clock, pause=0)
    assert (again.added, again.updated) == (0, 100)
    assert count(rt, Member) == 100 and count(rt, ConsentEvent) == 100


def test_the_workspace_shows_progress_and_resumes_a_stalled_import(
    app: Flask,
    rt: Runtime,
    session,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from tests.people.helpers import signed_in

    make_list(session, rt.clock())
    monkeypatch.setattr(import_jobs, "CHUNK_LINES", 30)
    monkeypatch.setattr(import_jobs, "CHUNK_SECONDS", 60)
    raw = csv_of(90)
    job_id = start(rt, raw)

    def crash(job: ImportJob) -> None:
        raise Stop

    with pytest.raises(Stop):
        import_jobs.run(rt.new_session, job_id, raw, clock=rt.clock, on_progress=crash, pause=0)
    editor = signed_in(app, rt, "editor")
    page = editor.get(f"/admin/imports/{job_id}")
    assert page.status_code == 200
    assert '<progress max="90" value="30"' in page.text and "30 of 90 lines" in page.text
    assert 'http-equiv="refresh"' in page.text and "resume-import" not in page.text
    clock.advance(minutes=2)  # nothing moved: the process that ran it has gone
    page = editor.get(f"/admin/imports/{job_id}")
    assert "resume-import" in page.text and 'http-equiv="refresh"' not in page.text
    from tests.conftest import csrf_token

    done = editor.post(
        f"/admin/imports/{job_id}/resume",
        data={"csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    assert "added 90, updated 0, skipped 0" in done.text and "<progress" not in done.text
    assert count(rt, Member) == 90
    assert list((Path(rt.settings.instance_path) / "imports").glob("*.upload")) == []


@pytest.mark.skipif(not on_postgres(), reason="PostgreSQL's planner statistics")
def test_an_import_keeps_postgresqls_planner_statistics_up_to_date(
    rt: Runtime, session, engine: Engine
) -> None:
    """Plans made while the tables were empty (sequential scans, kept by prepared statements)
    made a 95,000-line import on PostgreSQL take ten minutes: it runs ANALYZE as tables grow."""
    make_list(session, rt.clock())
    raw = csv_of(137)
    job = import_jobs.run(rt.new_session, start(rt, raw), raw, clock=rt.clock, pause=0)
    assert job.added == 137
    with engine.connect() as conn:
        estimated = conn.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = 'member'")
        ).scalar_one()
    assert estimated == 137  # -1 (never analysed) or stale figures of earlier tests without it
