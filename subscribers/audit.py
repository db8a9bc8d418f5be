"""The audit log: who changed what, when, on what."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from subscribers.models import AuditEntry


def record(
    session: Session, *, actor: str, action: str, target: str, detail: str, now: datetime
) -> None:
    """Write one entry in the caller's transaction (so it exists only if the change does)."""
    session.add(
        AuditEntry(
            at=now, actor=actor[:320], action=action[:64], target=target[:200], detail=detail[:1000]
        )
    )
