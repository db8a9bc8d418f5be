"""Staff workspace — News, announcements, lists and the campaign monitor.

Every view is wrapped in ``role_required``: viewers read everything, editors write content and
send, admins also change lists. Each view parses a form, calls one service inside the request's
transaction, records the change in the audit log in that same transaction, and renders. Bad
input shows the form again with the message next to its field; the transaction is rolled back,
so nothing changes.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_timedelta, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from mailer import outbox, pacing, workers
from mailer.compose import personalise
from subscribers.admin import actions
from subscribers.admin.staff import role_allows
from subscribers.content import brakes, campaign_list, campaigns, digests, lists, news
from subscribers.content.campaigns import Announcement
from subscribers.content.templating import available_languages, supported_language
from subscribers.core.db import transaction
from subscribers.core.errors import Conflict, InvalidInput, NewsletterError, NotFound
from subscribers.core.models import MailingList
from subscribers.core.validation import LANGUAGES
from subscribers.insight import clicks, dashboard, deliverability
from subscribers.invitations import events
from subscribers.people import audience, confirmations
from subscribers.web import confirm_step, dates
from subscribers.web.auth import current_staff, role_required
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm, list_choices
from subscribers.web.forms_content import (
    AnnounceForm,
    AudienceQuery,
    ListForm,
    NewsEditForm,
    NewsForm,
    TranslationForm,
)
from subscribers.web.language import page_language
from subscribers.web.refusals import Where, showing_refusals
from subscribers.web.staff_actions import record, save_translation, staff_actor

bp = Blueprint("admin_content", __name__, url_prefix="/admin")

View = str | tuple[str, int] | BaseResponse


@bp.context_processor
def _helpers() -> dict[str, Any]:
    user = current_staff()

    def can(role: str) -> bool:
        return user is not None and role_allows(user.role, role)

    return {"user": user, "can": can, "buttons": ButtonForm()}


def _button_pressed() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400)


# -- lists ----------------------------------------------------------------------------------


@bp.get("/lists")
@role_required("viewer")
def lists_index() -> str:
    now = runtime().clock()
    rows = []
    for row in dashboard.list_counts(db()):
        lst = row.mailing_list
        next_digest = (
            digests.digest_trigger(lst).get_next_fire_time(None, now) if lst.digest_cron else None
        )
        rows.append((lst, row.by_status, next_digest))
    return render_template("admin/lists.html", rows=rows)


def _list_form_page(form: ListForm, *, slug: str | None, lst: MailingList | None = None) -> str:
    return render_template(
        "admin/lists_form.html",
        form=form,
        slug=slug,
        zones=_zones(),
        schedule_now=dates.schedule(lst) if lst is not None else None,
    )


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))


@bp.route("/lists/new", methods=["GET", "POST"])
@role_required("admin")
def list_new() -> View:
    form = ListForm()
    if request.method == "GET":
        form.timezone.data = runtime().settings.timezone
        form.public.data = True
        return _list_form_page(form, slug=None)
    if not form.validate_on_submit():
        return _list_form_page(form, slug=None)
    with showing_refusals(form, also={Conflict: "slug"}) as attempt, transaction(db()) as s:
        lst = lists.create(s, form.to_spec(), now=runtime().clock())
        record(s, actions.list_created(lst))
    if attempt.refused:
        return _list_form_page(form, slug=None)
    flash(_("List “%(name)s” created.", name=lst.name))
    return redirect(url_for(".lists_index"))


@bp.route("/lists/<slug>/edit", methods=["GET", "POST"])
@role_required("admin")
def list_edit(slug: str) -> View:
    lst = lists.by_slug(db(), slug)
    form = ListForm()
    if request.method == "GET":
        form.fill(lst)
        return _list_form_page(form, slug=slug, lst=lst)
    if not form.validate_on_submit():
        return _list_form_page(form, slug=slug, lst=lst)
    with showing_refusals(form) as attempt, transaction(db()) as s:
        lst, changed = lists.update(s, slug, form.to_change())
        if changed:
            record(s, actions.list_edited(slug, changed))
    if attempt.refused:
        return _list_form_page(form, slug=slug, lst=lst)
    if changed:
        flash(_("List “%(name)s” saved.", name=lst.name))
    else:
        flash(_("Nothing to change."))
    return redirect(url_for(".lists_index"))


# -- news -----------------------------------------------------------------------------------


@bp.get("/news")
@role_required("viewer")
def news_index() -> str:
    slug = request.args.get("list") or None
    items = news.for_list(db(), slug)
    all_lists = lists.all_lists(db())
    return render_template(
        "admin/news.html",
        items=items,
        lists_by_id={lst.id: lst for lst in all_lists},
        all_lists=all_lists,
        selected=slug,
    )


def _news_form_page(form: NewsEditForm, *, item: Any = None, preview: str | None = None) -> str:
    return render_template("admin/news_form.html", form=form, item=item, preview=preview)


@bp.route("/news/new", methods=["GET", "POST"])
@role_required("editor")
def news_new() -> View:
    form = NewsForm()
    form.list_slug.choices = list_choices(lists.all_lists(db()), with_slug=True)
    if request.method == "GET":
        form.list_slug.data = request.args.get("list")
        return _news_form_page(form)
    if not form.validate_on_submit():
        return _news_form_page(form)
    if request.form.get("action") == "preview":
        return _news_form_page(form, preview=news.preview_html(form.body.data or ""))
    with showing_refusals(form, also=_unknown_list()) as attempt, transaction(db()) as s:
        item = news.add(
            s,
            form.list_slug.data or "",
            title=form.title.data or "",
            body=form.body.data or "",
            link=form.link.data,
            now=runtime().clock(),
            created_by=staff_actor(),
        )
        record(s, actions.news_added(item))
    if attempt.refused:
        return _news_form_page(form)
    flash(_("“%(title)s” is queued for the next digest.", title=item.title))
    return redirect(url_for(".news_item", item_id=item.id))


def _unknown_list() -> dict[type[NewsletterError], Where]:
    """A list chosen on a send form that is gone (or never was): asked again, at its field."""
    return {NotFound: InvalidInput(_("Please choose a list."), field="list_slug")}


@bp.get("/news/<int:item_id>")
@role_required("viewer")
def news_item(item_id: int, translation: TranslationForm | None = None) -> str:
    """The item, the languages it is written in, and the digest as a reader of one of them
    (``?preview=pl``) would get it."""
    item = news.get(db(), item_id)
    mailing_list = db().get(MailingList, item.list_id)
    written = news.written(db(), [item])[item_id]
    language = supported_language(request.args.get("preview")) or item.language
    rt = runtime()
    mail = digests.preview_item(db(), rt.kit, item, language, now=rt.clock())
    values = campaigns.neutral_values(rt.kit, mailing_list, "…") if mailing_list else {}
    return render_template(
        "admin/news_item.html",
        item=item,
        mailing_list=mailing_list,
        preview=news.preview_html(item.body),
        written=written.languages,
        preview_language=mail.language,
        preview_languages=available_languages(),
        preview_mail={"subject": mail.subject, "html": personalise(mail, values).html},
        translation=translation or TranslationForm(language=_first_unwritten(written.languages)),
    )


def _first_unwritten(written: list[str]) -> str:
    return next((code for code in LANGUAGES if code not in written), written[0])


@bp.post("/news/<int:item_id>/translation")
@role_required("editor")
def news_translate(item_id: int) -> View:
    """Write (or rewrite) the item's title and body in one more language."""
    news.get(db(), item_id)
    return save_translation(
        save=lambda s, text: news.translate(s, item_id, text).title,
        entry=lambda language: actions.news_translated(item_id, language),
        page=lambda form: news_item(item_id, form),
        back=lambda language: redirect(
            url_for("admin_content.news_item", item_id=item_id, preview=language)
        ),
    )


