"""The caught-mail viewer shows long links wrapped and lets staff download the calendar file
and any attachment of a caught mail, member links neutralised (issue 12.9)."""

from __future__ import annotations

import re
from email.message import EmailMessage

from subscribers.core.capture import extra_parts
from subscribers.core.db import transaction
from tests.invitations.helpers import create, invite, network
from tests.security.test_caught_mail import TOKEN_LINK, catching_app
from tests.web.test_admin import login, make_staff


def test_a_caught_invitations_calendar_file_downloads(settings, clock, engine) -> None:  # type: ignore[no-untyped-def]
    app, rt = catching_app(settings, clock, engine)
    with transaction(rt.new_session()) as s:
        network(s, rt, "piotr")
    invite(rt, create(rt))
    assert rt.sender.drain().sent == 1
    editor = app.test_client()
    login(editor, make_staff(rt, "editor"))
    listing = editor.get("/admin/outbox").text
    assert "Lisbon time" in listing  # the Date header, in the network's zone
    (name,) = re.findall(r"/admin/outbox/([\d-]+\.eml)", listing)
    page = editor.get(f"/admin/outbox/{name}").text
    found = re.search(
        rf'href="(/admin/outbox/{re.escape(name)}/parts/\d+)"[^>]*>invite\.ics<', page
    )
    assert found, "no link to the calendar file"
    assert '<table class="wrap">' in page  # headers wrap (site.css: overflow-wrap)

    ics = editor.get(found.group(1))
    assert ics.status_code == 200
    assert ics.mimetype == "text/calendar"
    assert ics.headers["Content-Disposition"] == 'attachment; filename="invite.ics"'
    assert "BEGIN:VCALENDAR" in ics.text and "Transnational workshop" in ics.text
    assert TOKEN_LINK.search(ics.text) is None  # nobody answers for the member from here
    assert editor.get(f"/admin/outbox/{name}/parts/99").status_code == 404
    assert editor.get(f"/admin/outbox/{name}/parts/0").status_code == 404  # the text body


def test_an_attachment_is_listed_with_a_safe_file_name() -> None:
    message = EmailMessage()
    message["Subject"] = "Report"
    message.set_content("See the report.")
    message.add_alternative("<p>See the report.</p>", subtype="html")
    message.add_attachment(
        b"%PDF-1.4", maintype="application", subtype="pdf", filename='..\\..\\x";y.pdf'
    )
    (part,) = extra_parts(message)
    assert part.content_type == "application/pdf"
    assert not set(part.filename) & set('/\\";')
    assert part.filename.endswith(".pdf")
