"""Public pages: register, confirm, manage, unsubscribe, health.

Links in mail lead to pages whose state-changing action is a POST (a button), so a mail scanner
that follows links confirms or unsubscribes nobody. The one exception is the RFC 8058 one-click
POST, which is a POST already and carries its own signed token.
"""

from __future__ import annotations

import json
from dataclasses import replace

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as visitor_session
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.wrappers import Response as BaseResponse

from subscribers.content import archive
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput, TokenError
from subscribers.core.models import MailingList, Member
from subscribers.core.tokens import MANAGE_MAX_AGE
from subscribers.insight import clicks
from subscribers.people import consent, preferences, registration
from subscribers.people.consent import Wording
from subscribers.people.registration import member_for_token, public_lists
from subscribers.web import language
from subscribers.web.context import client_ip, csrf, db, reader, runtime
from subscribers.web.errors import answer_for, bad_link_page
from subscribers.web.forms import (
    ButtonForm,
    EraseForm,
    ManageForm,
    RegistrationForm,
    choices,
    posted_registration,
    registration_request,
)
from subscribers.web.refusals import show_errors, showing_refusals

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("public.register"))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db().execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/c/<token>")
def click(token: str) -> BaseResponse:
    """A link in a campaign: count the click, then go where the link leads (only its own URLs)."""
    rt = runtime()
    # A write on a GET: its own session, not the request's read-only one.
    with transaction(rt.new_session()) as session:
        url = clicks.follow(
            session, token, request.args.get("r"), signer=rt.kit.signer, now=rt.clock()
        )
    if url is None:
        abort(404)
    return redirect(url, code=302)


@bp.get("/privacy")
def privacy() -> str:
    return render_template("public/privacy.html", wording=_consent_wording())


def _offered_lists(slug: str | None) -> list[MailingList]:
    """The lists the form offers (OfferedLists); the page speaks the language of ``slug``'s."""
    offered = runtime().offered
    if request.method == "POST":
        # The copy the form was shown from (registration.register checks it as it writes), or
        # read outside the write transaction: on SQLite, the form is checked (CSRF, address)
        # before the registration takes the write lock, which a draining worker wants too.
        wanted = request.form.getlist("lists")
        lists = offered.lists(wanted, lambda: public_lists(reader()))
    else:
        lists = offered.remember(public_lists(db()))
    language.follow_list(next((lst for lst in lists if lst.slug == slug), None))
    return lists


def _registration_form(lists: list[MailingList]) -> RegistrationForm:
    form = RegistrationForm()
    form.lists.choices = choices([(lst.slug, lst.name) for lst in lists])
    return form


@bp.route("/register", methods=["GET", "POST"], defaults={"slug": None})
@bp.route("/register/<slug>", methods=["GET", "POST"])
def register(slug: str | None) -> str | tuple[str, int]:
    lists = _offered_lists(slug)
    if request.method == "POST":
        return _submit_registration(lists)
    if slug is not None and slug not in {lst.slug for lst in lists}:
        abort(404)
    form = _registration_form(lists)
    form.lists.data = [slug] if slug else [lst.slug for lst in lists[:1]]
    # The language the visitor is reading is the best guess for their mail.
    form.language.data = language.page_language()
    return _register_page(form, lists, _consent_wording())


def _submit_registration(lists: list[MailingList]) -> str | tuple[str, int]:
    """A posted registration: its values are read without building the form (CSRFProtect has
    checked the token), which is built only when a problem is to be shown on it."""
    wording = _consent_wording(request.form.get("consent_wording", ""))
    posted = posted_registration(request.form, page_language=language.page_language())
    if posted["website"]:
        return _check_inbox(None)  # a bot: same answer, nothing done
    rt = runtime()
    try:
        req = registration_request(
            posted,
            ip=client_ip(),
            user_agent=request.user_agent.string,
            check_deliverability=rt.settings.check_deliverability,
        )
        req = replace(req, consent_wording=wording)
        with transaction(db()) as session:
            notice = registration.register(session, rt.kit, req, now=rt.clock(), offered=lists)
    except InvalidInput as err:
        if any(problem.field == "lists" for problem in err.problems):
            rt.offered.forget()  # a list is no longer offered: the next form reads them again
        form = _registration_form(lists)
        show_errors(form, err)
        return _register_page(form, lists, wording), 400
    return _check_inbox(notice)


