"""One-time confirmation of a mass or irreversible send: issued on the "are you sure?" page,
spent in the same transaction as the send, so a second identical request sends nothing."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from mailer.dbtypes import changed_rows
from subscribers.core.errors import Conflict
from subscribers.core.i18n import gettext as _
from subscribers.core.models import SendConfirmation

VALID_FOR = timedelta(hours=1)  # long enough to read the numbers, short enough to be stale


def issue(session: Session, action: str, *, now: datetime) -> str:
    """A new token that confirms ``action`` (e.g. ``digest:practitioners``) once."""
    token = secrets.token_urlsafe(32)
    session.add(SendConfirmation(token=token, action=action, created_at=now))
    session.flush()
    return token


def spend(session: Session, token: str, action: str, *, now: datetime) -> None:
    """Mark the token used; Conflict if it is unknown, for another action, old or spent.

    One conditional UPDATE: of two identical requests racing, only one changes the row.
    """
    spent = changed_rows(
        session.execute(
            update(SendConfirmation)
            .where(
                col(SendConfirmation.token) == token,
                col(SendConfirmation.action) == action,
                col(SendConfirmation.used_at).is_(None),
                col(SendConfirmation.created_at) > now - VALID_FOR,
            )
            .values(used_at=now)
        )
    )
    if spent != 1:
        raise Conflict(
            _("This confirmation was used already or has expired; nothing was sent again.")
        )
