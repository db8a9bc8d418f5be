"""API tokens: created by admins, shown once, kept as a hash, with a role and an optional expiry.

A token is 32 random bytes, so a plain SHA-256 of it is as good as a slow password hash and
lets every request find its row with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from subscribers.admin.staff import ROLES
from subscribers.core.errors import Conflict, InvalidInput, NotFound, TokenError
from subscribers.core.i18n import gettext as _
from subscribers.core.models import ApiToken

PREFIX = "nlt_"  # recognisable in a leaked file or a secret scanner
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(
    session: Session,
    name: str,
    role: str,
    *,
    now: datetime,
    expires_at: datetime | None = None,
    created_by: str = "",
) -> tuple[ApiToken, str]:
    """A new token and its secret value, which is never stored and cannot be shown again."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidInput(
            _("name: 1 to 100 letters, digits, spaces or . _ @ - (first a letter or digit)"),
            field="name",
        )
    if role not in ROLES:
        raise InvalidInput(_("role must be one of %(roles)s", roles=", ".join(ROLES)), field="role")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(_("expires: must be in the future"), field="expires")
    if session.execute(select(col(ApiToken.id)).where(col(ApiToken.name) == name)).first():
        raise Conflict(_("a token named %(name)s exists already", name=name))
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=_hash(secret),
        role=role,
        created_at=now,
        created_by=created_by[:320],
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, secret


def all_tokens(session: Session) -> list[ApiToken]:
    return list(session.execute(select(ApiToken).order_by(ApiToken.name)).scalars())


def by_name(session: Session, name: str) -> ApiToken:
    token: ApiToken | None = session.execute(
        select(ApiToken).where(col(ApiToken.name) == (name or "").strip())
    ).scalar_one_or_none()
    if token is None:
        raise NotFound(_("no API token named %(name)s", name=repr(name)))
    return token


def revoke(session: Session, token: ApiToken, *, now: datetime) -> bool:
    """Stop a token working at once; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    session.add(token)
    session.flush()
    return True


def state(token: ApiToken, now: datetime) -> str:
    """active, expired or revoked."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


def authenticate(session: Session, secret: str, *, now: datetime) -> ApiToken:
    """The token for a bearer value, its last use recorded; TokenError when it does not work."""
    token: ApiToken | None = session.execute(
        select(ApiToken).where(col(ApiToken.token_hash) == _hash(secret or ""))
    ).scalar_one_or_none()
    if token is None:
        raise TokenError(_("This token is not valid."))
    status = state(token, now)
    if status == "revoked":
        raise TokenError(_("This token was revoked."))
    if status == "expired":
        raise TokenError(_("This token has expired."), expired=True)
    token.last_used_at = now
    session.add(token)
    return token
