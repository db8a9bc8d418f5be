"""Staff workspace — Members, CSV exports, the audit log (imports: ``admin_imports``).

Every view is wrapped in ``role_required``. Views parse the input, call one service of
``subscribers.people.members`` / ``imports`` / ``audit`` and render; each change is audited by the
service (or here, in the same transaction, for exports).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from subscribers.admin import actions, audit
from subscribers.admin.staff import role_allows
from subscribers.content import lists
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput, NotFound
from subscribers.core.models import ERASED, Member
from subscribers.core.paging import Page
from subscribers.people import imports, members, suppressions
from subscribers.people.members import MemberQuery
from subscribers.web import names
from subscribers.web.auth import current_staff, role_required
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm, choices, list_choices
from subscribers.web.forms_members import (
    AuditFilterForm,
    EraseMemberForm,
    LiftSuppressionForm,
    MemberEditForm,
    MemberSearchForm,
)
from subscribers.web.refusals import NOTICE, showing_refusals
from subscribers.web.staff_actions import record, staff_actor

bp = Blueprint("admin_members", __name__, url_prefix="/admin")


def _label(member: Member) -> str:
    return member.email or _("(erased)")


def _page_number() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def _other_args() -> dict[str, str]:
    """The query string without the page: what the pager's links keep."""
    return {k: v for k, v in request.args.items() if k != "page" and v}


# -- members -------------------------------------------------------------------------------


@bp.get("/members")
@role_required("viewer")
def members_index() -> str:
    all_lists = lists.all_lists(db())
    form = MemberSearchForm(formdata=request.args)
    form.list.choices = list_choices(all_lists, _("Any"))
    query = MemberQuery(
        text=form.q.data or "",
        list_slug=form.list.data or "",
        status=form.status.data or "",
        country=form.country.data or "",
        sector=form.sector.data or "",
        language=form.language.data or "",
        page=_page_number(),
    )
    with showing_refusals(form, also={InvalidInput: "", NotFound: ""}) as attempt:
        page = members.search(db(), query)
    if attempt.refused:
        page = Page([], 0, 1, query.per_page)
    return render_template(
        "admin/members.html",
        user=current_staff(),
        form=form,
        page=page,
        status_of=suppressions.shown_statuses(db(), page.items),
        lists=all_lists,
        args=_other_args(),
        label=_label,
    )


def _render_member(
    member: Member,
    *,
    erase: EraseMemberForm | None = None,
    lift: LiftSuppressionForm | None = None,
) -> str:
    user = current_staff()
    history = members.history(db(), member)
    return render_template(
        "admin/member.html",
        user=user,
        history=history,
        status=suppressions.shown_status(member, history.suppressed),
        label=_label(member),
        can_edit=user is not None and role_allows(user.role, "editor"),
        buttons=ButtonForm(),
        erase=erase or EraseMemberForm(formdata=None),
        lift=lift or LiftSuppressionForm(formdata=None),
    )


@bp.get("/members/<int:member_id>")
@role_required("viewer")
def member_page(member_id: int) -> str:
    return _render_member(members.get(db(), member_id))


@bp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
@role_required("editor")
def member_edit(member_id: int) -> str | BaseResponse:
    member = members.get(db(), member_id)
    if member.status == ERASED:
        flash(_("This member's data was erased; there is nothing left to change."))
        return redirect(url_for(".member_page", member_id=member_id))
    form = MemberEditForm(obj=None if request.method == "POST" else member)
    if request.method == "POST" and form.validate_on_submit():
        with showing_refusals(form) as attempt:
            details = form.to_details()
            with transaction(db()) as s:
                changed = members.update_details(
                    s, member, details, actor=staff_actor(), now=runtime().clock()
                )
        if not attempt.refused:
            flash(_("Saved.") if changed else _("Nothing to change."))
            return redirect(url_for(".member_page", member_id=member_id))
    return render_template(
        "admin/member_edit.html",
        user=current_staff(),
        form=form,
        member=member,
        label=_label(member),
    )


@bp.post("/members/<int:member_id>/unsubscribe")
@role_required("editor")
def member_unsubscribe(member_id: int) -> BaseResponse:
    member = members.get(db(), member_id)
    with showing_refusals() as attempt:
        with transaction(db()) as s:
            members.unsubscribe(s, member, actor=staff_actor(), now=runtime().clock())
    if not attempt.refused:
        flash(_("Unsubscribed from every list; the withdrawal is in the consent history."))
    return redirect(url_for(".member_page", member_id=member_id))


@bp.post("/members/<int:member_id>/erase")
@role_required("editor")
def member_erase(member_id: int) -> str | BaseResponse:
    member = members.get(db(), member_id)
    form = EraseMemberForm()
    if not form.sure.data:
        form.sure.errors = [_("Tick the box to confirm that this member's data is to be erased.")]
        return _render_member(member, erase=form)
    with showing_refusals() as attempt:
        with transaction(db()) as s:
            members.erase(s, runtime().kit, member, actor=staff_actor(), now=runtime().clock())
    if not attempt.refused:
        flash(_("Erased. Only a hash of the address is kept, so that it is never mailed again."))
    return redirect(url_for(".member_page", member_id=member_id))


@bp.post("/members/<int:member_id>/unsuppress")
@role_required("editor")
def member_unsuppress(member_id: int) -> str | BaseResponse:
    """Lift a bounce or complaint suppression: a reason and a tick first, then audited."""
    member = members.get(db(), member_id)
    form = LiftSuppressionForm()
    reason = (form.reason.data or "").strip()
    if not reason:
        form.reason.errors = [_("Say why this address may be mailed again.")]
    if not form.sure.data:
        form.sure.errors = [_("Tick the box to confirm that this address is to be mailed again.")]
    if form.reason.errors or form.sure.errors:
        return _render_member(member, lift=form)
    with showing_refusals(form, also={NotFound: NOTICE}) as attempt:  # NotFound: not suppressed
        with transaction(db()) as s:
            suppressions.lift(s, member, actor=staff_actor(), now=runtime().clock(), reason=reason)
    if attempt.on_form:
        return _render_member(member, lift=form)
    if not attempt.refused:
        flash(_("The suppression is lifted: this address gets mail again. The audit log says why."))
    return redirect(url_for(".member_page", member_id=member_id))


# -- CSV export ----------------------------------------------------------------------------


@bp.post("/lists/<slug>/export")
@role_required("viewer")
def export_list(slug: str) -> Response:
    """The list's members as CSV (the same file as `newsletter subscribers export`)."""
    rt = runtime()
    text = imports.export_members(db(), slug)
    with transaction(db()) as s:
        record(s, actions.members_exported(slug, text))
    day = rt.clock().date().isoformat()
    return Response(
        text,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{slug}-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- audit log -----------------------------------------------------------------------------


@bp.get("/audit")
@role_required("admin")
def audit_log() -> str:
    form = AuditFilterForm(formdata=request.args)
    form.action.choices = choices(
        [("", _("Any")), *((a, names.action_name(a)) for a in audit.actions(db()))]
    )
    with showing_refusals(form, also={InvalidInput: ""}) as attempt:
        page = audit.entries(
            db(), actor=form.actor.data or "", action=form.action.data or "", page=_page_number()
        )
    if attempt.refused:
        page = Page([], 0, 1, audit.PER_PAGE)
    return render_template(
        "admin/audit.html", user=current_staff(), form=form, page=page, args=_other_args()
    )
