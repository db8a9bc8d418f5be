"""What every staff view does around a service call: audit it, and show its errors on the form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash
from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.wrappers import Response

from subscribers.admin import actions
from subscribers.content.multilingual import Text
from subscribers.core.db import transaction
from subscribers.core.errors import Conflict
from subscribers.web.auth import current_staff
from subscribers.web.context import db, runtime
from subscribers.web.forms_content import TranslationForm
from subscribers.web.refusals import NOTICE, showing_refusals


def staff_actor() -> str:
    """The signed-in staff member, as the audit log names them."""
    user = current_staff()
    return user.email if user else "?"


def record(session: Session, entry: actions.Entry) -> None:
    """An audit entry for what the signed-in staff member just did, in the caller's transaction."""
    actions.write(session, entry, actor=staff_actor(), now=runtime().clock())


def save_translation(
    *,
    save: Callable[[Session, Text], str],
    entry: Callable[[str], actions.Entry],
    page: Callable[[Any], str],
    back: Callable[[str | None], Response],
) -> str | tuple[str, int] | Response:
    """A translation posted from a news item's or an event's page (``TranslationForm``).

    ``save`` writes it through the service and returns the title to name in the notice;
    ``page`` shows the form again with its errors; ``back(language)`` is where to go after,
    previewing that language (``None`` when nothing was saved).
    """
    form = TranslationForm()
    if not form.validate_on_submit():
        return page(form), 400
    text = Text(form.language.data or "", form.title.data or "", form.body.data or "")
    # A Conflict (the item was sent, the event cancelled meanwhile): said above the page.
    with showing_refusals(form, also={Conflict: NOTICE}) as attempt, transaction(db()) as s:
        title = save(s, text)
        record(s, entry(text.language))
    if attempt.noticed:
        return back(None)
    if attempt.refused:
        return page(form), 400
    flash(_("Translation saved: %(title)s", title=title))
    return back(text.language)
