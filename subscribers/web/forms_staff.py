"""Forms of the staff accounts page (admins only)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField

from subscribers.admin.staff import ROLES
from subscribers.core.validation import LANGUAGES
from subscribers.web.forms import choices

ROLE_LABELS = {
    "viewer": _l("Viewer: reads everything, changes nothing"),
    "editor": _l("Editor: writes and sends content"),
    "admin": _l("Admin: everything, lists and staff accounts too"),
}


def role_choices() -> list[tuple[str, str]]:
    return [(role, str(ROLE_LABELS[role])) for role in ROLES]


class StaffCreateForm(FlaskForm):
    email = EmailField(_l("Email"), render_kw={"autocomplete": "off"})
    role = SelectField(_l("Role"), choices=[], validate_choice=False)
    password = PasswordField(
        _l("First password (at least 10 characters; tell it to them privately)"),
        render_kw={"autocomplete": "new-password"},
    )


class StaffRoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[], validate_choice=False)


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), render_kw={"autocomplete": "current-password"})
    new = PasswordField(
        _l("New password (at least 10 characters)"), render_kw={"autocomplete": "new-password"}
    )
    repeat = PasswordField(_l("New password again"), render_kw={"autocomplete": "new-password"})


class WorkspaceLanguageForm(FlaskForm):
    # Each language named in itself; the service refuses anything else with a clear message.
    language = SelectField(
        _l("Workspace language"), choices=choices(list(LANGUAGES.items())), validate_choice=False
    )
