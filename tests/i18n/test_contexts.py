"""Short English words that mean different things in different places carry a context (pgettext),
so that each language can say them differently: "Name" of a person is "Imię i nazwisko" in Polish,
of a list "Nazwa"; "Schedule" heading a column of digest timetables is a noun, on a button a verb.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

from subscribers.admin import staff
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.factories import make_list
from tests.i18n.languages import TRANSLATED, need_catalogue
from tests.web.test_admin import login, make_staff

CATALOGUES = Path(__file__).resolve().parents[2] / "subscribers" / "translations"
# Each ambiguous word and the contexts it is used in.
AMBIGUOUS = {
    "Name": ("of a person", "of a list or token"),
    "Schedule": ("digest timetable", "button: send at a later time"),
    "Unsubscribe": ("heading", "button or link"),
    "Sent": ("state of a news item", "column"),
}


def _catalogue(path: Path) -> dict[tuple[str | None, str], str]:
    with path.open("rb") as po:
        return {(m.context, m.id): m.string for m in read_po(po) if isinstance(m.id, str)}


def test_make_messages_extracts_each_context() -> None:
    pot = _catalogue(CATALOGUES / "messages.pot")
    for word, contexts in AMBIGUOUS.items():
        assert {(context, word) for context in contexts} <= set(pot), word
        assert (None, word) not in pot, f"{word!r} is still used without a context somewhere"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_context_is_translated(language: str) -> None:
    need_catalogue(language)
    catalogue = _catalogue(CATALOGUES / language / "LC_MESSAGES" / "messages.po")
    for word, contexts in AMBIGUOUS.items():
        assert all(catalogue[(context, word)].strip() for context in contexts), (language, word)


def test_polish_says_name_and_schedule_as_each_place_needs(
    client: FlaskClient, rt: Runtime, session
) -> None:
    need_catalogue("pl")
    make_list(session, rt.clock(), slug="aurora", name="Aurora", digest_cron="0 9 * * mon")
    register = client.get("/register/aurora?lang=pl").text
    assert "Imię i nazwisko" in register  # a person's name
    email = make_staff(rt, "admin")
    with transaction(rt.new_session()) as s:
        staff.set_language(s, staff.get(s, email), "pl")
    assert login(client, email) == 302
    list_form = client.get("/admin/lists/aurora/edit").text
    assert '<label for="name">Nazwa</label>' in list_form  # a list's name
    home = client.get("/admin/").text
    assert '<th scope="col">Harmonogram</th>' in home  # the digest timetable, a noun
    announce = client.get("/admin/announce").text
    assert 'id="schedule-button">Zaplanuj</button>' in announce  # the button, a verb
