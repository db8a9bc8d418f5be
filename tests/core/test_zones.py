"""Time zones come from people: only real places are accepted, everywhere a zone is typed."""

from __future__ import annotations

import pytest

from mailer.zones import UnknownZone, known_zone
from subscribers.content import lists
from subscribers.core.errors import InvalidInput
from subscribers.core.settings import SettingsError, load
from subscribers.invitations import events
from subscribers.runtime import Runtime
from tests.invitations.helpers import network, spec


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules"])
def test_zones_that_are_not_places_are_refused(rt: Runtime, session, name: str) -> None:
    with pytest.raises(UnknownZone):
        known_zone(name)
    with pytest.raises(InvalidInput, match="unknown time zone"):
        lists.create(session, lists.ListSpec("x", "X", timezone=name), now=rt.clock())
    network(session, rt, "ana")
    with pytest.raises(InvalidInput, match="unknown time zone"):
        events.create_event(session, rt.kit, spec(timezone=name), now=rt.clock())
    with pytest.raises(SettingsError, match="NEWSLETTER_TIMEZONE"):
        load({"NEWSLETTER_TIMEZONE": name}, dotenv=None)
    assert known_zone("Europe/Chisinau").key == "Europe/Chisinau"
