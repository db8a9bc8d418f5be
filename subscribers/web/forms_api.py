"""Forms of the API tokens and webhooks pages (admins only)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, URLField

from subscribers.admin import webhooks
from subscribers.core import times
from subscribers.web.forms import MultiCheckboxField


class TokenForm(FlaskForm):
    name = StringField(_l("Name (who uses it, e.g. website signup)"))
    role = SelectField(_l("Role"), choices=[], validate_choice=False)
    expires = StringField(_l("Expires (optional, e.g. 2027-06-30 18:00)"))

    def expires_at(self, zone: str) -> datetime | None:
        text = (self.expires.data or "").strip()
        if not text:
            return None
        unreadable = _("Please give a date and time.")
        return times.parse_time(text, zone, field="expires", unreadable=unreadable)


def event_choices() -> list[tuple[str, str]]:
    return [(event, event) for event in webhooks.EVENTS]


class WebhookForm(FlaskForm):
    url = URLField(_l("URL"))
    events = MultiCheckboxField(_l("Events"), choices=[], validate_choice=False)
