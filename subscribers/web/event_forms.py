"""Flask-WTF forms for the staff event pages: parse and validate, nothing else."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

from subscribers.core import times
from subscribers.core.errors import InvalidInput
from subscribers.invitations import events
from subscribers.invitations.events import EventSpec
from subscribers.web.forms_content import SegmentFields

LOCAL = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows
_WHEN = {"type": "datetime-local"}


class EventForm(FlaskForm):
    list_slug = SelectField(_l("List"), choices=[], validate_choice=False)
    title = StringField(_l("Title"))
    description = TextAreaField(_l("Description (Markdown)"), render_kw={"rows": 8})
    start = StringField(_l("Starts"), render_kw=_WHEN)
    end = StringField(_l("Ends"), render_kw=_WHEN)
    timezone = StringField(_l("Time zone of these times"))
    location = StringField(_l("Venue (optional)"))
    online_url = StringField(_l("Online join link (optional; mailed only to those who say yes)"))
    capacity = StringField(_l("Seats (empty for no limit)"), render_kw={"inputmode": "numeric"})
    rsvp_deadline = StringField(_l("Answers close (optional; default: the start)"), render_kw=_WHEN)
    reminders = StringField(_l("Reminders before the start"))

    def fill(self, spec: EventSpec) -> None:
        """Show an existing event (GET of the edit page)."""
        if self.list_slug is not None:  # removed on the edit page
            self.list_slug.data = spec.list_slug
        self.title.data = spec.title
        self.description.data = spec.description
        self.start.data = spec.start.strftime(LOCAL)
        self.end.data = spec.end.strftime(LOCAL)
        self.timezone.data = spec.timezone
        self.location.data = spec.location
        self.online_url.data = spec.online_url
        self.capacity.data = str(spec.capacity) if spec.capacity else ""
        self.rsvp_deadline.data = spec.rsvp_deadline.strftime(LOCAL) if spec.rsvp_deadline else ""
        self.reminders.data = events.format_reminders(spec.reminders)

    def to_spec(self, list_slug: str | None = None) -> EventSpec:
        """A spec for the services, or InvalidInput naming the field."""
        tz = (self.timezone.data or "").strip()
        times.zone(tz)
        return EventSpec(
            list_slug=list_slug or (self.list_slug.data or ""),
            title=self.title.data or "",
            description=self.description.data or "",
            start=self._required("start"),
            end=self._required("end"),
            timezone=tz,
            location=self.location.data or "",
            online_url=self.online_url.data or "",
            capacity=self._capacity(),
            rsvp_deadline=self._time("rsvp_deadline"),
            reminders=events.parse_reminders(self.reminders.data),
        )

    def _time(self, name: str) -> datetime | None:
        value = (getattr(self, name).data or "").strip()
        if not value:
            return None
        return times.parse_time(value, (self.timezone.data or "").strip(), field=name)

    def _required(self, name: str) -> datetime:
        when = self._time(name)
        if when is None:
            missing = {
                "start": _("Start: please give a date and time."),
                "end": _("End: please give a date and time."),
            }
            raise InvalidInput(missing[name], field=name)
        return when

    def _capacity(self) -> int | None:
        text = (self.capacity.data or "").strip()
        if not text:
            return None
        if not text.isdecimal():  # what int() reads ("²" is a digit, not a decimal)
            raise InvalidInput(_("Seats: a whole number, or empty for no limit."), field="capacity")
        return int(text) or None


class InviteForm(SegmentFields, FlaskForm):
    """Who an invitation goes to: the audience builder of the announce form, the list fixed."""


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason (optional, shown in the mail)"))
