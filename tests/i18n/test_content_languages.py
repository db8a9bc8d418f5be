"""Content staff wrote in several languages: an event and an announcement reach each member in
their language where translated, else in the original with a note; the archive and its feed
list every version."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient

from mailer.transport import CaptureTransport
from subscribers.content import campaigns
from subscribers.content.multilingual import Text
from subscribers.content.templating import available_languages
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput
from subscribers.invitations import events
from subscribers.runtime import Runtime
from tests.factories import make_member
from tests.i18n.languages import member_of
from tests.i18n.test_mail_languages import invited_event


def _two_other_languages() -> tuple[str, str]:
    others = [code for code in available_languages() if code != "en"]
    if len(others) < 2:
        pytest.skip("needs two catalogues besides English (none of pt, pl, es, ro, sk, bs yet)")
    return others[0], others[1]


def _texts(captured: CaptureTransport) -> dict[str, str]:
    """Each recipient's text part."""
    found = {}
    for mail in captured.messages:
        message = email.message_from_bytes(mail.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        found[mail.envelope.rcpt_to] = f"{message['Subject']}\n{part.get_content()}"
    return found


def test_an_event_reaches_each_member_in_their_language_or_the_original_with_a_note(
    crt: Runtime, captured: CaptureTransport
) -> None:
    translated, untranslated = _two_other_languages()
    lst, reader = member_of(crt, translated)
    with crt.new_session() as s:
        make_member(
            s, crt.clock(), lists_=(s.merge(lst),), email="x@example.org", language=untranslated
        )
    event_id = invited_event(crt)  # invites everyone: the event is not yet translated
    with transaction(crt.new_session()) as s:
        events.translate(s, event_id, Text(translated, "Aurora-T", "Descriere-T"))
        with pytest.raises(InvalidInput):
            events.translate(s, event_id, Text("en", "Own language", ""))
    with transaction(crt.new_session()) as s:
        events.cancel_event(s, crt.kit, event_id, now=crt.clock())
    crt.sender.drain()
    cancelled = {to: text for to, text in _texts(captured).items()}
    # The cancellation (rendered after the translation) names the event in the reader's words.
    assert "Aurora-T" in cancelled[reader.email or ""]
    assert (
        "Aurora-T" not in cancelled["x@example.org"] and "Aurora 2027" in cancelled["x@example.org"]
    )


def test_an_announcement_in_two_languages_and_its_archive(
    crt: Runtime, captured: CaptureTransport, client: FlaskClient
) -> None:
    translated, untranslated = _two_other_languages()
    lst, reader = member_of(crt, translated)
    with crt.new_session() as s:
        make_member(
            s, crt.clock(), lists_=(s.merge(lst),), email="x@example.org", language=untranslated
        )
    announcement = campaigns.Announcement(
        "aurora",
        "Aurora EN",
        "Original body",
        language="en",
        translations=(Text(translated, "Aurora T", "Translated body"),),
    )
    with transaction(crt.new_session()) as s:
        campaign, count = campaigns.create_announcement(s, crt.kit, announcement, now=crt.clock())
        preview = campaigns.preview_announcement(s, crt.kit, announcement, translated)
    assert count == 2 and preview.subject == "Aurora T" and "Translated body" in preview.text
    crt.sender.drain()
    texts = _texts(captured)
    assert (
        "Aurora T" in texts[reader.email or ""] and "Original body" not in texts[reader.email or ""]
    )
    other = texts["x@example.org"]
    assert "Aurora EN" in other and "Original body" in other
    # The archive lists each version; the page and the feed give each language its own.
    app_client = client
    index = app_client.get("/archive/aurora?lang=en").text
    assert f'hreflang="{translated}"' in index
    page = app_client.get(f"/archive/aurora/{campaign.id}?lang={translated}").text
    assert "Translated body" in page and f'lang="{translated}"' in page
    feed = app_client.get("/archive/aurora/feed.atom").text
    assert f'xml:lang="{translated}"' in feed and "<title>Aurora T</title>" in feed
