"""Staff workspace — Events: create, edit, invite, answers.

Every view is wrapped in ``role_required``: viewers see events and answers, editors create,
edit, invite, cancel and resend join links. Views parse, call one service, record the action in
the audit log in the same transaction, and render.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_number, ngettext
from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.wrappers import Response as BaseResponse

from mailer.compose import personalise
from subscribers.admin import actions
from subscribers.content import campaigns, lists
from subscribers.content.multilingual import Text
from subscribers.content.templating import available_languages, supported_language
from subscribers.core.db import transaction
from subscribers.core.errors import NotFound
from subscribers.core.models import WAITING, Event, MailingList
from subscribers.core.validation import LANGUAGES
from subscribers.invitations import events, rsvp
from subscribers.people import audience, confirmations
from subscribers.people.audience import Segment
from subscribers.web import confirm_step
from subscribers.web.auth import current_staff, role_required
from subscribers.web.context import db, runtime
from subscribers.web.event_forms import CancelForm, EventForm, InviteForm
from subscribers.web.forms import ButtonForm, list_choices
from subscribers.web.forms_content import TranslationForm
from subscribers.web.refusals import showing_refusals
from subscribers.web.staff_actions import record, save_translation, staff_actor

bp = Blueprint("admin_events", __name__, url_prefix="/admin")


# -- list and detail -----------------------------------------------------------------------


@bp.get("/events")
@role_required("viewer")
def index() -> str:
    return render_template(
        "admin/events.html",
        user=current_staff(),
        rows=events.list_events(db()),
        now=runtime().clock(),
    )


@bp.get("/events/<int:event_id>")
@role_required("viewer")
def detail(event_id: int, translation: TranslationForm | None = None) -> str:
    """The event, its answers, the languages it is written in and the invitation as a reader
    of one of them (``?preview=pl``) gets it."""
    event = events.get(db(), event_id)
    mailing_list = db().get(MailingList, event.list_id)
    assert mailing_list is not None
    rt = runtime()
    written = events.written_languages(db(), event)
    language = supported_language(request.args.get("preview")) or event.language
    mail = events.preview_invitation(db(), rt.kit, event, language)
    values = campaigns.neutral_values(rt.kit, mailing_list, "…")
    unwritten = next((code for code in LANGUAGES if code not in written), written[0])
    return render_template(
        "admin/events_detail.html",
        user=current_staff(),
        event=event,
        mailing_list=mailing_list,
        counts=rsvp.counts(db(), event_id),
        answers=rsvp.answers(db(), event_id),
        invite_form=InviteForm(formdata=None),
        organisations=audience.organisations(db()),
        cancel_form=CancelForm(),
        buttons=ButtonForm(),
        now=rt.clock(),
        written=written,
        translation=translation or TranslationForm(language=unwritten),
        preview_language=mail.language,
        preview_languages=available_languages(),
        preview_mail={"subject": mail.subject, "html": personalise(mail, values).html},
    )


@bp.post("/events/<int:event_id>/translation")
@role_required("editor")
def translate(event_id: int) -> str | tuple[str, int] | BaseResponse:
    """Write (or rewrite) the event's title and description in one more language."""
    events.get(db(), event_id)

    def save(s: Session, text: Text) -> str:
        events.translate(s, event_id, text)
        return text.title

    return save_translation(
        save=save,
        entry=lambda language: actions.event_translated(event_id, language),
        page=lambda form: detail(event_id, form),
        back=lambda language: redirect(
            url_for("admin_events.detail", event_id=event_id, preview=language)
        ),
    )


@bp.get("/events/<int:event_id>/rsvps.csv")
@role_required("viewer")
def export(event_id: int) -> Response:
    events.get(db(), event_id)
    with transaction(db()) as s:
        body = rsvp.export_csv(s, event_id)
        record(s, actions.rsvps_exported(event_id, len(body.splitlines()) - 1))
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="event-{event_id}-answers.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- create and edit -----------------------------------------------------------------------


