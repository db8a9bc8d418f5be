"""Flask-WTF forms: parse and validate input, nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from subscribers.core.errors import InvalidInput
from subscribers.core.models import MailingList
from subscribers.core.validation import (
    LANGUAGES,
    check_details,
    normalise_email,
)
from subscribers.people.preferences import DetailsChange
from subscribers.people.registration import RegistrationRequest, missing_answers
from subscribers.web.names import COUNTRIES as COUNTRY_NAMES
from subscribers.web.names import SECTORS as SECTOR_NAMES


def list_choices(
    lists: Sequence[MailingList], blank: str | None = None, *, with_slug: bool = False
) -> list[SelectChoice]:
    """A select's options for the lists: their names (and slugs), after an optional blank."""
    pairs: list[tuple[object, str]] = [
        (lst.slug, f"{lst.name} ({lst.slug})" if with_slug else lst.name) for lst in lists
    ]
    return choices([("", blank), *pairs] if blank is not None else pairs)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def choices(pairs: Sequence[tuple[object, str]]) -> list[SelectChoice]:
    """WTForms 3.3 choice objects from (value, label) pairs; a lazy label stays lazy, so that
    choices built once at import read in each page's language."""
    return [SelectChoice(value, label) for value, label in pairs]  # type: ignore[arg-type]


def _options(mapping: dict[str, str], blank: str | None = None) -> list[SelectChoice]:
    options = list(mapping.items())
    return choices([("", blank), *options] if blank is not None else options)


DETAILS = ("name", "organisation", "country", "sector", "language")  # DetailsMixin's fields
DEFAULT_LANGUAGE = "en"


class DetailsMixin:
    name = StringField(_lp("of a person", "Name"))
    organisation = StringField(_l("Organisation"))
    country = SelectField(
        _l("Country"), choices=_options(COUNTRY_NAMES, "—"), validate_choice=False
    )
    sector = SelectField(_l("Sector"), choices=_options(SECTOR_NAMES, "—"), validate_choice=False)
    language = SelectField(
        _l("Preferred language"),
        choices=_options(LANGUAGES),
        validate_choice=False,
        default=DEFAULT_LANGUAGE,
    )

    def _details(self) -> dict[str, str]:
        return check_details(
            {
                "name": self.name.data,
                "organisation": self.organisation.data,
                "country": self.country.data,
                "sector": self.sector.data,
                "language": self.language.data,
            }
        )


class RegistrationForm(DetailsMixin, FlaskForm):
    email = EmailField(_l("Email address"))
    lists = MultiCheckboxField(_l("Lists"), choices=[], validate_choice=False)
    consent = BooleanField(_l("I agree"))
    # Honeypot: hidden from people by CSS and aria-hidden; bots fill every field.
    website = StringField(_l("Leave this empty"))

    def to_request(
        self,
        *,
        ip: str,
        user_agent: str,
        check_deliverability: bool,
    ) -> RegistrationRequest:
        """A checked request, or InvalidInput naming every field that is wrong or missing."""
        return registration_request(
            self.data, ip=ip, user_agent=user_agent, check_deliverability=check_deliverability
        )


def posted_registration(
    formdata: MultiDict[str, str], *, page_language: str = DEFAULT_LANGUAGE
) -> dict[str, Any]:
    """A posted registration form's values as RegistrationForm's fields read them (its
    ``data``), without building the form: that cost a tenth of a registration's CPU at 50
    sign-ups a second (issue 19). The CSRF token is checked for every POST (CSRFProtect), and
    the form is built only to show a problem. A form posted without a language (a page of the
    network's own site, a script) gets the language of the page the visitor reads, as the
    form's selector preselects it."""

    def first(name: str, default: str | None = None) -> str | None:
        values = formdata.getlist(name)
        return values[0] if values else default

    details = {name: first(name) for name in DETAILS if name != "language"}  # language below
    return {
        "email": first("email"),
        **details,
        "language": first("language", page_language),
        "lists": formdata.getlist("lists") if formdata else None,  # no form at all: None
        "consent": first("consent", "") not in BooleanField.false_values,
        "website": first("website"),
    }


def registration_request(
    data: Mapping[str, Any], *, ip: str, user_agent: str, check_deliverability: bool
) -> RegistrationRequest:
    """The request from a registration form's values (RegistrationForm's ``data``), checked:
    InvalidInput naming every field that is wrong or missing."""
    problems: list[InvalidInput] = []
    email, details = "", {}
    try:
        email = normalise_email(data["email"] or "", check_deliverability=check_deliverability)
    except InvalidInput as err:
        problems.append(err)
    try:
        details = check_details({name: data[name] for name in DETAILS})
    except InvalidInput as err:
        problems.append(err)
    slugs: Sequence[str] = [s for s in (data["lists"] or []) if isinstance(s, str)]
    problems += missing_answers(consent=bool(data["consent"]), list_slugs=slugs)
    if problems:
        raise InvalidInput.all_of(problems)
    return RegistrationRequest(
        email=email,
        list_slugs=slugs,
        consent=bool(data["consent"]),
        ip=ip,
        user_agent=user_agent[:300],
        **details,
    )


class ManageForm(DetailsMixin, FlaskForm):
    lists = MultiCheckboxField(_l("Lists"), choices=[], coerce=int, validate_choice=False)

    def to_change(self) -> DetailsChange:
        try:
            ids = [int(x) for x in (self.lists.data or [])]
        except (TypeError, ValueError):
            raise InvalidInput(_("Please choose lists from the form."), field="lists") from None
        return DetailsChange(list_ids=ids, **self._details())


class ButtonForm(FlaskForm):
    """A form with nothing but its CSRF token: confirm, unsubscribe, export."""

    def hidden_tag(self, *fields: Any) -> Markup:
        # Pages repeat these one-button forms (a row each); WTForms would give every copy the
        # same id="csrf_token", which is invalid HTML and confuses assistive technology.
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            self.meta.csrf_field_name, self.csrf_token.current_token
        )


class EraseForm(FlaskForm):
    sure = BooleanField(_l("Yes, erase all my data"))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"))
    password = PasswordField(_l("Password"))
