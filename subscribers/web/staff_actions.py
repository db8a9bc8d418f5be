"""What every staff view does around a service call: audit it, and show its errors on the form."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from subscribers import audit
from subscribers.errors import InvalidInput
from subscribers.web import runtime
from subscribers.web.auth import current_staff


def staff_actor() -> str:
    """The signed-in staff member, as the audit log names them."""
    user = current_staff()
    return user.email if user else "?"


def record(session: Session, action: str, target: object, detail: str = "") -> None:
    """An audit entry for what the signed-in staff member just did, in the caller's transaction."""
    audit.record(
        session,
        actor=staff_actor(),
        action=action,
        target=str(target),
        detail=detail,
        now=runtime().clock(),
    )


def show_errors(form: Any, err: InvalidInput) -> None:
    """Put a service's messages next to the fields they name (or above the form)."""
    for one in err.problems:
        field = form._fields.get(one.field or "") if one.field != "csrf_token" else None
        if field is not None:
            field.errors = [*field.errors, str(one)]
        else:
            form.form_errors.append(str(one))
