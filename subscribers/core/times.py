"""Times people type: ISO 8601, a time without offset read as wall-clock time in a zone.

One parser for the workspace's forms, the CLI and the events service, so that a time means the
same wherever it is typed, and a wall-clock time that does not exist (skipped when the clocks go
forward) is refused everywhere rather than silently moved an hour.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailer.zones import UnknownZone, known_zone
from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import gettext as _


def zone(name: str, *, field: str = "timezone") -> ZoneInfo:
    """An IANA zone, or InvalidInput naming it."""
    try:
        return known_zone(name)
    except UnknownZone as err:
        if err.suggestions:
            message = _(
                "%(field)s: unknown time zone %(name)s; did you mean %(names)s?",
                field=field,
                name=err.shown,
                names=", ".join(err.suggestions),
            )
        else:
            message = _("%(field)s: unknown time zone %(name)s", field=field, name=err.shown)
        raise InvalidInput(message, field=field) from None


def parse_time(
    value: str, zone_name: str, *, field: str, unreadable: str | None = None
) -> datetime:
    """ISO 8601; a time without offset is wall-clock time in ``zone_name``.

    A wall-clock time that does not exist there (skipped when clocks go forward) is refused
    rather than silently moved an hour. ``unreadable`` replaces the message for text that is no
    time at all (a form says it in its own words).
    """
    text = (value or "").strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        message = unreadable or _(
            "%(field)s: not an ISO 8601 time (e.g. 2027-03-28T09:00): %(text)s",
            field=field,
            text=repr(text),
        )
        raise InvalidInput(message, field=field) from None
    return in_zone(parsed, zone_name, field=field, text=text)


def in_zone(when: datetime, zone_name: str, *, field: str, text: str | None = None) -> datetime:
    """``when`` as it is if it has an offset; else wall-clock time in ``zone_name``, refused
    (InvalidInput naming ``field``) if the clocks skip it there. For times already parsed (an
    API body's); ``text`` is how the time was typed, for the message."""
    if when.tzinfo is not None:
        return when
    tz = zone(zone_name)
    local = when.replace(tzinfo=tz)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != when:
        raise InvalidInput(
            _(
                "%(field)s: %(text)s does not exist in %(zone)s (the clocks skip it)",
                field=field,
                text=text or when.isoformat(timespec="minutes"),
                zone=zone_name,
            ),
            field=field,
        )
    return local
