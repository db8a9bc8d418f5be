"""Staff login state and the role check every staff route goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for

from subscribers.admin.staff import role_allows, session_valid
from subscribers.core.models import StaffUser
from subscribers.web.context import db

F = TypeVar("F", bound=Callable[..., Any])


STAFF_ID, STAFF_KEY = "staff_id", "staff_key"  # in the signed session cookie


def current_staff() -> StaffUser | None:
    """The signed-in staff member; None when the session was ended (sign-out, new password or
    role, removed account) even if the cookie was copied before."""
    if "staff" not in g:
        user_id = session.get(STAFF_ID)
        user = db().get(StaffUser, user_id) if isinstance(user_id, int) else None
        g.staff = user if session_valid(user, session.get(STAFF_KEY)) else None
    staff: StaffUser | None = g.staff
    return staff


def sign_in(user: StaffUser) -> None:
    """Start (or, after a password change, carry on) this user's session with their key."""
    session[STAFF_ID] = user.id
    session[STAFF_KEY] = user.session_key
    g.staff = user


def role_required(role: str) -> Callable[[F], F]:
    """Anonymous → login page; signed in without the role → 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_staff()
            if user is None:
                return redirect(url_for("admin.login", next=request.full_path))
            if not role_allows(user.role, role):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined] - read by the role-matrix test
        return wrapped  # type: ignore[return-value]

    return decorator
