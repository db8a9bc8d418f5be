"""Staff workspace — Members, imports and exports, the audit log.

Every view is wrapped in ``role_required``. Views parse the input, call one service of
``subscribers.people.members`` / ``imports`` / ``audit`` and render; each change is audited by the
service (or here, in the same transaction, for imports and exports).
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from subscribers.admin import actions, audit
from subscribers.admin.staff import role_allows
from subscribers.content import lists
from subscribers.core import uploads
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput, NotFound
from subscribers.core.models import ERASED, MailingList, Member
from subscribers.core.paging import Page
from subscribers.people import import_jobs, imports, members, suppressions
from subscribers.people.members import MemberQuery
from subscribers.web import names
from subscribers.web.auth import current_staff, role_required
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm, choices, list_choices
from subscribers.web.forms_members import (
    AuditFilterForm,
    EraseMemberForm,
    ImportConfirmForm,
    ImportUploadForm,
    LiftSuppressionForm,
    MemberEditForm,
    MemberSearchForm,
)
from subscribers.web.refusals import NOTICE, showing_refusals
from subscribers.web.staff_actions import record, staff_actor

bp = Blueprint("admin_members", __name__, url_prefix="/admin")

MAX_UPLOAD = 5 * 1024 * 1024  # the app refuses larger requests (MAX_CONTENT_LENGTH) anyway
PENDING_IMPORT = "pending_import"  # key in the signed session: the stored file's name, list


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


# -- CSV import and export -----------------------------------------------------------------


def _uploads_dir() -> Path:
    return Path(runtime().settings.instance_path) / "imports"


def _upload_form(form: ImportUploadForm | None = None) -> ImportUploadForm:
    form = form or ImportUploadForm()
    form.list.choices = list_choices(lists.all_lists(db()))
    return form


def _uploaded(file: object) -> tuple[bytes, str]:
    if not isinstance(file, FileStorage) or not file.filename:
        raise InvalidInput(_("Please choose a CSV file."), field="file")
    raw = file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise InvalidInput(_("The file is larger than 5 MB. Split it and import the parts."))
    if not raw.strip():
        raise InvalidInput(_("The file is empty."), field="file")
    return raw, Path(file.filename).name[:200]


@bp.route("/import", methods=["GET", "POST"])
@role_required("editor")
def import_upload() -> str | BaseResponse:
    """Step 1: a file and a list. The file is kept on the server, then previewed."""
    form = _upload_form()
    if request.method == "POST" and form.validate_on_submit():
        with showing_refusals(form, also={NotFound: "list"}) as attempt:
            raw, filename = _uploaded(form.file.data)
            slug = form.list.data or ""
            _list_by_slug(slug)
            imports.preview(db(), raw, limit=1, max_bytes=MAX_UPLOAD)  # refuse unreadable files
        if not attempt.refused:
            previous = session.get(PENDING_IMPORT, {}).get("name")
            if previous:
                uploads.discard(_uploads_dir(), previous)
            name = uploads.store(_uploads_dir(), raw, now=runtime().clock())
            session[PENDING_IMPORT] = {"name": name, "filename": filename, "list": slug}
            return redirect(url_for(".import_preview"))
    return render_template("admin/import.html", user=current_staff(), form=form)


def _list_by_slug(slug: str) -> MailingList:
    if not slug:
        raise InvalidInput(_("Please choose a list."), field="list")
    return lists.by_slug(db(), slug)


def _pending() -> tuple[dict[str, str], bytes] | None:
    pending = session.get(PENDING_IMPORT)
    if not isinstance(pending, dict):
        return None
    raw = uploads.load(_uploads_dir(), str(pending.get("name", "")))
    return (pending, raw) if raw is not None else None


def _render_preview(
    pending: dict[str, str], raw: bytes, form: ImportConfirmForm
) -> str | BaseResponse:
    with showing_refusals() as attempt:
        preview = imports.preview(db(), raw, max_bytes=MAX_UPLOAD)
    if attempt.refused:
        return redirect(url_for(".import_upload"))
    return render_template(
        "admin/import_preview.html",
        user=current_staff(),
        form=form,
        preview=preview,
        filename=pending.get("filename", ""),
    )


@bp.get("/import/preview")
@role_required("editor")
def import_preview() -> str | BaseResponse:
    """Step 2: the first lines as the import reads them; a list and a consent note to confirm."""
    found = _pending()
    if found is None:
        flash(_("No file is waiting to be imported. Please upload it (again)."))
        return redirect(url_for(".import_upload"))
    pending, raw = found
    form = ImportConfirmForm(formdata=None, list=pending.get("list", ""))
    form.list.choices = list_choices(lists.all_lists(db()))
    return _render_preview(pending, raw, form)


@bp.post("/import/confirm")
@role_required("editor")
def import_confirm() -> str | BaseResponse:
    """Step 3: start importing the stored file (in short transactions, beside this request)."""
    found = _pending()
    if found is None:
        flash(_("No file is waiting to be imported. Please upload it (again)."))
        return redirect(url_for(".import_upload"))
    pending, raw = found
    form = ImportConfirmForm()
    form.list.choices = list_choices(lists.all_lists(db()))
    rt = runtime()
    with showing_refusals(form, also={NotFound: "list"}) as attempt:
        _list_by_slug(form.list.data or "")
        with transaction(db()) as s:
            job = import_jobs.start(
                s,
                form.list.data or "",
                raw,
                upload=pending["name"],
                filename=pending.get("filename", ""),
                consent_note=form.consent_note.data or "",
                actor=staff_actor(),
                now=rt.clock(),
                max_bytes=MAX_UPLOAD,
            )
    if attempt.refused:
        return _render_preview(pending, raw, form)
    session.pop(PENDING_IMPORT, None)
    _run_import(job.id)
    return redirect(url_for(".import_job", job_id=job.id))


def _run_import(job_id: int | None) -> None:
    rt = runtime()
    assert job_id is not None
    db().close()  # this request's transaction ends here, so the import can take the lock
    rt.background(
        functools.partial(
            import_jobs.run_logged, rt.new_session, _uploads_dir(), job_id, clock=rt.clock
        )
    )


@bp.get("/imports/<int:job_id>")
@role_required("editor")
def import_job(job_id: int) -> str:
    """The import's progress while it runs (the page refreshes itself), then its report."""
    job = import_jobs.get(db(), job_id)
    mailing_list = db().get(MailingList, job.list_id)
    return render_template(
        "admin/import_report.html",
        user=current_staff(),
        job=job,
        report=import_jobs.report(job),
        stalled=import_jobs.stalled(job, now=runtime().clock()),
        list_slug=mailing_list.slug if mailing_list else "",
        filename=job.filename,
        buttons=ButtonForm(),
    )


@bp.post("/imports/<int:job_id>/resume")
@role_required("editor")
def import_resume(job_id: int) -> BaseResponse:
    """Carry on with an import whose process stopped, from its last committed chunk."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    job = import_jobs.get(db(), job_id)
    if import_jobs.stalled(job, now=runtime().clock()):
        _run_import(job.id)
    return redirect(url_for(".import_job", job_id=job_id))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_err: RequestEntityTooLarge) -> tuple[str, int]:
    # Raised while reading the request, before the view and its role check: only staff who may
    # import see the form again; everyone else gets the plain error page.
    message = _("The file is larger than 5 MB. Split it and import the parts.")
    user = current_staff()
    if (
        request.endpoint != "admin_members.import_upload"
        or user is None
        or not role_allows(user.role, "editor")
    ):
        return render_template("error.html", title=_("Too large"), message=message), 413
    form = _upload_form(ImportUploadForm(formdata=None))
    form.form_errors.append(message)
    return render_template("admin/import.html", user=user, form=form), 413


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
