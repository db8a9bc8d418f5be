"""Who is sending: one row per sending process, kept fresh by its heartbeat.

A worker registers itself (host, pid, start time) before it claims anything, and every row it
claims names it (``delivery.worker_id``). While it lives, its heartbeat moves ``last_seen`` and
the leases of the rows it holds forward, so a lease can be short (``LEASE``): a worker that dies
stops beating, and its rows are claimable again at most one lease later. The same records tell
an operator who holds the rows in ``sending`` and whether that worker is still alive
(``holders``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlmodel import Field, Session, SQLModel, col

from mailer.dbtypes import UTCDateTime, changed_rows
from mailer.outbox import SENDING, Delivery, renew_leases

# A live worker renews its leases every HEARTBEAT; a dead one's rows come back within LEASE.
LEASE = timedelta(seconds=30)
HEARTBEAT = LEASE / 3
# Rows of workers gone this long go (every restart adds one); those still named by rows in
# sending stay, so ``outbox status`` can always say whose rows they are.
FORGET_AFTER = timedelta(days=7)


class Worker(SQLModel, table=True):
    """A sending process, as the deliveries it holds name it."""

    __tablename__ = "worker"

    id: int | None = Field(default=None, primary_key=True)
    host: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    # Its lease length: a worker not seen for that long is dead, whatever others use.
    lease_seconds: float = LEASE.total_seconds()
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def label(self) -> str:
        return f"{self.id} ({self.host}, pid {self.pid})"

    def alive(self, now: datetime) -> bool:
        if self.stopped_at is not None:
            return False
        return now - self.last_seen < timedelta(seconds=self.lease_seconds)


def register(session: Session, *, now: datetime, lease: timedelta = LEASE) -> Worker:
    """Record this process as a worker (in the caller's transaction) and return its row."""
    worker = Worker(
        host=socket.gethostname()[:255],
        pid=os.getpid(),
        started_at=now,
        last_seen=now,
        lease_seconds=lease.total_seconds(),
    )
    session.add(worker)
    session.flush()
    return worker


def beat(
    session: Session,
    worker_id: int,
    held: Collection[int],
    *,
    now: datetime,
    lease: timedelta = LEASE,
) -> None:
    """Say this worker is alive and extend the lease of the rows it holds to ``now + lease``.

    Only rows still ``sending`` under this worker are extended: one taken over by another
    worker (after this one missed its beats) stays with its new holder. The caller commits.
    """
    session.execute(
        update(Worker)
        .where(col(Worker.id) == worker_id)
        .values(last_seen=now)
        .execution_options(synchronize_session=False)
    )
    renew_leases(session, worker_id, held, until=now + lease)


def sign_off(session: Session, worker_id: int, *, now: datetime) -> None:
    """Record that this worker stopped cleanly (it is then never shown as alive)."""
    session.execute(
        update(Worker)
        .where(col(Worker.id) == worker_id)
        .values(stopped_at=now, last_seen=now)
        .execution_options(synchronize_session=False)
    )


def purge(session: Session, *, now: datetime, after: timedelta = FORGET_AFTER) -> int:
    """Delete workers not seen for ``after`` and holding no row; return how many."""
    holding = select(col(Delivery.worker_id)).where(
        col(Delivery.state) == SENDING,
        col(Delivery.worker_id).is_not(None),
    )
    result = session.execute(
        delete(Worker)
        .where(col(Worker.last_seen) < now - after, col(Worker.id).not_in(holding))
        .execution_options(synchronize_session=False)
    )
    return changed_rows(result)


@dataclass(frozen=True)
class Holding:
    """Rows of one campaign in ``sending``, held by one worker (or by none that is known)."""

    campaign_id: int
    rows: int
    worker: Worker | None
    alive: bool
    lease_until: datetime | None  # the latest lease among those rows

    def describe(self, now: datetime) -> str:
        """One line for ``outbox status``: whose rows they are and whether anyone sends them."""
        if self.worker is None:
            who = "by an unknown worker"
        else:
            state = "alive" if self.alive else "dead"
            seen = ago(now - self.worker.last_seen)
            who = f"by worker {self.worker.label}, {state}, last seen {seen}"
        line = f"sending {self.rows} {who}"
        if not self.alive and self.lease_until is not None:
            if self.lease_until < now:
                line += "; claimable again now"
            else:
                line += f"; claimable again in {ago(self.lease_until - now, suffix='')}"
        return line


def ago(delta: timedelta, *, suffix: str = " ago") -> str:
    """A duration as people say it: "4 s ago", "2 min ago", "3 h ago"."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s{suffix}"
    if seconds < 7200:
        return f"{seconds // 60} min{suffix}"
    return f"{seconds // 3600} h{suffix}"


def holders(
    session: Session, *, now: datetime, campaign_ids: Collection[int] | None = None
) -> list[Holding]:
    """Who holds the rows in ``sending``, by campaign and worker, live workers first."""
    stmt = (
        select(
            col(Delivery.campaign_id),
            col(Delivery.worker_id),
            func.count(),
            func.max(col(Delivery.lease_until)),
        )
        .where(col(Delivery.state) == SENDING)
        .group_by(col(Delivery.campaign_id), col(Delivery.worker_id))
    )
    if campaign_ids is not None:
        stmt = stmt.where(col(Delivery.campaign_id).in_(list(campaign_ids)))
    rows = list(session.execute(stmt))
    ids = {worker_id for _, worker_id, _, _ in rows if worker_id is not None}
    workers = {
        w.id: w for w in session.execute(select(Worker).where(col(Worker.id).in_(ids))).scalars()
    }
    found = []
    for campaign_id, worker_id, count, lease_until in rows:
        worker = workers.get(worker_id)
        alive = worker is not None and worker.alive(now)
        found.append(Holding(campaign_id, count, worker, alive, lease_until))
    found.sort(key=lambda h: (h.campaign_id, not h.alive, h.worker.id if h.worker else 0))
    return found