@bp.route("/news/<int:item_id>/edit", methods=["GET", "POST"])
@role_required("editor")
def news_edit(item_id: int) -> View:
    item = news.get(db(), item_id)
    if item.status != news.QUEUED:
        flash(
            _("This item was already %(status)s; it can no longer be changed.", status=item.status)
        )
        return redirect(url_for(".news_item", item_id=item_id))
    form = NewsEditForm(obj=item)
    if request.method == "GET" or not form.validate_on_submit():
        return _news_form_page(form, item=item)
    if request.form.get("action") == "preview":
        return _news_form_page(form, item=item, preview=news.preview_html(form.body.data or ""))
    with showing_refusals(form) as attempt, transaction(db()) as s:
        item = news.update(
            s,
            item_id,
            title=form.title.data or "",
            body=form.body.data or "",
            link=form.link.data or "",
        )
        record(s, actions.news_edited(item))
    if attempt.refused:
        return _news_form_page(form, item=item)
    flash(_("Saved."))
    return redirect(url_for(".news_item", item_id=item_id))


@bp.post("/news/<int:item_id>/withdraw")
@role_required("editor")
def news_withdraw(item_id: int) -> BaseResponse:
    _button_pressed()
    news.get(db(), item_id)
    with showing_refusals() as attempt, transaction(db()) as s:
        item = news.withdraw(s, item_id)
        record(s, actions.news_withdrawn(item))
    if not attempt.refused:
        flash(_("“%(title)s” was withdrawn; it will not be in a digest.", title=item.title))
    return redirect(url_for(".news_item", item_id=item_id))


# -- announcements --------------------------------------------------------------------------


