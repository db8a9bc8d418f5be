"""The audit log: who changed what, when, on what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from subscribers.core.i18n import gettext as _
from subscribers.core.models import AuditEntry
from subscribers.core.paging import Page, paginate
from subscribers.core.validation import bounded

PER_PAGE = 50


def record(
    session: Session, *, actor: str, action: str, target: str, detail: str, now: datetime
) -> None:
    """Write one entry in the caller's transaction (so it exists only if the change does)."""
    session.add(
        AuditEntry(
            at=now, actor=actor[:320], action=action[:64], target=target[:200], detail=detail[:1000]
        )
    )


def entries(
    session: Session,
    *,
    actor: str = "",
    action: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[AuditEntry]:
    """Entries newest first; ``actor`` matches part of the address (any case), ``action`` exactly
    or as a prefix ending in a dot ("member." for every member action)."""
    needle = bounded(actor, field="actor", label=_("Who")).lower()
    action = bounded(action, field="action", label=_("Action"))
    stmt = select(AuditEntry)
    if needle:
        stmt = stmt.where(func.lower(AuditEntry.actor).contains(needle, autoescape=True))
    if action.endswith("."):
        stmt = stmt.where(col(AuditEntry.action).startswith(action, autoescape=True))
    elif action:
        stmt = stmt.where(col(AuditEntry.action) == action)
    stmt = stmt.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    return paginate(session, stmt, page=page, per_page=per_page)


def actions(session: Session) -> list[str]:
    """Every action that occurs in the log, for a filter's choices."""
    return list(
        session.execute(
            select(col(AuditEntry.action)).distinct().order_by(col(AuditEntry.action))
        ).scalars()
    )