@bp.route("/events/new", methods=["GET", "POST"])
@role_required("editor")
def create() -> str | BaseResponse:
    form = EventForm()
    form.list_slug.choices = list_choices(lists.all_lists(db()))
    if request.method == "GET":
        form.timezone.data = runtime().settings.timezone
        form.reminders.data = events.format_reminders(events.DEFAULT_REMINDERS)
        return render_template("admin/events_form.html", user=current_staff(), form=form)
    if form.validate_on_submit():
        rt = runtime()
        with showing_refusals(form, also={NotFound: "list_slug"}) as attempt:
            spec = form.to_spec()
            with transaction(db()):
                event = events.create_event(
                    db(), rt.kit, spec, now=rt.clock(), created_by=staff_actor()
                )
                record(db(), actions.event_created(event))
        if not attempt.refused:
            flash(_("Event created. Invite members below when it is ready."))
            return redirect(url_for("admin_events.detail", event_id=event.id))
    # Shown again with the reasons: nothing was stored.
    return render_template("admin/events_form.html", user=current_staff(), form=form)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@role_required("editor")
def edit(event_id: int) -> str | BaseResponse:
    event = events.get(db(), event_id)
    form = EventForm()
    del form.list_slug  # an event stays with the list it was made for
    spec = events.spec_of(db(), event)
    if request.method == "GET":
        form.fill(spec)
        return render_template(
            "admin/events_form.html", user=current_staff(), form=form, event=event
        )
    if form.validate_on_submit():
        rt = runtime()
        with showing_refusals(form) as attempt:
            new_spec = form.to_spec(spec.list_slug)
            with transaction(db()):
                outcome = events.update_event(
                    db(), rt.kit, event_id, new_spec, now=rt.clock(), created_by=staff_actor()
                )
                record(db(), actions.event_updated(event_id, outcome.describe()))
        if not attempt.refused:
            if outcome.changes:
                flash(
                    ngettext(
                        "Saved. The change was mailed to %(num)d member with an updated "
                        "calendar entry.",
                        "Saved. The change was mailed to %(num)d members with an updated "
                        "calendar entry.",
                        outcome.mailed,
                    )
                )
            else:
                flash(_("Saved. The time and place did not change, so nobody was mailed."))
            return redirect(url_for("admin_events.detail", event_id=event_id))
    return render_template("admin/events_form.html", user=current_staff(), form=form, event=event)


# -- actions -------------------------------------------------------------------------------


@bp.post("/events/<int:event_id>/invite")
@role_required("editor")
def invite(event_id: int) -> str | BaseResponse:
    events.get(db(), event_id)
    form = InviteForm()
    if not form.validate_on_submit():
        abort(400)
    rt = runtime()
    action, token = f"invite:{event_id}", confirm_step.token()
    with showing_refusals() as attempt:
        segment = form.segment()
        if token is None:
            return _confirm_invite(event_id, segment)
        with transaction(db()):
            confirmations.spend(db(), token, action, now=rt.clock())
            campaign, count = events.invite(
                db(), rt.kit, event_id, segment, now=rt.clock(), created_by=staff_actor()
            )
            if campaign is not None:  # nobody new (a second tab confirmed): nothing to log
                record(db(), actions.event_invited(event_id, count, segment))
    if not attempt.refused:
        if campaign is None:
            flash(_nobody_to_invite(events.get(db(), event_id), segment))
        else:
            flash(
                ngettext(
                    "Invitation queued for %(num)d member.",
                    "Invitation queued for %(num)d members.",
                    count,
                )
            )
    return redirect(url_for("admin_events.detail", event_id=event_id))


def _confirm_invite(event_id: int, segment: Segment) -> str | BaseResponse:
    with transaction(db()):
        reach = events.invite_reach(db(), event_id, segment)
    event = events.get(db(), event_id)
    if reach.members == 0:  # nothing to confirm: say why nobody would be invited
        flash(_nobody_to_invite(event, segment))
        return redirect(url_for("admin_events.detail", event_id=event_id))
    mailing_list = db().get(MailingList, event.list_id)
    assert mailing_list is not None
    asked = ngettext(
        "Invite %(count)s member of %(list)s now?",
        "Invite %(count)s members of %(list)s now?",
        reach.members,
        count=format_number(reach.members),
        list=mailing_list.name,
    )
    question = confirm_step.question(asked, reach)
    return confirm_step.page(
        action=f"invite:{event_id}",
        question=question,
        button=_("Send invitations"),
        back=url_for("admin_events.detail", event_id=event_id),
    )


