"""Digest schedules in plain words: a weekday-and-time picker, a sentence, a cron line.

A list's schedule is stored as the crontab line the scheduler reads (APScheduler's
``CronTrigger.from_crontab``, in the list's own time zone). Staff choose weekdays and a time of
day instead ("every Monday at 09:00, Lisbon time"); a schedule the picker cannot say (every
first of the month...) stays a cron line, typed in the form's advanced field and checked here
field by field, so an error names the field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from apscheduler.triggers.cron import CronTrigger
from babel.dates import format_time, get_day_names
from babel.lists import format_list

from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import current_language
from subscribers.core.i18n import gettext as _

# Weekday names as cron takes them, Monday first (Babel numbers its day names 0 = Monday too).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The five fields of a crontab line, as CronTrigger names them.
CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
MAX_CRON = 100


def _field_names() -> dict[str, str]:
    return {
        "minute": _("minute"),
        "hour": _("hour"),
        "day": _("day of the month"),
        "month": _("month"),
        "day_of_week": _("weekday"),
    }


def _field_ranges() -> dict[str, str]:
    return {
        "minute": _("0 to 59"),
        "hour": _("0 to 23"),
        "day": _("1 to 31"),
        "month": _("1 to 12, or jan to dec"),
        "day_of_week": _("mon to sun, or 0 (Monday) to 6 (Sunday)"),
    }


def _problem(message: str) -> InvalidInput:
    return InvalidInput(message, field="digest_cron")


def check_cron(raw: str | None) -> str | None:
    """A crontab line as APScheduler reads it ("0 9 * * mon"); "" means no digest.

    The error says which of the five fields is wrong and what it takes.
    """
    text = " ".join((raw or "").split())
    if not text:
        return None
    if len(text) > MAX_CRON:
        raise _problem(_("not a valid cron expression (too long)"))
    values = text.split(" ")
    if len(values) != len(CRON_FIELDS):
        raise _problem(
            _(
                "not a valid cron expression: it has five fields (minute hour day month "
                "weekday), this one has %(count)d",
                count=len(values),
            )
        )
    for name, value in zip(CRON_FIELDS, values, strict=True):
        try:
            CronTrigger(**{name: value})
        except (ValueError, TypeError):
            raise _problem(
                _(
                    "not a valid cron expression: the %(field)s field “%(value)s” takes "
                    "%(range)s, a list (1,15), a range (1-5), a step (*/2) or *",
                    field=_field_names()[name],
                    value=value,
                    range=_field_ranges()[name],
                )
            ) from None
    try:
        CronTrigger.from_crontab(text)
    except (ValueError, TypeError) as err:  # fields valid alone, not together
        raise _problem(_("not a valid cron expression (%(reason)s)", reason=str(err))) from None
    return text


def weekday_choices() -> list[tuple[str, str]]:
    """The picker's weekdays: (cron name, the day's name in the reader's language)."""
    names = get_day_names("wide", locale=current_language())
    return [(day, names[i][:1].upper() + names[i][1:]) for i, day in enumerate(WEEKDAYS)]


@dataclass(frozen=True)
class Picked:
    """What the picker shows: weekdays (cron names, Monday first) and a time of day."""

    weekdays: tuple[str, ...]
    at: time


def from_picker(weekdays: list[str], at: str) -> str | None:
    """The cron line for weekdays and a time ("HH:MM"); None when no weekday is chosen."""
    days = [day for day in WEEKDAYS if day in set(weekdays)]
    unknown = set(weekdays) - set(WEEKDAYS)
    if unknown:
        raise InvalidInput(_("Please choose weekdays from the form."), field="digest_days")
    if not days:
        return None
    try:
        hour, minute = (int(part) for part in (at or "").strip().split(":"))
        moment = time(hour, minute)
    except ValueError:
        raise InvalidInput(
            _("Please give the time of day as hours and minutes, e.g. 09:00."), field="digest_time"
        ) from None
    every = "*" if len(days) == len(WEEKDAYS) else ",".join(days)
    return f"{moment.minute} {moment.hour} * * {every}"


def picked(cron: str | None) -> Picked | None:
    """The picker's reading of a cron line, or None when the picker cannot say it."""
    values = (cron or "").split()
    if len(values) != len(CRON_FIELDS):
        return None
    minute, hour, day, month, weekday = values
    if not (minute.isdigit() and hour.isdigit()) or day != "*" or month != "*":
        return None
    names = WEEKDAYS if weekday == "*" else tuple(weekday.lower().split(","))
    if not set(names) <= set(WEEKDAYS):
        return None
    try:
        return Picked(tuple(d for d in WEEKDAYS if d in names), time(int(hour), int(minute)))
    except ValueError:
        return None


def sentence(cron: str | None, zone: str) -> str:
    """The schedule as a sentence: "every Monday and Thursday at 09:00, Lisbon time" (``zone``
    as people say it: subscribers.web.dates.zone_name)."""
    if not cron:
        return _("no digest")
    locale = current_language()
    reading = picked(cron)
    if reading is None:
        return _("on the cron schedule “%(cron)s”, %(zone)s", cron=cron, zone=zone)
    at = format_time(reading.at, "short", locale=locale)
    if len(reading.weekdays) == len(WEEKDAYS):
        return _("every day at %(time)s, %(zone)s", time=at, zone=zone)
    names = get_day_names("wide", locale=locale)
    days = format_list([names[WEEKDAYS.index(d)] for d in reading.weekdays], locale=locale)
    return _("every %(days)s at %(time)s, %(zone)s", days=days, time=at, zone=zone)
