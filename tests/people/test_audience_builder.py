"""One audience builder for every send (issue 12.2): the same parse, values and messages in the
announce form, the invitation form, the live count, the CLI's --segment and the API.

``country=Poland`` once matched nobody without a word (codes were stored, the name was compared
with them); now a name, a code or a near miss all end as the stored code or a message that
suggests the closest option.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from subscribers.core.errors import InvalidInput
from subscribers.people.segments import Segment
from subscribers.runtime import Runtime
from tests.conftest import post_form
from tests.invitations.helpers import create, network, recipients_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("country=Poland", "country=PL"),
        ("country=pl", "country=PL"),
        ("country=moldova|Portugal", "country=MD|PT"),
        ("Country = BOSNIA AND HERZEGOVINA", "country=BA"),
        ("sector=Police and law enforcement", "sector=police"),
        ("language=romana", "language=ro"),  # without its diacritics
        ("language=Slovenčina,sector=ngo", "language=sk,sector=ngo"),
        ("organisation=Prison Service", "organisation=Prison Service"),
    ],
)
def test_names_codes_and_spellings_end_as_the_stored_code(text: str, expected: str) -> None:
    assert str(Segment.parse(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("country=Polnd", "Country: there is no “Polnd”. Did you mean Poland (PL)?"),
        (
            "country=Atlantis",
            "Country: there is no “Atlantis”. Choose from: Portugal (PT), Poland (PL)",
        ),
        ("contry=PL", "segment: there is no field “contry”. Did you mean country?"),
        ("city=Lisbon", "segment: there is no field “city”. Use one of: country, sector"),
        ("sector=polise", "Sector: there is no “polise”. Did you mean Police and law"),
        ("country", "expected field=value"),
    ],
)
def test_an_unknown_field_or_value_is_refused_with_a_suggestion(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Segment.parse(text)
    assert message in str(err.value)


def test_the_live_count_serves_the_invitation_form_too(
    viewer: FlaskClient, rt: Runtime, session
) -> None:  # type: ignore[no-untyped-def]
    network(session, rt)
    event_id = create(rt)
    url = "/admin/announce/count"
    assert viewer.get(url, query_string={"event": event_id}).get_json() == {"count": 3}
    polish = viewer.get(url, query_string={"event": event_id, "country": "PL"})
    assert polish.get_json() == {"count": 1}
    by_name = viewer.get(url, query_string={"list_slug": "practitioners", "country": "Poland"})
    assert by_name.get_json() == {"count": 1}
    bad = viewer.get(url, query_string={"event": event_id, "country": "Atlantis"})
    assert bad.status_code == 400 and "there is no “Atlantis”" in bad.get_json()["error"]
    assert viewer.get(url, query_string={"event": "x"}).status_code == 404


def test_the_invitation_form_is_the_announce_forms_builder(
    editor: FlaskClient, rt: Runtime, session
) -> None:  # type: ignore[no-untyped-def]
    network(session, rt)
    event_id = create(rt)
    page = editor.get(f"/admin/events/{event_id}").text
    # The same checkboxes (names shown, codes sent), organisations from the data, a live count.
    assert 'name="country" type="checkbox" value="PL"' in page
    assert "Poland" in page and "data-audience-count" in page
    url = f"/admin/events/{event_id}/invite"
    forged = post_form(editor, url, {"country": ["Atlantis"]}, page=url[:-7])
    assert forged.status_code == 302
    shown = editor.get(f"/admin/events/{event_id}").text
    assert "Country: there is no “Atlantis”" in shown
    assert recipients_of(rt, "invitation") == []
    # A country with nobody in it says so instead of "everyone is invited already".
    nobody = post_form(editor, url, {"country": ["SK"]}, page=url[:-7])
    assert nobody.status_code == 302
    shown = editor.get(f"/admin/events/{event_id}").text
    assert "Nobody on this list matches this audience; nobody was invited." in shown
    asked = post_form(editor, url, {"country": ["PL"]}, page=url[:-7])
    assert "Invite 1 member of" in asked.text
