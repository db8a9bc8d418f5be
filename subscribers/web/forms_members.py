"""Forms of the members workspace: search, edit, erase, lift a suppression, CSV import, audit
filter."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SearchField, SelectField, StringField

from subscribers.core.validation import LANGUAGES
from subscribers.people.members import STATUSES
from subscribers.web.forms import DetailsMixin, choices
from subscribers.web.names import COUNTRIES as COUNTRY_NAMES
from subscribers.web.names import SECTORS as SECTOR_NAMES

STATUS_LABELS = {
    "pending": _l("Pending"),
    "active": _l("Active"),
    "unsubscribed": _l("Unsubscribed"),
    "erased": _l("Erased"),
}


def _any(mapping: dict[str, object]) -> list[tuple[object, str]]:
    # Lazy labels stay lazy: the form is built at import, read in each staff member's language.
    return [("", _l("Any")), *mapping.items()]  # type: ignore[list-item]


class MemberSearchForm(FlaskForm):
    """Read from the query string: a search changes nothing, so it needs no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search address, name or organisation"))
    list = SelectField(_l("List"), choices=[], validate_choice=False)
    status = SelectField(
        _l("Status"), choices=choices(_any({s: STATUS_LABELS[s] for s in STATUSES}))
    )
    country = SelectField(_l("Country"), choices=choices(_any(dict(COUNTRY_NAMES))))
    sector = SelectField(_l("Sector"), choices=choices(_any(dict(SECTOR_NAMES))))
    language = SelectField(_l("Language"), choices=choices(_any(dict(LANGUAGES))))


class MemberEditForm(DetailsMixin, FlaskForm):
    """Name, organisation, country, sector, language; checked as everywhere else."""

    def to_details(self) -> dict[str, str]:
        """The checked details, or InvalidInput naming the field."""
        return self._details()


class EraseMemberForm(FlaskForm):
    sure = BooleanField(_l("Yes, erase this member's personal data for good"))


class LiftSuppressionForm(FlaskForm):
    """Mail a bounced or complained address again: why (for the audit log), and a tick."""

    reason = StringField(_l("Why may this address be mailed again?"))
    sure = BooleanField(_l("Yes, mail this address again"))


class ImportUploadForm(FlaskForm):
    file = FileField(_l("CSV file"))
    list = SelectField(_l("Add to list"), choices=[], validate_choice=False)


class ImportConfirmForm(FlaskForm):
    list = SelectField(_l("Add to list"), choices=[], validate_choice=False)
    consent_note = StringField(_l("Consent note: how did these people agree to be mailed?"))


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    actor = StringField(_l("Who (part of the address)"))
    action = SelectField(_l("Action"), choices=[], validate_choice=False)
