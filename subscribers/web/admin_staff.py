"""Staff workspace — staff accounts (admins only): create, change role, unlock, remove; and
every staff member's own password.

Each change is audited. The services keep the last admin an admin and refuse removing oneself,
so somebody can always sign in and manage the others.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from werkzeug.wrappers import Response as BaseResponse

from subscribers.admin import actions, staff
from subscribers.core.db import transaction
from subscribers.core.errors import Conflict, InvalidInput, Throttled
from subscribers.web.auth import current_staff, role_required, sign_in
from subscribers.web.context import db, runtime
from subscribers.web.forms import ButtonForm
from subscribers.web.forms_staff import (
    PasswordChangeForm,
    StaffCreateForm,
    StaffRoleForm,
    WorkspaceLanguageForm,
    role_choices,
)
from subscribers.web.refusals import showing_refusals
from subscribers.web.staff_actions import record

bp = Blueprint("admin_staff", __name__, url_prefix="/admin")


def _page(form: StaffCreateForm) -> str:
    form.role.choices = role_choices()
    rows = []
    for user in staff.accounts(db()):
        role_form = StaffRoleForm(prefix=f"u{user.id}", role=user.role)
        role_form.role.choices = role_choices()
        rows.append((user, role_form))
    now = runtime().clock()
    return render_template(
        "admin/staff.html",
        user=current_staff(),
        rows=rows,
        form=form,
        buttons=ButtonForm(),
        locked={u.id for u, _form in rows if staff.locked_out(db(), u, now=now)},
    )


@bp.get("/staff")
@role_required("admin")
def index() -> str:
    return _page(StaffCreateForm(formdata=None))


@bp.post("/staff")
@role_required("admin")
def create() -> BaseResponse | str:
    form = StaffCreateForm()
    form.role.choices = role_choices()
    if not form.validate_on_submit():
        return _page(form)
    with showing_refusals(form, also={Conflict: "email"}) as attempt, transaction(db()) as s:
        user = staff.create(
            s,
            form.email.data or "",
            form.password.data or "",
            form.role.data or "",
            now=runtime().clock(),
        )
        record(s, actions.staff_created(user))
    if attempt.refused:
        return _page(form)
    flash(_("Account created for %(email)s.", email=user.email))
    return redirect(url_for(".index"))


@bp.post("/staff/<int:user_id>/role")
@role_required("admin")
def change_role(user_id: int) -> BaseResponse:
    user = staff.by_id(db(), user_id)
    form = StaffRoleForm(prefix=f"u{user_id}")
    if not form.validate_on_submit():
        abort(400)
    with showing_refusals():
        with transaction(db()) as s:
            if staff.change_role(s, user, form.role.data or ""):
                record(s, actions.staff_role_set(user))
                flash(_("%(email)s is now %(role)s.", email=user.email, role=user.role))
        acting = current_staff()
        if acting is not None and acting.id == user.id:
            sign_in(user)  # your own new role: this session carries on with it
    return redirect(url_for(".index"))


@bp.post("/staff/<int:user_id>/unlock")
@role_required("admin")
def unlock(user_id: int) -> BaseResponse:
    user = staff.by_id(db(), user_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction(db()) as s:
        staff.unlock(s, user)
        record(s, actions.staff_unlocked(user.email))
    flash(_("%(email)s can sign in again.", email=user.email))
    return redirect(url_for(".index"))


@bp.post("/staff/<int:user_id>/remove")
@role_required("admin")
def remove(user_id: int) -> BaseResponse:
    user = staff.by_id(db(), user_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    email = user.email
    with showing_refusals() as attempt, transaction(db()) as s:
        staff.remove(s, user, acting=current_staff())
        record(s, actions.staff_removed(email))
    if not attempt.refused:
        flash(_("The account of %(email)s was removed.", email=email))
    return redirect(url_for(".index"))


@bp.route("/password", methods=["GET", "POST"])
@role_required("viewer")
def password() -> BaseResponse | str:
    """Change your own password (the current one is asked again)."""
    form = PasswordChangeForm()
    user = current_staff()
    assert user is not None  # role_required let us in
    if form.validate_on_submit():
        with showing_refusals(form, also={Throttled: ""}) as attempt:
            if form.new.data != form.repeat.data:
                raise InvalidInput(_("The two new passwords differ."), field="repeat")
            with transaction(db()) as s:
                staff.change_password(
                    s,
                    user,
                    form.current.data or "",
                    form.new.data or "",
                    now=runtime().clock(),
                )
                record(s, actions.staff_password_changed(user.email))
        if not attempt.refused:
            sign_in(user)  # this session carries on; every other one has ended
            flash(_("Your password was changed."))
            return redirect(url_for("admin.home"))
    return _account_page(form, WorkspaceLanguageForm(language=user.language))


def _account_page(form: PasswordChangeForm, language_form: WorkspaceLanguageForm) -> str:
    return render_template(
        "admin/password.html", user=current_staff(), form=form, language_form=language_form
    )


@bp.post("/language")
@role_required("viewer")
def workspace_language() -> BaseResponse | str:
    """Choose the language of your own workspace (every staff page after this one)."""
    form = WorkspaceLanguageForm()
    user = current_staff()
    assert user is not None  # role_required let us in
    if form.validate_on_submit():
        with showing_refusals(form) as attempt, transaction(db()) as s:
            code = staff.set_language(s, user, form.language.data or "")
            record(s, actions.staff_language_set(user.email, code))
        if not attempt.refused:
            refresh()  # this answer is already in the new language
            flash(_("Your workspace language was changed."))
            return redirect(url_for("admin_staff.password"))
    return _account_page(PasswordChangeForm(formdata=None), form)
