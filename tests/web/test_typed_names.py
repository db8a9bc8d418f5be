"""A name typed into the registration form never reaches another person's mailbox."""

from __future__ import annotations

from email.message import EmailMessage

from flask.testing import FlaskClient

from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP
from tests.web.test_journey import register

LURE = "Your account is suspended, re-verify at https://evil.test/login"


def every_part(message: EmailMessage) -> str:
    """Headers and every decoded text part of a message."""
    found = [f"{key}: {value}" for key, value in message.items()]
    for part in message.walk():
        if not part.is_multipart() and part.get_content_maintype() == "text":
            found.append(part.get_payload(decode=True).decode("utf-8"))
    return "\n".join(found)


def only_mail(rt: Runtime, smtp: ScriptedSMTP, address: str, subject: str) -> str:
    """The one mail sent, addressed without a name; its headers and text parts."""
    rt.sender.drain()
    (mail,) = [m.message for m in smtp.messages]
    assert (mail["To"], mail["Subject"]) == (address, subject)
    text = every_part(mail)
    assert "Hello," in text and "evil.test" not in text and "suspended" not in text
    return text


def test_the_confirmation_mail_greets_without_the_typed_name(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    make_list(session, rt.clock())
    register(client, "victim@example.org", name=LURE, organisation="")
    only_mail(rt, smtp, "victim@example.org", "Please confirm your registration")


def test_the_already_member_mail_greets_without_any_name(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,), email="ana@example.org", name="Ana Sousa")
    register(client, "ana@example.org", name=LURE)
    text = only_mail(rt, smtp, "ana@example.org", "You are already registered")
    assert "Ana Sousa" not in text
