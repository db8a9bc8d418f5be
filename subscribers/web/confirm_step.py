"""The "are you sure?" step before a mass or irreversible send, shared by every such view.

The first POST renders the figures and a one-time token with the same form fields; the second
POST (the button naming the action) carries the token, which the send spends in its own
transaction (subscribers/people/confirmations.py), so a replay sends nothing.
"""

from __future__ import annotations

from flask import render_template, request
from flask_babel import format_number, ngettext
from flask_babel import gettext as _

from subscribers.core.db import transaction
from subscribers.people import confirmations
from subscribers.people.audience import Reach
from subscribers.web.auth import current_staff
from subscribers.web.context import db, runtime

FIELD = "confirm_token"


def token() -> str | None:
    """The confirmation token of this POST, or None on the first (unconfirmed) POST."""
    return request.form.get(FIELD) or None


def question(asked: str, reach: Reach, *after: str) -> str:
    """The question (an ngettext on ``reach.members``, its ``count`` given as ``format_number``
    shows it), then how many languages the mail goes out in (a sentence of its own, so
    that each count has its own plural form), then any warning."""
    languages = ngettext(
        "The mail goes out in %(count)s language.",
        "The mail goes out in %(count)s languages.",
        reach.languages,
        count=format_number(reach.languages),
    )
    return " ".join([asked, languages, *after])


def send_now(reach: Reach, list_name: str, *after: str) -> str:
    """The question before a send to a whole list (or a segment of it): "Send to N members of
    <list> now?", then the languages and any warning (``question``)."""
    asked = ngettext(
        "Send to %(count)s member of %(list)s now?",
        "Send to %(count)s members of %(list)s now?",
        reach.members,
        count=format_number(reach.members),
        list=list_name,
    )
    return question(asked, reach, *after)


def page(*, action: str, question: str, button: str, back: str, danger: bool = False) -> str:
    """The confirmation page: ``question`` in numbers, the same fields, a fresh token."""
    with transaction(db()) as s:
        new_token = confirmations.issue(s, action, now=runtime().clock())
    fields = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in ("csrf_token", FIELD)
    ]
    return render_template(
        "admin/confirm.html",
        user=current_staff(),
        question=question,
        button=button,
        back=back,
        danger=danger,
        fields=fields,
        token=new_token,
        token_field=FIELD,
        title=_("Please confirm"),
    )
