"""Dates and times on staff pages: Babel (CLDR) names and order of the page's language.

strftime would print English month and day names ("Mon 30 Nov") whatever the workspace language;
these helpers format through Babel in the locale Flask-Babel chose for the page, in the network's
(or an event's) time zone, followed by the zone's name as people say it ("Lisbon time"), so that
a time is never ambiguous. Staff have no zone of their own: the network's (NEWSLETTER_TIMEZONE)
is everybody's, and every time on a staff page is written by ``when`` (the ``local_time``
global and filter), the same way everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time, get_datetime_format, get_timezone_location
from flask import Flask
from flask_babel import get_locale
from flask_babel import gettext as _

from subscribers.content import schedules
from subscribers.web.context import runtime

NOTHING = "—"


def _locale() -> str:
    return str(get_locale() or "en")


def when(value: datetime | None, zone: str | None = None, *, weekday: bool = False) -> str:
    """``value`` as a date and a time of day in ``zone`` (the network's when None).

    E.g. "Mon, Nov 30, 2026, 9:00 AM, Lisbon time" in English, "seg., 30 de nov. de 2026 09:00,
    hora de Lisboa" in Portuguese. A naive value is taken as UTC (what the database stores).
    """
    if value is None:
        return NOTHING
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = zone or network_zone()
    local = value.astimezone(ZoneInfo(zone))
    locale = _locale()
    day = format_skeleton("yMMMEd" if weekday else "yMMMd", local, locale=locale)
    clock = format_time(local, "short", locale=locale)
    # CLDR's way of joining a date and a time ("{1}, {0}" in English, "{1} {0}" in Portuguese).
    joined = get_datetime_format("medium", locale=locale).replace("'", "")
    return f"{joined.replace('{1}', day).replace('{0}', clock)}, {zone_name(zone)}"


def network_zone() -> str:
    return runtime().settings.timezone


def zone_name(zone: str) -> str:
    """A time zone as people say it ("Lisbon time"), in the page's language."""
    if zone in ("UTC", "Etc/UTC"):
        return "UTC"
    city = get_timezone_location(zone, locale=_locale(), return_city=True)
    return _("%(city)s time", city=city)


def schedule(mailing_list: object) -> str:
    """A list's digest schedule as a sentence ("every Monday at 9:00 AM, Lisbon time")."""
    cron = getattr(mailing_list, "digest_cron", None)
    zone = getattr(mailing_list, "timezone", None) or network_zone()
    return schedules.sentence(cron, zone_name(zone))


def day(value: date | datetime | None, *, year: bool = True) -> str:
    """A calendar day ("Nov 30, 2026"; "Nov 30" without the year)."""
    if value is None:
        return NOTHING
    return format_skeleton("yMMMd" if year else "MMMd", value, locale=_locale())


def event_time(value: datetime, zone: str) -> str:
    """A stored (UTC) time of an event as staff read it: in the event's zone, with the weekday."""
    return when(value, zone, weekday=True)


def install(app: Flask) -> None:
    app.jinja_env.globals["local_time"] = when
    app.jinja_env.filters["local_time"] = when
    app.jinja_env.filters["schedule"] = schedule
    app.jinja_env.globals["zone_name"] = zone_name
    app.jinja_env.filters["event_time"] = event_time
    app.jinja_env.filters["day"] = day
