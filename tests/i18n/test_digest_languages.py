"""One digest to members in seven languages: one campaign, rendered once per language, each
member reading the chrome and every translated item in their language and the untranslated
item in its original, with a note in their language."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

from sqlalchemy import func, select

from mailer.outbox import Campaign, CampaignVersion, Delivery
from mailer.transport import CaptureTransport
from subscribers.content import digests, news
from subscribers.content.multilingual import Text
from subscribers.content.templating import available_languages, mail_language
from subscribers.core.db import transaction
from subscribers.core.validation import LANGUAGES
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.i18n.languages import english_left, html_lang, visible_text

TITLES = {code: f"Aurora-{code.upper()}" for code in LANGUAGES}


def _seven_members(rt: Runtime) -> None:
    with rt.new_session() as s:
        lst = make_list(s, rt.clock(), slug="aurora", name="Aurora")
        for code in LANGUAGES:
            make_member(s, rt.clock(), lists_=(lst,), email=f"{code}@example.org", language=code)


def _queue_items(rt: Runtime) -> None:
    with transaction(rt.new_session()) as s:
        translated = news.add(
            s, "aurora", title=TITLES["en"], body="Lisboa · Kraków", link=None, now=rt.clock()
        )
        assert translated.id is not None
        for code in LANGUAGES:
            if code != "en":
                news.translate(s, translated.id, Text(code, TITLES[code], f"Sarajevo {code}"))
        news.add(s, "aurora", title="Original-EN", body="Chișinău", link=None, now=rt.clock())


def _message(captured: CaptureTransport, address: str) -> EmailMessage:
    (mail,) = [m for m in captured.messages if m.envelope.rcpt_to == address]
    message = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_digest_to_seven_languages_is_one_campaign_read_in_each_language(
    crt: Runtime,
    captured: CaptureTransport,
) -> None:
    _seven_members(crt)
    _queue_items(crt)
    with transaction(crt.new_session()) as s:
        outcome = digests.create_digest(s, crt.kit, "aurora", now=crt.clock())
    assert outcome.recipients == 7
    with crt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Campaign)).scalar_one() == 1
        rendered = set(s.execute(select(CampaignVersion.language)).scalars())
        by_language = dict(s.execute(select(Delivery.address, Delivery.language)).all())
    # Rendered once per language present (English is the campaign's own version).
    assert rendered == set(available_languages()) - {"en"}
    assert crt.sender.drain().sent == 7
    for code in LANGUAGES:
        language = mail_language(code)
        assert by_language[f"{code}@example.org"] == language
        message = _message(captured, f"{code}@example.org")
        html = str(message.get_body(preferencelist=("html",)).get_content())  # type: ignore[union-attr]
        text = str(message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        assert message["Content-Language"] == language and html_lang(html) == language
        # The translated item in the reader's language, the other in its original.
        assert TITLES[language] in text and TITLES[language] in html
        assert "Original-EN" in text
        if language != "en":
            assert TITLES["en"] not in text
            assert (
                english_left(f"{message['Subject']}\n{text}\n{visible_text(html)}", language) == []
            )
            assert '<div lang="en">' in html  # the untranslated item says what it is written in
