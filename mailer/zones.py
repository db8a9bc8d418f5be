"""IANA time zones from names that come from people (forms, CSV, settings, the command line)."""

from __future__ import annotations

import difflib
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# The longest IANA name is about 30 characters; anything much longer is not a zone, and a name
# longer than the file system allows would make zoneinfo fail with OSError, not a clear "unknown".
MAX_ZONE_NAME = 64
# Files in the zone database that are not places: "localtime" is whatever the server is set to
# (it changes when the machine moves), "Factory" is a placeholder whose abbreviation is "-00".
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


class UnknownZone(ValueError):
    """Not a zone zoneinfo knows; ``shown`` is the name as a message should quote it and
    ``suggestions`` the closest real names ("Europe/Lisbon" for "europe/lisbn" or "Lisbon")."""

    def __init__(self, shown: str, suggestions: tuple[str, ...] = ()) -> None:
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        super().__init__(f"unknown time zone {shown}{hint}")
        self.shown = shown
        self.suggestions = suggestions


@cache
def _places() -> dict[str, str]:
    """Every zone that is a place, by its lowercased name and by its lowercased city alone
    ("lisbon" as well as "europe/lisbon"); the full name wins where a city is also a name."""
    zones = sorted(available_timezones() - NOT_PLACES)
    by_city = {z.rsplit("/", 1)[-1].lower().replace("_", " "): z for z in zones if "/" in z}
    return {**by_city, **{z.lower(): z for z in zones}}


def closest_zones(name: str, n: int = 3) -> tuple[str, ...]:
    """Up to ``n`` real zone names closest to ``name`` (a typo, a wrong case, a bare city)."""
    places = _places()
    wanted = name.strip().lower().replace("_", " ")
    close = difflib.get_close_matches(wanted, list(places), n=n * 2, cutoff=0.6)
    found = dict.fromkeys(places[key] for key in close)  # two spellings may name one zone
    return tuple(found)[:n]


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
        raise UnknownZone(repr(text[:MAX_ZONE_NAME]), closest_zones(text[:MAX_ZONE_NAME])) from None