def _nobody_to_invite(event: Event, segment: Segment) -> str:
    mailing_list = db().get(MailingList, event.list_id)
    assert mailing_list is not None
    if audience.count(db(), mailing_list, segment) == 0:
        return _("Nobody on this list matches this audience; nobody was invited.")
    return _("Nobody new to invite: everyone in this audience is invited already.")


def _confirm_cancel(event_id: int) -> str:
    with transaction(db()):
        reach = events.cancel_reach(db(), event_id)
    asked = ngettext(
        "Cancel “%(event)s” and mail %(count)s invited member?",
        "Cancel “%(event)s” and mail %(count)s invited members?",
        reach.members,
        count=format_number(reach.members),
        event=events.get(db(), event_id).title,
    )
    question = confirm_step.question(asked, reach, _("This cannot be undone."))
    return confirm_step.page(
        action=f"cancel:{event_id}",
        question=question,
        button=_("Cancel the event"),
        back=url_for("admin_events.detail", event_id=event_id),
        danger=True,
    )


@bp.post("/events/<int:event_id>/cancel")
@role_required("editor")
def cancel(event_id: int) -> str | BaseResponse:
    events.get(db(), event_id)
    form = CancelForm()
    if not form.validate_on_submit():
        abort(400)
    rt = runtime()
    action, token = f"cancel:{event_id}", confirm_step.token()
    with showing_refusals() as attempt:
        if token is None:
            return _confirm_cancel(event_id)
        with transaction(db()):
            confirmations.spend(db(), token, action, now=rt.clock())
            _event, count = events.cancel_event(
                db(),
                rt.kit,
                event_id,
                now=rt.clock(),
                reason=form.reason.data or "",
                created_by=staff_actor(),
            )
            record(db(), actions.event_cancelled(event_id, count))
    if not attempt.refused:
        flash(
            ngettext(
                "Event cancelled; %(num)d member will be told.",
                "Event cancelled; %(num)d members will be told.",
                count,
            )
        )
    return redirect(url_for("admin_events.detail", event_id=event_id))


@bp.post("/events/<int:event_id>/rsvps/<int:member_id>/join-link")
@role_required("editor")
def resend_join_link(event_id: int, member_id: int) -> BaseResponse:
    def resend() -> str:
        rt = runtime()
        member = rsvp.resend_join_link(db(), rt.kit, event_id, member_id, now=rt.clock())
        record(db(), actions.join_link_sent(event_id, member_id))
        return _("Join link sent again to %(name)s.", name=member.display_name)

    return _answer_action(event_id, resend)


@bp.post("/events/<int:event_id>/rsvps/<int:member_id>/release")
@role_required("editor")
def release_seat(event_id: int, member_id: int) -> BaseResponse:
    """Give the seat of a member who left (or cannot be mailed) to the waiting list."""

    def release() -> str:
        rt = runtime()
        released = rsvp.release_seat(db(), rt.kit, event_id, member_id, now=rt.clock())
        moved_up = ", ".join(f"member {m.id}" for m in released.promoted) or "nobody"
        detail = f"member {member_id} ({released.departed}, was {released.previous}); "
        record(db(), actions.seat_released(event_id, detail + f"moved up: {moved_up}"))
        return _seat_released(released)

    return _answer_action(event_id, release)


def _answer_action(event_id: int, act: Callable[[], str]) -> BaseResponse:
    """A button in a row of the answers table: CSRF-checked, one transaction (the service and
    its audit entry), its outcome or its refusal flashed above the table."""
    events.get(db(), event_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    with showing_refusals() as attempt, transaction(db()):
        message = act()
    if not attempt.refused:
        flash(message)
    return redirect(url_for("admin_events.detail", event_id=event_id))


def _seat_released(released: rsvp.Released) -> str:
    name = released.member.display_name
    if released.previous == WAITING:
        return _("%(name)s was taken off the waiting list.", name=name)
    if not released.promoted:
        return _("The seat of %(name)s is free again.", name=name)
    return _(
        "The seat of %(name)s went to %(next)s, the first on the waiting list, who was mailed.",
        name=name,
        next=", ".join(m.display_name for m in released.promoted),
    )
