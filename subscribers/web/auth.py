"""Staff login state and the role check every staff route goes through."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for

from subscribers.models import StaffUser
from subscribers.staff import role_allows
from subscribers.web import db

F = TypeVar("F", bound=Callable[..., Any])


def current_staff() -> StaffUser | None:
    if "staff" not in g:
        user_id = session.get("staff_id")
        user = db().get(StaffUser, user_id) if isinstance(user_id, int) else None
        g.staff = user
    staff: StaffUser | None = g.staff
    return staff


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
