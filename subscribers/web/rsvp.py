"""Public RSVP pages: the link in an invitation leads to a page whose button POSTs the answer.

A GET only shows the event and the answer the link stands for, so a mail scanner that follows
every link answers nothing. The join link never appears here: it goes by mail to those who said
yes (see subscribers/invitations/event_mails.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from subscribers.core.db import transaction
from subscribers.core.errors import Conflict
from subscribers.core.models import Event, Member
from subscribers.invitations import events, lookup, rsvp
from subscribers.invitations.event_mails import (
    RSVP_ANSWERS,
    Phrases,
    event_facts,
    local_times,
    member_zone,
    rsvp_url,
    written,
)
from subscribers.web import language
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm

bp = Blueprint("rsvp", __name__)


def _page(event: Event, member: Member, answer: str, **extra: Any) -> dict[str, Any]:
    """What the RSVP pages show: the event as mail shows it (never its join link).

    In the page's language: times and phrases, and the event's translation where one exists.
    """
    kit = runtime().kit.in_language(language.page_language())
    assert event.id is not None
    now = runtime().clock()
    reading = written(db(), event).for_reader(kit.language)
    return {
        "event": event_facts(kit, event, reading),
        "times": local_times(Phrases(kit), event, member_zone(member, event)),
        "answer": answer,
        "current": rsvp.status_of(db(), event.id, member.id or 0),
        "open": lookup.answers_open(event, now),
        "cancelled": event.status == "cancelled",
        "other_links": {a: rsvp_url(kit, member, event.id, a) for a in RSVP_ANSWERS if a != answer},
        "form": ButtonForm(),
        **extra,
    }


@bp.route("/events/<int:event_id>/rsvp/<token>", methods=["GET", "POST"])
def answer(event_id: int, token: str) -> str | tuple[str, int]:
    rt = runtime()
    member, answer = rsvp.read_token(db(), rt.kit, event_id, token)
    event = events.get(db(), event_id)
    language.follow_member(member)
    if request.method == "GET":
        return render_template("public/rsvp.html", **_page(event, member, answer))
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        with transaction(db()) as session:
            outcome = rsvp.respond(session, rt.kit, event_id, member, answer, now=rt.clock())
    except Conflict as err:  # full or closed: the event again, saying why (not an error page)
        page = _page(events.get(db(), event_id), member, answer, problem=str(err))
        return render_template("public/rsvp.html", **page), 409
    return render_template(
        "public/rsvp_done.html",
        **_page(outcome.event, member, answer, status=outcome.status, changed=outcome.changed),
    )