def _announce_page(form: AnnounceForm, **extra: Any) -> str:
    # Which languages the form holds: the original's, then each translation filled in.
    original = form.text_language.data or ""
    written = [original, *(t.language for t in form.translated() if t.language != original)]
    return render_template(
        "admin/announce.html",
        form=form,
        zone=runtime().settings.timezone,
        written=[code for code in written if code in LANGUAGES],
        organisations=audience.organisations(db()),
        **extra,
    )


def _announcement(form: AnnounceForm, *, now: datetime) -> Announcement:
    return Announcement(
        list_slug=form.list_slug.data or "",
        subject=form.subject.data or "",
        body_markdown=form.body.data or "",
        segment=form.segment(),
        send_after=form.send_time(runtime().settings.timezone, now),
        created_by=staff_actor(),
        language=form.text_language.data or None,
        translations=form.translated(),
        archive=form.archive_choice(),
    )


@bp.route("/announce", methods=["GET", "POST"])
@role_required("editor")
def announce() -> View:
    """Write, count, preview, test, then send or schedule an announcement (one form)."""
    form = AnnounceForm()
    form.list_slug.choices = list_choices(lists.all_lists(db()), with_slug=True)
    if request.method == "GET":
        form.list_slug.data = request.args.get("list")
        # The list's language is the likely one of the text; staff change it if not.
        chosen = next(
            (lst for lst in lists.all_lists(db()) if lst.slug == form.list_slug.data), None
        )
        form.text_language.data = chosen.language if chosen else page_language()
        form.preview_language.data = form.text_language.data
        return _announce_page(form)
    if not form.validate_on_submit():
        return _announce_page(form)
    action = request.form.get("action", "")
    rt = runtime()
    now = rt.clock()
    with showing_refusals(
        form, also=_unknown_list()
    ) as attempt:  # Conflict: a replayed confirmation
        if action == "count":
            count = campaigns.audience_size(db(), form.list_slug.data or "", form.segment())
            return _announce_page(form, count=count)
        if action == "preview":
            preview = campaigns.preview_announcement(
                db(), rt.kit, _announcement(form, now=now), form.preview_language.data or None
            )
            # Links in the sandboxed frame open in a new tab (as in the caught-mail view).
            html = preview.html.replace("<head>", '<head><base target="_blank">', 1)
            return _announce_page(
                form, preview=preview, preview_html=html, count=preview.recipients
            )
        if action == "test":
            return _send_test(form, now=now)
        if action in ("send", "schedule"):
            return _send(form, action=action, now=now)
    if not attempt.refused:
        form.form_errors.append(_("Please use one of the buttons below the form."))
    return _announce_page(form)


def _send_test(form: AnnounceForm, *, now: datetime) -> str:
    user = current_staff()
    assert user is not None  # role_required let us in
    announcement = _announcement(form, now=now)
    with transaction(db()) as s:
        campaign = campaigns.send_test(s, runtime().kit, announcement, to=user, now=now)
        record(s, actions.announcement_tested(campaign, user.email))
    notice = _("A test was queued to %(email)s; it arrives within a minute.", email=user.email)
    return _announce_page(form, notice=notice, test_campaign=campaign)


def _send(form: AnnounceForm, *, action: str, now: datetime) -> str | BaseResponse:
    announcement = _announcement(form, now=now)
    if action == "schedule" and announcement.send_after is None:
        raise InvalidInput(_("Please choose when to send it."), field="send_after")
    if action == "send" and announcement.send_after is not None:
        raise InvalidInput(
            _("To send now, leave this empty (or use “Schedule”)."), field="send_after"
        )
    token = confirm_step.token()
    if action == "send" and token is None:
        reach = campaigns.announcement_reach(db(), runtime().kit, announcement)
        if reach.members == 0:
            raise _nobody_matches()
        mailing_list = lists.by_slug(db(), announcement.list_slug)
        question = confirm_step.send_now(reach, mailing_list.name, _archive_sentence(announcement))
        back = url_for(".announce", list=announcement.list_slug)
        return confirm_step.page(
            action="announce", question=question, button=_("Send now"), back=back
        )
    with transaction(db()) as s:
        if action == "send":
            confirmations.spend(s, token or "", "announce", now=now)
        campaign, count = campaigns.create_announcement(s, runtime().kit, announcement, now=now)
        if count == 0:  # rolled back: an announcement to nobody is a mistake, not a campaign
            raise _nobody_matches()
        record(s, actions.announced(campaign, announcement, count))
    if announcement.send_after:
        flash(ngettext("Scheduled for %(num)d member.", "Scheduled for %(num)d members.", count))
    else:
        flash(ngettext("Queued for %(num)d member.", "Queued for %(num)d members.", count))
    return redirect(url_for(".campaign", campaign_id=campaign.id))


