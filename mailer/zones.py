"""IANA time zones from names that come from people (forms, CSV, settings, the command line)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The longest IANA name is about 30 characters; anything much longer is not a zone, and a name
# longer than the file system allows would make zoneinfo fail with OSError, not a clear "unknown".
MAX_ZONE_NAME = 64
# Files in the zone database that are not places: "localtime" is whatever the server is set to
# (it changes when the machine moves), "Factory" is a placeholder whose abbreviation is "-00".
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


class UnknownZone(ValueError):
    """Not a zone zoneinfo knows; ``shown`` is the name as a message should quote it."""

    def __init__(self, shown: str) -> None:
        super().__init__(f"unknown time zone {shown}")
        self.shown = shown


def known_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` ("Europe/Lisbon"), or UnknownZone (a ValueError)."""
    text = (name or "").strip()
    try:
        if not text or len(text) > MAX_ZONE_NAME or text in NOT_PLACES:
            raise ValueError(text)
        return ZoneInfo(text)
    # ZoneInfoNotFoundError is a KeyError; malformed keys ("../x", "x\0") raise ValueError; a
    # name the file system refuses raises OSError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownZone(repr(text[:MAX_ZONE_NAME])) from None