def _register_page(form: RegistrationForm, lists: list[MailingList], wording: Wording) -> str:
    return render_template("public/register.html", form=form, lists=lists, wording=wording)


# Pages kept per app; a bound, as the key holds the address (a resent link's holds a token).
INBOX_PAGES_KEPT = 256


def _check_inbox(notice: registration.Notice | None) -> str:
    """The "check your inbox" page, rendered once for each answer, language and address.

    It says nothing of the person (see registration.Notice), so the same answer reads the same
    for everyone; rendering it was a tenth of a registration's CPU at 50 sign-ups a second
    (issue 19). A page with flashed notices or query arguments, or from templates that reload
    (debug), is rendered as usual.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if request.query_string or visitor_session.get("_flashes") or app.jinja_env.auto_reload:
        return render_template("public/check_inbox.html", notice=notice)
    sent = notice is None or notice.sent
    answer = (sent, 0 if sent or notice is None else notice.wait_minutes)
    # The language as the selector names it: the page's, without Babel parsing a locale.
    key = (language.select(), request.script_root, request.path, answer)
    pages: dict[tuple[object, ...], str] = app.extensions.setdefault("check_inbox_pages", {})
    page = pages.get(key)
    if page is None:
        page = render_template("public/check_inbox.html", notice=notice)
        if len(pages) >= INBOX_PAGES_KEPT:
            pages.clear()
        pages[key] = page
    return page


def _consent_wording(shown: str = "") -> Wording:
    """The consent wording a form showed (its id posted back), else the current one in the
    page's language. Either way kept by id, so the form's POST reads it without a query."""
    known = runtime().wordings
    wording = None
    if shown.isdecimal():  # what int() reads ("²" is a digit, not a decimal)
        wording = known.get(int(shown)) or consent.get(reader(), int(shown))
    if wording is None:
        wording = consent.current(reader(), language.page_language())
    known[wording.id] = wording
    return wording


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> str | tuple[str, int]:
    try:
        return _confirm(token)
    except TokenError as err:
        if not err.expired:
            raise
        # The one bad link that can be renewed: an expired confirmation offers a new one.
        return bad_link_page(err, resend_token=token), answer_for(err).status


def _confirm(token: str) -> str:
    rt = runtime()
    form = ButtonForm()
    if request.method == "GET":
        member, _extra = member_for_token(db(), rt.kit, "confirm", token, max_age=None)
        language.follow_member(member)
        rt.kit.signer.verify("confirm", token, max_age=registration.CONFIRM_MAX_AGE)
        return render_template("public/confirm.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    with transaction(db()) as session:
        confirmation = registration.confirm_link(
            session,
            rt.kit,
            token,
            now=rt.clock(),
            ip=client_ip(),
            user_agent=request.user_agent.string,
        )
    member = confirmation.member
    language.follow_member(member)
    return render_template(
        "public/confirmed.html",
        outcome=confirmation.outcome,
        manage_url=rt.kit.manage_url(member),
        register_url=url_for(".register"),
    )


@bp.post("/confirm/<token>/resend")
def resend(token: str) -> str:
    form = ButtonForm()
    if not form.validate_on_submit():
        abort(400)
    rt = runtime()
    with transaction(db()) as session:
        notice = registration.resend_confirmation(session, rt.kit, token, now=rt.clock())
    return _check_inbox(notice)


def _manage_member(token: str) -> Member:
    member, _extra = member_for_token(db(), runtime().kit, "manage", token, max_age=MANAGE_MAX_AGE)
    language.follow_member(member)
    return member


def _manage_form(member: Member) -> ManageForm:
    form = ManageForm(obj=None if request.method == "POST" else member)
    offered = preferences.offered_lists(db(), member)
    form.lists.choices = choices([(lst.id, lst.name) for lst in offered])
    if request.method == "GET":
        form.lists.data = sorted(preferences.chosen_list_ids(db(), member))
    return form


def _manage_page(
    token: str,
    member: Member,
    form: ManageForm,
    erase: EraseForm | None = None,
    saved: bool = False,
) -> str:
    return render_template(
        "public/manage.html",
        form=form,
        member=member,
        token=token,
        saved=saved,
        buttons=ButtonForm(),
        erase=erase or EraseForm(),
    )


@bp.route("/manage/<token>", methods=["GET", "POST"])
def manage(token: str) -> str | tuple[str, int]:
    member = _manage_member(token)
    form = _manage_form(member)
    if request.method == "GET":
        return _manage_page(token, member, form)
    if not form.validate_on_submit():
        return _manage_page(token, member, form), 400
    with showing_refusals(form) as attempt:
        change = form.to_change()
        with transaction(db()) as session:
            preferences.update_preferences(session, member, change, now=runtime().clock())
    if attempt.refused:
        return _manage_page(token, member, form), 400
    language.follow_member(member)  # a new language choice shows at once
    return _manage_page(token, member, form, saved=True)


@bp.post("/manage/<token>/unsubscribe")
def manage_unsubscribe(token: str) -> str:
    member = _manage_member(token)
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction(db()) as session:
        preferences.unsubscribe(session, member, now=runtime().clock(), source="manage page")
    return render_template("public/unsubscribed.html", manage_url=runtime().kit.manage_url(member))


@bp.post("/manage/<token>/export")
def export(token: str) -> Response:
    member = _manage_member(token)
    if not ButtonForm().validate_on_submit():
        abort(400)
    body = json.dumps(preferences.export(db(), member), indent=2, ensure_ascii=False)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-newsletter-data.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/manage/<token>/erase")
def erase(token: str) -> str | tuple[str, int]:
    member = _manage_member(token)
    form = EraseForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.sure.data:
        form.sure.errors = [_("Tick the box to confirm that you want your data erased.")]
        return _manage_page(token, member, _manage_form(member), erase=form), 400
    with transaction(db()) as session:
        preferences.erase(session, runtime().kit, member, now=runtime().clock())
    return render_template("public/erased.html")


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> str | tuple[str, int]:
    rt = runtime()
    member, scope = member_for_token(db(), rt.kit, "unsubscribe", token)
    language.follow_member(member)
    lst = db().get(MailingList, int(scope)) if scope.isdigit() else None
    return render_template(
        "public/unsubscribe.html",
        form=ButtonForm(),
        mailing_list=lst,
        already=preferences.has_unsubscribed(db(), member, list_id=lst.id if lst else None),
        manage_url=rt.kit.manage_url(member),
    )


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: mail clients POST "List-Unsubscribe=One-Click" with no session
def unsubscribe(token: str) -> str | tuple[str, int]:
    rt = runtime()
    member, scope = member_for_token(db(), rt.kit, "unsubscribe", token)
    language.follow_member(member)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    list_id = int(scope) if scope.isdigit() else None
    with transaction(db()) as session:
        preferences.unsubscribe(
            session,
            member,
            now=rt.clock(),
            list_id=list_id,
            source="one-click" if one_click else "unsubscribe page",
        )
    if one_click:
        return "", 200  # type: ignore[return-value]
    return render_template("public/unsubscribed.html", manage_url=rt.kit.manage_url(member))


@bp.get("/archive/<slug>")
def archive_index(slug: str) -> str:
    mailing_list, campaigns = archive.entries(db(), slug, now=runtime().clock())
    language.follow_list(mailing_list)
    return render_template(
        "public/archive.html",
        mailing_list=mailing_list,
        entries=archive.language_versions(db(), campaigns, language.page_language()),
    )


@bp.get("/archive/<slug>/<int:campaign_id>")
def archive_page(slug: str, campaign_id: int) -> Response:
    rt = runtime()
    html = archive.page_html(
        db(), slug, campaign_id, now=rt.clock(), language=language.page_language()
    )
    # The mail's own HTML (sanitised at render): shown as is, but allowed to run nothing.
    return Response(
        html,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "default-src 'none'; img-src * data:; "
            "style-src 'unsafe-inline'",
        },
    )


@bp.get("/archive/<slug>/feed.atom")
def archive_feed(slug: str) -> Response:
    rt = runtime()
    mailing_list, campaigns = archive.entries(db(), slug, now=rt.clock())
    body = render_template(
        "public/feed.xml",
        mailing_list=mailing_list,
        campaigns=campaigns,
        entries=archive.language_versions(db(), campaigns, mailing_list.language),
        base_url=rt.settings.base_url,
        updated=rt.clock(),
    )
    return Response(body, mimetype="application/atom+xml")
