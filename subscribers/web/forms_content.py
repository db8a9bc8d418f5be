"""Forms of the content workspace (lists, news, announcements): parse input, nothing else.

The checks themselves live in the services (``lists``, ``news``, ``campaigns``), which the CLI
shares; a service's ``InvalidInput`` names the field its message belongs to.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from flask_wtf import FlaskForm
from wtforms import BooleanField, Form, StringField, TextAreaField
from wtforms.fields import ColorField, FormField, SelectField, URLField

from subscribers.content import campaigns, schedules
from subscribers.content.lists import ListChange, ListSpec
from subscribers.content.multilingual import Text
from subscribers.core import times
from subscribers.core.models import DEFAULT_ACCENT, MailingList
from subscribers.core.validation import LANGUAGES
from subscribers.people.segments import Segment
from subscribers.web.forms import MultiCheckboxField, choices
from subscribers.web.names import COUNTRIES as COUNTRY_NAMES
from subscribers.web.names import SECTORS as SECTOR_NAMES


def _hint(field_id: str) -> dict[str, str]:
    return {"aria-describedby": f"{field_id}-hint"}


# -- lists ----------------------------------------------------------------------------------


class ListForm(FlaskForm):
    slug = StringField(_l("Short name in addresses (slug)"), render_kw=_hint("slug"))
    name = StringField(_lp("of a list or token", "Name"))
    description = TextAreaField(_l("Description (shown on the public archive)"))
    from_address = StringField(_l("Sender"), render_kw=_hint("from_address"))
    reply_to = StringField(_l("Reply-to address"), render_kw=_hint("reply_to"))
    accent_color = ColorField(_l("Accent colour"), default=DEFAULT_ACCENT)
    logo_url = URLField(_l("Logo URL"), render_kw=_hint("logo_url"))
    footer = StringField(_l("Footer line"))
    # The digest schedule: weekdays and a time (the picker), or a cron line (advanced), which
    # wins when given; subscribers.content.schedules turns either into what the scheduler reads.
    digest_days = MultiCheckboxField(_l("Days"), choices=[], validate_choice=False)
    digest_time = StringField(_l("Time of day"), default="09:00", render_kw={"type": "time"})
    digest_cron = StringField(
        _l("Cron expression (instead of the days and time)"), render_kw=_hint("digest_cron")
    )
    timezone = StringField(_l("Time zone"), render_kw={"list": "zones"})
    public = BooleanField(_l("Anyone can register for this list on the public page"))
    record_clicks = BooleanField(
        _l("Record which member clicked which link (only if this list's consent text says so)")
    )
    # validate_choice off: the service says what is wrong, in the same words as the CLI.
    language = SelectField(
        _l("Default language"),
        choices=choices(list(LANGUAGES.items())),
        default="en",
        validate_choice=False,
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.digest_days.choices = choices(schedules.weekday_choices())

    def fill(self, lst: MailingList) -> None:
        for name in ListChange.__dataclass_fields__:
            value = getattr(lst, name)
            getattr(self, name).data = "" if value is None else value
        picked = schedules.picked(lst.digest_cron)
        if picked is not None:  # said by the picker: the advanced field stays empty
            self.digest_days.data = list(picked.weekdays)
            self.digest_time.data = picked.at.strftime("%H:%M")
            self.digest_cron.data = ""

    def schedule(self) -> str:
        """The cron line the form asks for: the advanced field's, else the picker's."""
        typed = (self.digest_cron.data or "").strip()
        if typed:
            return typed
        days = [d for d in (self.digest_days.data or []) if isinstance(d, str)]
        return schedules.from_picker(days, self.digest_time.data or "") or ""

    def to_change(self) -> ListChange:
        return ListChange(
            name=self.name.data or "",
            description=self.description.data or "",
            from_address=self.from_address.data or "",
            reply_to=self.reply_to.data or "",
            accent_color=self.accent_color.data or "",
            logo_url=self.logo_url.data or "",
            footer=self.footer.data or "",
            digest_cron=self.schedule(),
            timezone=self.timezone.data or "",
            public=bool(self.public.data),
            record_clicks=bool(self.record_clicks.data),
            language=self.language.data or "",
        )

    def to_spec(self) -> ListSpec:
        change = self.to_change().given()
        return ListSpec(slug=(self.slug.data or "").strip(), **change)


# -- news -----------------------------------------------------------------------------------


class TranslationForm(FlaskForm):
    """A title and a body in one more language (news items)."""

    language = SelectField(
        _l("Language"), choices=choices(list(LANGUAGES.items())), validate_choice=False
    )
    title = StringField(_l("Title"))
    body = TextAreaField(_l("Text (Markdown)"), render_kw={"rows": 8})


class NewsEditForm(FlaskForm):
    title = StringField(_l("Title"))
    body = TextAreaField(_l("Text (Markdown)"), render_kw={"rows": 12, **_hint("body")})
    link = URLField(_l("Link to read more (optional)"))


class NewsForm(NewsEditForm):
    list_slug = SelectField(_l("List"), choices=[], validate_choice=False)


# -- announcements --------------------------------------------------------------------------


def _options(mapping: dict[str, str]) -> list[object]:
    return choices(list(mapping.items()))


class SegmentFields:
    """Which members of a list: the audience builder's fields (announce and invite alike).

    The checkboxes store codes and show names; the service (segments.Segment.build) checks
    every value, so a forged one gets the same message as a mistyped ``--segment``.
    """

    country = MultiCheckboxField(
        _l("Country"), choices=_options(COUNTRY_NAMES), validate_choice=False
    )
    sector = MultiCheckboxField(_l("Sector"), choices=_options(SECTOR_NAMES), validate_choice=False)
    language = MultiCheckboxField(
        _l("Language"), choices=_options(LANGUAGES), validate_choice=False
    )
    organisation = StringField(_l("Organisation (exact name)"), render_kw={"list": "organisations"})

    def segment(self) -> Segment:
        """The chosen segment; InvalidInput names the field whose value is unknown."""
        chosen: dict[str, list[str]] = {
            key: [v for v in getattr(self, key).data or [] if isinstance(v, str)]
            for key in ("country", "sector", "language")
        }
        chosen["organisation"] = [self.organisation.data or ""]
        return Segment.build(chosen)


class AudienceFields(SegmentFields):
    """Who an announcement goes to: a list and, optionally, a segment of its members."""

    list_slug = SelectField(_l("List"), choices=[], validate_choice=False)


class AudienceQuery(AudienceFields, FlaskForm):
    """The audience part alone, read from a GET query (the live recipient count)."""

    class Meta:
        csrf = False


class AnnouncementTranslation(Form):
    """The subject and text in one more language (part of the announce form: no CSRF of its
    own)."""

    # Labels of their own: "Subject" and "Text (Markdown)" name the original's fields alone.
    subject = StringField(_l("Subject in this language"))
    body = TextAreaField(_l("Text in this language (Markdown)"), render_kw={"rows": 8})


class TranslatedTexts(Form):
    """One ``AnnouncementTranslation`` per language of the network, named by its code
    (``translations-pt-subject``), so a posted field always says which language it is."""


for _code in LANGUAGES:
    setattr(TranslatedTexts, _code, FormField(AnnouncementTranslation))


class AnnounceForm(AudienceFields, FlaskForm):
    subject = StringField(_l("Subject"))
    body = TextAreaField(_l("Text (Markdown)"), render_kw={"rows": 14, **_hint("body")})
    # "language" is the audience's segment; this is the language subject and text are in.
    text_language = SelectField(
        _l("Language of the subject and text"),
        choices=choices(list(LANGUAGES.items())),
        validate_choice=False,
    )
    translations = FormField(TranslatedTexts)
    preview_language = SelectField(
        _l("Preview as a member reading"),
        choices=choices(list(LANGUAGES.items())),
        validate_choice=False,
    )
    send_after = StringField(
        _l("Send at (leave empty to send now)"),
        render_kw={"type": "datetime-local", **_hint("send_after")},
    )
    # auto | yes | no, shown as radio buttons by the template (announce.html).
    archive = StringField(default="auto")

    def archive_choice(self) -> bool | None:
        """Publish in the public archive: True, False, or None to let the audience decide.

        Anything but "yes" or "no" (a forged value) is the default, which the confirmation
        page then states in words.
        """
        return {"yes": True, "no": False}.get(self.archive.data or "")

    def translation_entries(self) -> list[tuple[str, AnnouncementTranslation]]:
        """(language, entry) for each language of the network, in the network's order."""
        texts = self.translations.form
        return [(code, getattr(texts, code).form) for code in LANGUAGES]

    def translated(self) -> tuple[Text, ...]:
        """The translations staff wrote (an entry left empty is a language not written)."""
        return tuple(
            Text(code, entry.subject.data or "", entry.body.data or "")
            for code, entry in self.translation_entries()
            if (entry.subject.data or "").strip() or (entry.body.data or "").strip()
        )

    def send_time(self, zone: str, now: datetime) -> datetime | None:
        """The scheduled time (a time without offset is in ``zone``); must lie ahead."""
        text = (self.send_after.data or "").strip()
        if not text:
            return None
        unreadable = _("Please give a date and time, e.g. 2026-12-01 09:00.")
        when = times.parse_time(text, zone, field="send_after", unreadable=unreadable)
        campaigns.check_send_time(when, now)  # said on the form already, before confirming
        return when
