"""Staff accounts: creation, password check with lock-out, roles."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select
from sqlmodel import Session
from werkzeug.security import check_password_hash, generate_password_hash

from subscribers.errors import Conflict, InvalidInput, NotFound, Throttled
from subscribers.models import StaffUser
from subscribers.validation import normalise_email

ROLES = ("viewer", "editor", "admin")  # each role can do everything the one before can
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


# Checked against when the email is unknown, so a login takes as long either way.
@functools.cache
def _dummy_hash() -> str:
    # Made on first use, not at import: scrypt takes 0.1 s, which every CLI command would pay.
    return generate_password_hash("not-a-password", method="scrypt")


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def create(session: Session, email: str, password: str, role: str, *, now: datetime) -> StaffUser:
    """Create a staff account; InvalidInput for a bad role or weak password."""
    if role not in ROLES:
        raise InvalidInput(_("role must be one of %(roles)s", roles=", ".join(ROLES)), field="role")
    if len(password) < 10:
        raise InvalidInput(_("password must be at least 10 characters long"), field="password")
    address = normalise_email(email)
    if session.execute(select(StaffUser).where(StaffUser.email == address)).first():
        raise Conflict(_("a staff account for %(address)s exists already", address=address))
    user = StaffUser(
        email=address,
        password_hash=generate_password_hash(password, method="scrypt"),
        role=role,
        created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def get(session: Session, email: str) -> StaffUser:
    """The staff account with this address, or NotFound."""
    address = (email or "").strip().lower()
    user = session.execute(select(StaffUser).where(StaffUser.email == address)).scalar_one_or_none()
    if user is None:
        raise NotFound(_("no staff account %(address)s", address=repr(address)))
    return user


def authenticate(session: Session, email: str, password: str, *, now: datetime) -> StaffUser | None:
    """The user for a correct password; counts failures and locks the account for a while."""
    address = (email or "").strip().lower()
    user = session.execute(select(StaffUser).where(StaffUser.email == address)).scalar_one_or_none()
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if user.locked_until is not None and user.locked_until > now:
        raise Throttled(_("Too many failed attempts. Try again in a few minutes."))
    if check_password_hash(user.password_hash, password or ""):
        user.failed_logins, user.locked_until = 0, None
        session.add(user)
        return user
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.failed_logins, user.locked_until = 0, now + LOCKOUT
    session.add(user)
    return None


# -- managing accounts (admins) -------------------------------------------------------------


def accounts(session: Session) -> list[StaffUser]:
    """Every staff account, admins first, then by address."""
    users = session.execute(select(StaffUser).order_by(StaffUser.email)).scalars()
    return sorted(users, key=lambda u: -ROLES.index(u.role) if u.role in ROLES else 1)


def by_id(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(_("no staff account %(id)s", id=user_id))
    return user


def _admins_left_without(session: Session, user: StaffUser) -> int:
    admins = session.execute(select(StaffUser).where(StaffUser.role == "admin")).scalars()
    return sum(1 for admin in admins if admin.id != user.id)


def change_role(session: Session, user: StaffUser, role: str) -> bool:
    """Give ``user`` another role; False when it had it already. The last admin stays admin."""
    if role not in ROLES:
        raise InvalidInput(_("role must be one of %(roles)s", roles=", ".join(ROLES)), field="role")
    if user.role == role:
        return False
    if user.role == "admin" and _admins_left_without(session, user) == 0:
        raise Conflict(
            _("%(address)s is the last admin; make another admin first.", address=user.email)
        )
    user.role = role
    session.add(user)
    session.flush()
    return True


def remove(session: Session, user: StaffUser, *, acting: StaffUser | None) -> None:
    """Delete a staff account (its audit entries keep its address). Never oneself, never the
    last admin: somebody must always be able to sign in and manage the rest."""
    if acting is not None and acting.id == user.id:
        raise Conflict(_("You cannot remove your own account."))
    if user.role == "admin" and _admins_left_without(session, user) == 0:
        raise Conflict(
            _("%(address)s is the last admin; make another admin first.", address=user.email)
        )
    session.delete(user)
    session.flush()


def unlock(session: Session, user: StaffUser) -> None:
    """Lift a lock-out after too many failed logins, at once."""
    user.failed_logins, user.locked_until = 0, None
    session.add(user)
    session.flush()


def change_password(session: Session, user: StaffUser, current: str, new: str) -> None:
    """Set a new password after checking the current one (a session alone is not enough)."""
    if not check_password_hash(user.password_hash, current or ""):
        raise InvalidInput(_("The current password is not right."), field="current")
    if len(new or "") < 10:
        raise InvalidInput(_("password must be at least 10 characters long"), field="new")
    user.password_hash = generate_password_hash(new, method="scrypt")
    session.add(user)
    session.flush()
