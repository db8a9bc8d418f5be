"""Mass and irreversible sends ask first, in numbers, and a replayed confirmation sends nothing.

For each of "Send digest now", Announce "Send now", "Send invitations" and "Cancel the event":
the first POST only shows the confirmation (nothing queued), the confirmed POST queues once,
and the same confirmed POST again (double click, back button) queues nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlmodel import Session

from mailer.outbox import Campaign, Delivery
from subscribers.content import news
from subscribers.core.db import transaction
from subscribers.core.models import Event
from subscribers.runtime import Runtime
from tests.conftest import CONFIRM_INPUT, confirm, post_form
from tests.factories import make_list, make_member
from tests.invitations.helpers import create, invite

LANGUAGES = ("pt", "pl", "pt", "ro")  # four members, three languages


def four_members(session: Session, rt: Runtime) -> None:
    lst = make_list(session, rt.clock(), name="Practitioners")
    for n, language in enumerate(LANGUAGES):
        make_member(
            session, rt.clock(), lists_=(lst,), email=f"m{n}@example.org", language=language
        )


def queued(rt: Runtime) -> tuple[int, int]:
    """(campaigns, deliveries) in the outbox."""
    with rt.new_session() as s:
        campaigns = s.execute(select(func.count()).select_from(Campaign)).scalar_one()
        deliveries = s.execute(select(func.count()).select_from(Delivery)).scalar_one()
    return campaigns, deliveries


def confirmed_data(page_text: str) -> dict[str, list[str]]:
    form = page_text.split('id="confirm-form"', 1)[1].split("</form>", 1)[0]
    data: dict[str, list[str]] = {}
    for name, value in CONFIRM_INPUT.findall(form):
        data.setdefault(name, []).append(value)
    return data


def ask_confirm_replay(
    client: FlaskClient, rt: Runtime, first: Callable[[], object], question: str, button: str
) -> tuple[tuple[int, int], object]:
    """Run the three steps; return what the confirmed POST queued and the replay's response."""
    before = queued(rt)
    asked = first()
    assert asked.status_code == 200  # type: ignore[attr-defined]
    assert question in asked.text  # type: ignore[attr-defined]
    assert 'id="confirm-button"' in asked.text and f">{button}</button>" in asked.text  # type: ignore[attr-defined]
    assert queued(rt) == before, "the first POST must queue nothing"
    done = confirm(client, asked)
    assert done.status_code == 302
    after = queued(rt)
    assert after[0] == before[0] + 1
    data = confirmed_data(asked.text)  # type: ignore[attr-defined]
    action = done.request.path
    replay = client.post(action, data=data, follow_redirects=True)
    assert queued(rt) == after, "a replayed confirmation must queue nothing more"
    assert "nothing was sent again" in replay.text
    return (after[0] - before[0], after[1] - before[1]), replay


def test_send_digest_now_asks_then_sends_once(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    four_members(session, rt)
    with transaction(rt.new_session()) as s:
        news.add(s, "practitioners", title="Report", body="Forty came.", link=None, now=rt.clock())
    made, _ = ask_confirm_replay(
        editor,
        rt,
        lambda: post_form(editor, "/admin/lists/practitioners/digest", {}, page="/admin/"),
        "Send to 4 members of Practitioners now? The mail goes out in 3 languages.",
        "Send digest now",
    )
    assert made == (1, 4)


def test_announce_send_now_asks_then_sends_once(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    four_members(session, rt)
    data = {
        "list_slug": "practitioners",
        "language": ["pt"],
        "subject": "Workshop report",
        "body": "Close to 40 took part.",
        "action": "send",
    }
    made, _ = ask_confirm_replay(
        editor,
        rt,
        lambda: post_form(editor, "/admin/announce", data),
        "Send to 2 members of Practitioners now? The mail goes out in 1 language.",
        "Send now",
    )
    assert made == (1, 2)


def test_send_invitations_asks_then_sends_once(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    four_members(session, rt)
    event_id = create(rt)
    url = f"/admin/events/{event_id}/invite"
    made, _ = ask_confirm_replay(
        editor,
        rt,
        lambda: post_form(editor, url, {"language": ["pt", "ro"]}, page=url[:-7]),
        "Invite 3 members of Practitioners now? The mail goes out in 2 languages.",
        "Send invitations",
    )
    assert made == (1, 3)
    # Those invited already are not counted again.
    asked = post_form(editor, url, {}, page=url[:-7])
    assert "Invite 1 member of Practitioners now? The mail goes out in 1 language." in asked.text


def test_cancel_the_event_asks_then_mails_once(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    four_members(session, rt)
    event_id = create(rt)
    assert invite(rt, event_id) == 4
    url = f"/admin/events/{event_id}/cancel"
    made, _ = ask_confirm_replay(
        editor,
        rt,
        lambda: post_form(editor, url, {"reason": "Flooded."}, page=url[:-7]),
        "Cancel “Transnational workshop” and mail 4 invited members? "
        "The mail goes out in 3 languages. This cannot be undone.",
        "Cancel the event",
    )
    assert made == (1, 4)
    with rt.new_session() as s:
        assert s.get(Event, event_id).status == "cancelled"  # type: ignore[union-attr]


def test_a_token_confirms_only_its_own_action(editor: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    four_members(session, rt)
    first, second = create(rt), create(rt, title="Second workshop")
    asked = post_form(editor, f"/admin/events/{first}/cancel", {}, page=f"/admin/events/{first}")
    data = confirmed_data(asked.text)
    other = editor.post(f"/admin/events/{second}/cancel", data=data, follow_redirects=True)
    assert "nothing was sent again" in other.text
    with rt.new_session() as s:
        assert s.get(Event, second).status != "cancelled"  # type: ignore[union-attr]
