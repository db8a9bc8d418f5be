"""Staff workspace — CSV import: upload a file, preview it, confirm, watch the job.

The uploaded file is kept on the server between the steps; the signed session holds only its
name and the chosen list. The import itself runs as a job (``subscribers.people.import_jobs``)
that commits chunk by chunk, so a stopped one can be resumed.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from subscribers.admin.staff import role_allows
from subscribers.content import lists
from subscribers.core import uploads
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput, NotFound
from subscribers.core.models import MailingList
from subscribers.people import import_jobs, imports
from subscribers.web.auth import current_staff, role_required
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm, list_choices
from subscribers.web.forms_members import (
    ImportConfirmForm,
    ImportUploadForm,
)
from subscribers.web.refusals import showing_refusals
from subscribers.web.staff_actions import staff_actor

bp = Blueprint("admin_imports", __name__, url_prefix="/admin")

MAX_UPLOAD = 5 * 1024 * 1024  # the app refuses larger requests (MAX_CONTENT_LENGTH) anyway
PENDING_IMPORT = "pending_import"  # key in the signed session: the stored file's name, list


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


def _upload_again() -> BaseResponse:
    flash(_("No file is waiting to be imported. Please upload it (again)."))
    return redirect(url_for(".import_upload"))


def _confirm_form(**data: object) -> ImportConfirmForm:
    form = ImportConfirmForm(**data)
    form.list.choices = list_choices(lists.all_lists(db()))
    return form


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
        return _upload_again()
    pending, raw = found
    return _render_preview(pending, raw, _confirm_form(formdata=None, list=pending.get("list", "")))


@bp.post("/import/confirm")
@role_required("editor")
def import_confirm() -> str | BaseResponse:
    """Step 3: start importing the stored file (in short transactions, beside this request)."""
    found = _pending()
    if found is None:
        return _upload_again()
    pending, raw = found
    form = _confirm_form()
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
        request.endpoint != "admin_imports.import_upload"
        or user is None
        or not role_allows(user.role, "editor")
    ):
        return render_template("error.html", title=_("Too large"), message=message), 413
    form = _upload_form(ImportUploadForm(formdata=None))
    form.form_errors.append(message)
    return render_template("admin/import.html", user=user, form=form), 413
