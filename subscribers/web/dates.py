"""Dates and times on staff pages: Babel (CLDR) names and order of the page's language.

strftime would print English month and day names ("Mon 30 Nov") whatever the workspace language;
these helpers format through Babel in the locale Flask-Babel chose for the page, in the network's
(or an event's) time zone, followed by the zone's abbreviation so that a time is never ambiguous.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time, get_datetime_format
from flask import Flask
from flask_babel import get_locale

NOTHING = "—"


def _locale() -> str:
    return str(get_locale() or "en")


def when(value: datetime | None, zone: str | None = None, *, weekday: bool = False) -> str:
    """``value`` as a date and a time of day in ``zone`` (the network's when None).

    E.g. "Mon, Nov 30, 2026, 9:00 AM WET" in English, "seg., 30 de nov. de 2026 09:00 WET" in
    Portuguese. A naive value is taken as UTC (what the database stores).
    """
    if value is None:
        return NOTHING
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if zone is None:
        from subscribers.web import runtime  # the package imports this module first

        zone = runtime().settings.timezone
    local = value.astimezone(ZoneInfo(zone))
    locale = _locale()
    day = format_skeleton("yMMMEd" if weekday else "yMMMd", local, locale=locale)
    clock = format_time(local, "short", locale=locale)
    # CLDR's way of joining a date and a time ("{1}, {0}" in English, "{1} {0}" in Portuguese).
    joined = get_datetime_format("medium", locale=locale).replace("'", "")
    return f"{joined.replace('{1}', day).replace('{0}', clock)} {local.tzname()}"


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
    app.jinja_env.filters["event_time"] = event_time
    app.jinja_env.filters["day"] = day
