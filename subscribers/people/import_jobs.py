"""CSV imports as jobs: short transactions with their progress, resumable and idempotent.

One transaction for a whole file held SQLite's only write lock for minutes (139 s for 94,809
lines): registrations, confirmations and the sender waited or failed meanwhile. A job commits a
chunk of lines together with its progress, then pauses so that others can write before the next
chunk. A job that stops (the process ended, the database failed) keeps what its chunks
committed and carries on from there when resumed; a line imported twice updates, never doubles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from mailer.clock import Clock
from subscribers.admin import audit
from subscribers.content import lists
from subscribers.core import uploads
from subscribers.core.db import refresh_statistics, transaction
from subscribers.core.errors import InvalidInput, NotFound
from subscribers.core.i18n import gettext as _
from subscribers.core.models import (
    IMPORT_DONE,
    IMPORT_RUNNING,
    ConsentEvent,
    ImportJob,
    MailingList,
    Member,
    Subscription,
)
from subscribers.people.imports import (
    MAX_BYTES,
    ImportReport,
    _check_line,
    _consent_note,
    _import_lines,
    decode_file,
    rows,
)

log = logging.getLogger(__name__)

CHUNK_LINES = 500  # at most this many lines per transaction...
CHUNK_SECONDS = 0.2  # ...and no more lines once a chunk has held the write lock this long
BATCH_LINES = 100  # lines checked and written between two looks at the time
# Between chunks the job lets go of the database for longer than SQLite's busy handler waits
# between two tries (100 ms at most), so a waiting registration always gets its turn.
PAUSE_SECONDS = 0.15
# The tables an import makes grow, whose planner statistics it refreshes as it goes.
GROWING_TABLES = (
    Member.__tablename__,
    Subscription.__tablename__,
    ConsentEvent.__tablename__,
)
STALLED = timedelta(minutes=1)  # a running job that has not moved for this long can be resumed


def start(
    session: Session,
    list_slug: str,
    raw: bytes,
    *,
    upload: str,
    filename: str,
    consent_note: str,
    actor: str,
    now: datetime,
    max_bytes: int = MAX_BYTES,
) -> ImportJob:
    """Record an import of the stored file ``upload``; nothing is imported yet (``run``).

    The whole file is read here, so a file broken half-way is refused before any line is
    written, as it was when an import was one transaction.
    """
    note = _consent_note(consent_note)
    mailing_list = lists.by_slug(session, list_slug)
    total = sum(1 for _line in rows(decode_file(raw, max_bytes=max_bytes).text))
    assert mailing_list.id is not None
    job = ImportJob(
        list_id=mailing_list.id,
        upload=upload,
        filename=filename[:200],
        consent_note=note,
        actor=actor[:320],
        total=total,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(_("no import %(id)s", id=job_id))
    return job


def forget(session: Session, address: str) -> None:
    """Erasure: a skipped line whose reason quotes the address keeps its number, not the reason.

    A refused line's reason may name its address ("duplicate of an earlier line (…)"); the
    report stays useful to staff without it.
    """
    jobs = (
        session.execute(
            select(ImportJob).where(
                func.lower(ImportJob.skipped_lines).contains(address.lower(), autoescape=True)
            )
        )
        .scalars()
        .all()
    )
    needle = address.lower()
    for job in jobs:
        kept = []
        for entry in job.skipped_lines.splitlines():
            line, _tab, reason = entry.partition("\t")
            kept.append(f"{line}\t{_('(erased)') if needle in reason.lower() else reason}\n")
        job.skipped_lines = "".join(kept)
        session.add(job)
    session.flush()


def stalled(job: ImportJob, *, now: datetime) -> bool:
    """Still running, but nothing has moved for a while: its process has gone."""
    return job.status == IMPORT_RUNNING and now - job.updated_at >= STALLED


def report(job: ImportJob) -> ImportReport:
    """The job's figures and skipped lines, as a one-transaction import reported them."""
    skipped = []
    for entry in job.skipped_lines.splitlines():
        line, _tab, reason = entry.partition("\t")
        skipped.append((int(line), reason))
    return ImportReport(added=job.added, updated=job.updated, skipped=skipped)


