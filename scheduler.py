"""Which timed jobs run when. Each job opens a session, calls one service, commits.

Jobs live in the application's database (APScheduler's SQLAlchemy job store), so schedules
survive restarts. ``coalesce`` plus a generous misfire grace time make a process that was down
for several digest slots run the digest once, for the latest slot, not once per missed slot; the
digest's unique (list, period) key makes a second run of the same slot a no-op. Job functions are
module-level and take only serialisable arguments; the runtime is bound once by ``bind``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlmodel import col

from mailer import outbox, workers
from subscribers.admin import webhook_sender, webhooks
from subscribers.content import brakes, digests
from subscribers.core.db import transaction
from subscribers.core.models import MailingList
from subscribers.insight import clicks
from subscribers.invitations import reminders
from subscribers.people import registration, throttle
from subscribers.runtime import Runtime

log = logging.getLogger("scheduler")
_runtime: Runtime | None = None

MISFIRE_GRACE = int(timedelta(days=7).total_seconds())
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE}


def bind(rt: Runtime) -> None:
    """Give the job functions their runtime (once, at worker start)."""
    global _runtime
    _runtime = rt


def _rt() -> Runtime:
    if _runtime is None:
        raise RuntimeError("scheduler jobs need scheduler.bind(runtime) first")
    return _runtime


# -- jobs ------------------------------------------------------------------------------------


def send_digest(list_slug: str) -> str:
    """Queue the digest for the list's latest slot (nothing if nothing is queued)."""
    rt = _rt()
    now = rt.clock()
    with transaction(rt.new_session()) as session:
        lst = session.execute(
            select(MailingList).where(col(MailingList.slug) == list_slug)
        ).scalar_one_or_none()
        if lst is None or not lst.digest_cron:
            return f"{list_slug}: no digest schedule"
        slot = digests.latest_slot(digests.digest_trigger(lst), now) or now
        outcome = digests.create_digest(
            session, rt.kit, list_slug, now=now, period=slot.isoformat()
        )
    log.info("%s", outcome.describe())
    return outcome.describe()


def purge_unconfirmed() -> int:
    """Delete registrations never confirmed within 7 days."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        return registration.purge_unconfirmed(session, now=rt.clock())


def purge_throttle() -> int:
    """Delete rate-limit counters long past their window (they hold client addresses)."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        return throttle.purge(session, now=rt.clock())


def purge_workers() -> int:
    """Forget worker processes gone for a week (each start of a worker records one)."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        return workers.purge(session, now=rt.clock())


def fold_old_deliveries() -> int:
    """Fold the delivery rows of campaigns past the retention period into their figures."""
    rt = _rt()
    days = rt.settings.delivery_retention_days
    if not days:
        return 0
    before = rt.clock() - timedelta(days=days)
    folded = 0
    while True:  # one transaction a chunk: the write lock is never held for long
        with transaction(rt.new_session()) as session:
            rows = outbox.fold_old(session, before=before)
        if not rows:
            break
        folded += rows
    if folded:
        log.info("folded %d delivery rows older than %d days into campaign figures", folded, days)
    return folded


def send_event_reminders() -> int:
    """Queue the event reminders due now (each at most once, whatever runs it)."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        return reminders.send_due_reminders(session, rt.clock(), kit=rt.kit)


def deliver_webhooks() -> str:
    """Note finished campaigns, then deliver the webhooks due (retries included)."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        webhooks.note_finished_campaigns(session, now=rt.clock())
    report = webhook_sender.deliver_due(
        rt.new_session, rt.clock, allow_private=rt.settings.webhook_allow_private
    )
    if report.delivered or report.retried or report.failed:
        log.info("%s", report.describe())
    return report.describe()


def apply_brakes() -> list[int]:
    """Pause the recent campaigns whose hard-bounce or complaint rate passed its limit."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        paused = brakes.check_recent(session, brakes.Limits.of(rt.settings), now=rt.clock())
    for campaign_id in paused:
        log.warning("campaign %s paused itself (automatic brake, see the audit log)", campaign_id)
    return paused


def forget_click_keys() -> int:
    """Destroy the clicker keys of campaigns sent 30 days ago: clicks can no longer be tied."""
    rt = _rt()
    with transaction(rt.new_session()) as session:
        return clicks.forget_keys(session, now=rt.clock())


# A list's digest job is named after the list; the prefix tells them from the fixed jobs.
DIGEST_JOB = "digest:"


def digest_job_id(slug: str) -> str:
    return DIGEST_JOB + slug


def sync_digest_jobs() -> None:
    """Bring the digest jobs in line with the lists' schedules (lists change at run time)."""
    scheduler = _scheduler
    if scheduler is None:
        return
    rt = _rt()
    with rt.new_session() as session:
        lists = session.execute(select(MailingList)).scalars().all()
    wanted = {digest_job_id(lst.slug): lst for lst in lists if lst.digest_cron}
    for job in scheduler.get_jobs():
        if job.id.startswith(DIGEST_JOB) and job.id not in wanted:
            job.remove()
    for job_id, lst in wanted.items():
        trigger = digests.digest_trigger(lst)
        existing = scheduler.get_job(job_id)
        if existing is None or str(existing.trigger) != str(trigger):
            scheduler.add_job(
                "scheduler:send_digest",
                trigger,
                args=[lst.slug],
                id=job_id,
                name=f"digest of {lst.slug}",
                replace_existing=True,
            )


_scheduler: BackgroundScheduler | None = None

# The jobs every worker's scheduler has: function, interval, id, name.
FIXED_JOBS: tuple[tuple[str, dict[str, int], str, str], ...] = (
    (
        "scheduler:purge_unconfirmed",
        {"hours": 1},
        "purge-unconfirmed",
        "purge unconfirmed registrations",
    ),
    ("scheduler:purge_throttle", {"hours": 1}, "purge-throttle", "purge old rate-limit counters"),
    ("scheduler:purge_workers", {"hours": 1}, "purge-workers", "forget workers gone for a week"),
    (
        "scheduler:fold_old_deliveries",
        {"hours": 1},
        "fold-deliveries",
        "fold delivery rows past the retention period into campaign figures",
    ),
    (
        "scheduler:sync_digest_jobs",
        {"minutes": 1},
        "sync-digest-jobs",
        "follow the lists' digest schedules",
    ),
    (
        "scheduler:send_event_reminders",
        {"minutes": 1},
        "event-reminders",
        "event reminders to those who said yes",
    ),
    (
        "scheduler:apply_brakes",
        {"minutes": 1},
        "campaign-brakes",
        "pause campaigns whose bounce or complaint rate is too high",
    ),
    (
        "scheduler:forget_click_keys",
        {"hours": 1},
        "forget-click-keys",
        "destroy click keys 30 days after the send",
    ),
    (
        "scheduler:deliver_webhooks",
        {"seconds": 30},
        "deliver-webhooks",
        "deliver webhooks (and their retries)",
    ),
)


def build_scheduler(rt: Runtime) -> BackgroundScheduler:
    """The worker's scheduler with its fixed jobs; digest jobs follow the lists (sync job)."""
    global _scheduler
    bind(rt)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=rt.engine, tablename="scheduler_job")},
        job_defaults=JOB_DEFAULTS,
        timezone=ZoneInfo(rt.settings.timezone),
    )
    for func, every, job_id, name in FIXED_JOBS:
        scheduler.add_job(
            func, IntervalTrigger(**every), id=job_id, name=name, replace_existing=True
        )
    _scheduler = scheduler
    return scheduler