def _archive_sentence(announcement: Announcement) -> str:
    if announcement.in_archive:
        return _("It will also be published in the list's public archive.")
    return _("It will not be published in the public archive.")


def _nobody_matches() -> InvalidInput:
    return InvalidInput(
        _("Nobody on this list matches this audience; nothing was sent."), field="list_slug"
    )


@bp.get("/announce/count")
@role_required("viewer")
def announce_count() -> tuple[BaseResponse, int] | BaseResponse:
    """The live number of recipients (JSON) for the audience builder of every send form.

    ``list_slug`` and the segment fields for an announcement; with ``event=ID`` instead, the
    members of the event's list the invitation would reach (those not invited yet).
    """
    form = AudienceQuery(formdata=request.args)
    event_id = request.args.get("event", "")
    try:
        segment = form.segment()
        if event_id:
            if not event_id.isdecimal():
                raise NotFound(_("no event %(id)s", id=event_id))
            count = events.invite_reach(db(), int(event_id), segment).members
        else:
            count = campaigns.audience_size(db(), form.list_slug.data or "", segment)
    except NotFound as err:  # the audience builder's script shows {"error"} beside the form
        return jsonify(error=str(err)), 404
    except InvalidInput as err:
        return jsonify(error=str(err), field=err.field), 400
    return jsonify(count=count)


# -- campaigns ------------------------------------------------------------------------------


@bp.get("/campaigns")
@role_required("viewer")
def campaigns_index() -> str:
    """Mass mail or transactional mail (a tab each), filtered by kind, list and state (GET)."""
    all_lists = lists.all_lists(db())
    wanted, problems = campaign_list.CampaignFilter.parse(request.args, all_lists)
    now = runtime().clock()
    return render_template(
        "admin/campaigns.html",
        rows=campaign_list.find(db(), wanted, all_lists, now=now),
        wanted=wanted,
        problems=problems,
        lists=all_lists,
        lists_by_id={lst.id: lst for lst in all_lists},
        kinds=campaign_list.KINDS,
        states=campaign_list.STATES,
        limit=campaign_list.LIMIT,
        now=now,
    )


@bp.get("/deliverability")
@role_required("viewer")
def deliverability_figures() -> str:
    """Hard and soft bounces, complaints and suppressions per campaign and per list."""
    now = runtime().clock()
    return render_template(
        "admin/deliverability.html",
        campaigns=deliverability.per_campaign(db(), now=now),
        lists=deliverability.per_list(db(), now=now),
        weeks=deliverability.week_starts(now),
    )


@bp.get("/campaigns/<int:campaign_id>")
@role_required("viewer")
def campaign(campaign_id: int) -> str:
    progress = campaigns.progress(db(), campaign_id)
    list_id = progress.campaign.list_id
    now = runtime().clock()
    return render_template(
        "admin/campaign.html",
        p=progress,
        mailing_list=db().get(MailingList, list_id) if list_id else None,
        problems=campaigns.problems(db(), campaign_id),
        brake=brakes.explain(db(), progress.campaign, brakes.Limits.of(runtime().settings)),
        clicks=clicks.figures(db(), campaign_id),
        holders=workers.holders(db(), now=now, campaign_ids=[campaign_id]),
        pauses=pacing.active_pauses(db(), now),
        since=lambda when: format_timedelta(when - now, add_direction=True),
        now=now,
    )


@bp.get("/campaigns/<int:campaign_id>/progress")
@role_required("viewer")
def campaign_progress(campaign_id: int) -> BaseResponse:
    """Counts by state and percent done, polled by the monitor page."""
    return jsonify(campaigns.progress(db(), campaign_id).as_json(runtime().clock()))


def _steer(campaign_id: int, status: str, action: str, message: str) -> BaseResponse:
    _button_pressed()
    with showing_refusals() as attempt, transaction(db()) as s:
        campaigns.set_status(s, campaign_id, status)
        record(s, actions.campaign_status_set(campaign_id, action))
    if not attempt.refused:
        flash(message)
    return redirect(url_for(".campaign", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/pause")
@role_required("editor")
def campaign_pause(campaign_id: int) -> BaseResponse:
    return _steer(
        campaign_id, outbox.PAUSED, "pause", _("Paused. Nothing more is sent until resumed.")
    )


@bp.post("/campaigns/<int:campaign_id>/resume")
@role_required("editor")
def campaign_resume(campaign_id: int) -> BaseResponse:
    return _steer(campaign_id, outbox.ACTIVE, "resume", _("Resumed."))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@role_required("editor")
def campaign_cancel(campaign_id: int) -> BaseResponse:
    return _steer(
        campaign_id, outbox.CANCELLED, "cancel", _("Cancelled. What was not yet sent is skipped.")
    )
