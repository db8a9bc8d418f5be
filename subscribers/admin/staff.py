"""Staff accounts: creation, password check with throttling, roles, session generations."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col
from werkzeug.security import check_password_hash, generate_password_hash

from subscribers.content.multilingual import language_code
from subscribers.core.errors import Conflict, InvalidInput, NotFound, Throttled
from subscribers.core.i18n import gettext as _
from subscribers.core.models import StaffUser
from subscribers.core.validation import normalise_email
from subscribers.people import throttle

ROLES = ("viewer", "editor", "admin")  # each role can do everything the one before can
# Failed sign-ins are counted per client address *and* account: whoever guesses from one
# address is slowed down there, while the real user, from their own address, still gets in.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# Wrong "current password" answers in the password-change form, per account.
MAX_WRONG_CURRENT = 5


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
    if session.execute(select(StaffUser).where(col(StaffUser.email) == address)).first():
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
    user: StaffUser | None = session.execute(
        select(StaffUser).where(col(StaffUser.email) == address)
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(_("no staff account %(address)s", address=repr(address)))
    return user


def _login_key(address: str, ip: str) -> str:
    return f"{_login_prefix(address)}{ip[:64]}"


def _login_prefix(address: str) -> str:
    # A digest, not the address: the key column is short, and it holds no personal data.
    return f"login:{hashlib.sha256(address.encode()).hexdigest()[:24]}:"


def authenticate(
    session: Session, email: str, password: str, *, ip: str, now: datetime
) -> StaffUser | None:
    """The user for a correct password, or None; Throttled after too many failures from this
    address for this account.

    Every path does the same work, one password hash, whether the address is a staff account
    or not and whether it is throttled, so neither the answer nor its time tells them apart.
    """
    address = (email or "").strip().lower()
    user: StaffUser | None = session.execute(
        select(StaffUser).where(col(StaffUser.email) == address)
    ).scalar_one_or_none()
    right = check_password_hash(user.password_hash if user else _dummy_hash(), password or "")
    key = _login_key(address, ip)
    if throttle.attempts(session, key, window=LOCKOUT, now=now) >= MAX_FAILED_LOGINS:
        raise Throttled(_("Too many failed attempts. Try again in a few minutes."))
    if user is None or not right:
        throttle.hit(session, key, limit=MAX_FAILED_LOGINS, window=LOCKOUT, now=now)
        return None
    throttle.clear(session, key)
    return user


def locked_out(session: Session, user: StaffUser, *, now: datetime) -> bool:
    """Whether some address may not try this account's password for now."""
    counters = throttle.windows(session, _login_prefix(user.email), window=LOCKOUT, now=now)
    return any(row.count >= MAX_FAILED_LOGINS for row in counters)


def session_valid(user: StaffUser | None, key: object) -> bool:
    """Whether a session carrying ``key`` still belongs to ``user``."""
    return (
        user is not None
        and isinstance(key, str)
        and secrets.compare_digest(key.encode(), user.session_key.encode())
    )


def sign_out(session: Session, user: StaffUser) -> None:
    """End every session of this account, on every device: a copied cookie stops working."""
    user.session_key = secrets.token_hex(16)
    session.add(user)
    session.flush()


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
    admins = session.execute(select(StaffUser).where(col(StaffUser.role) == "admin")).scalars()
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
    sign_out(session, user)  # signed in again, with the new role's rights
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
    """Let every address try this account's password again, at once."""
    throttle.clear(session, _login_prefix(user.email))
    session.flush()


def set_language(session: Session, user: StaffUser, language: str) -> str:
    """Set the language of a staff member's own workspace; returns the code stored."""
    user.language = language_code(language)
    session.add(user)
    session.flush()
    return user.language


def change_password(
    session: Session, user: StaffUser, current: str, new: str, *, now: datetime
) -> None:
    """Set a new password after checking the current one (a session alone is not enough), and
    end the account's other sessions.

    Wrong current passwords are throttled, so a borrowed session cannot be used to guess it.
    """
    right = check_password_hash(user.password_hash, current or "")
    key = f"password:{user.id}"
    if throttle.attempts(session, key, window=LOCKOUT, now=now) >= MAX_WRONG_CURRENT:
        raise Throttled(_("Too many failed attempts. Try again in a few minutes."))
    if not right:
        throttle.hit(session, key, limit=MAX_WRONG_CURRENT, window=LOCKOUT, now=now)
        raise InvalidInput(_("The current password is not right."), field="current")
    if len(new or "") < 10:
        raise InvalidInput(_("password must be at least 10 characters long"), field="new")
    user.password_hash = generate_password_hash(new, method="scrypt")
    throttle.clear(session, key)
    sign_out(session, user)