def run(
    new_session: Callable[[], Session],
    job_id: int,
    raw: bytes,
    *,
    clock: Clock,
    on_progress: Callable[[ImportJob], None] | None = None,
    pause: float = PAUSE_SECONDS,
) -> ImportJob:
    """Import the job's lines from where it stands, one short transaction per chunk.

    Returns the job as its last chunk left it. When another process moved the job on meanwhile
    (two resumes at once), this one stops and leaves the job to it.
    """
    with new_session() as session:
        job = get(session, job_id)
    lines = rows(decode_file(raw).text)
    seen: set[str] = set()
    # Lines already done are read again only to know their addresses (duplicates).
    for _line, row in islice(lines, job.done):
        _check_line(row, seen)
    position, chunks = job.done, 0
    while job.status == IMPORT_RUNNING:
        with new_session() as session, transaction(session):
            job = session.get(ImportJob, job_id, with_for_update=True) or job
            if job.status != IMPORT_RUNNING or job.done != position:
                return job
            taken = _chunk(session, job, lines, seen, now=clock())
            position, chunks = job.done, chunks + 1
        if chunks & (chunks - 1) == 0:  # after chunks 1, 2, 4, 8...: as the tables double
            with new_session() as session, transaction(session):
                refresh_statistics(session, *GROWING_TABLES)
        if on_progress is not None:
            on_progress(job)
        if job.status == IMPORT_RUNNING and taken:
            time.sleep(pause)
    return job


def _chunk(
    session: Session,
    job: ImportJob,
    lines: Iterator[tuple[int, dict[str, str]]],
    seen: set[str],
    *,
    now: datetime,
) -> int:
    """Import the next lines (as many as fit in one chunk) and move the job's progress on."""
    mailing_list = session.get(MailingList, job.list_id)
    assert mailing_list is not None  # a foreign key: lists are never deleted under a job
    chunk = ImportReport()
    taken, started = 0, time.monotonic()
    while taken < CHUNK_LINES and time.monotonic() - started < CHUNK_SECONDS:
        batch = list(islice(lines, min(BATCH_LINES, CHUNK_LINES - taken)))
        if not batch:
            break
        _import_lines(
            session,
            mailing_list,
            batch,
            seen,
            chunk,
            note=job.consent_note,
            now=now,
            actor=job.actor,
        )
        taken += len(batch)
    job.done += taken
    job.added += chunk.added
    job.updated += chunk.updated
    job.skipped += len(chunk.skipped)
    job.skipped_lines += "".join(f"{line}\t{reason}\n" for line, reason in chunk.skipped)
    job.updated_at = now
    if taken == 0 or job.done >= job.total:
        job.status = IMPORT_DONE
        audit.record(
            session,
            actor=job.actor,
            action="members.import",
            target=f"list {mailing_list.slug}",
            detail=f"{job.filename}: " + report(job).describe().splitlines()[0],
            now=now,
        )
    session.add(job)
    session.flush()
    return taken


def run_stored(
    new_session: Callable[[], Session],
    directory: Path,
    job_id: int,
    *,
    clock: Clock,
    on_progress: Callable[[ImportJob], None] | None = None,
) -> ImportJob:
    """Run a job on its stored file, and delete the file once the job is done."""
    with new_session() as session:
        job = get(session, job_id)
    raw = uploads.load(directory, job.upload)
    if raw is None:
        raise InvalidInput(_("The file of this import is no longer on the server."))
    job = run(new_session, job_id, raw, clock=clock, on_progress=on_progress)
    if job.status == IMPORT_DONE:
        uploads.discard(directory, job.upload)
    return job


def run_logged(
    new_session: Callable[[], Session], directory: Path, job_id: int, *, clock: Clock
) -> None:
    """``run_stored`` for a background thread (the web's): a failure is logged, and the job,
    which keeps its progress, shows as stalled for staff to resume."""
    try:
        run_stored(new_session, directory, job_id, clock=clock)
    except Exception:  # noqa: BLE001 - nobody waits for this thread to raise to
        log.exception("import %s stopped; it can be resumed", job_id)
