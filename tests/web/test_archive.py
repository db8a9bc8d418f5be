"""The public archive: each sent digest and announcement has a page and a feed entry."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from flask.testing import FlaskClient

from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP
from tests.web.test_journey import announce, text_of


def test_view_in_browser_link_leads_to_a_page_without_personal_data(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, session
) -> None:
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,), name="Ana <b>Sousa</b>")
    announce(rt, 'Workshop report & "next steps" <2026>')
    rt.sender.drain()
    text = text_of(smtp.messages[-1].message)
    path = re.search(r"http://newsletter.test(/archive/practitioners/\d+)", text).group(1)
    page = client.get(path)
    assert page.status_code == 200
    assert "Sousa" not in page.text and "/manage/" not in page.text
    assert "/unsubscribe/" not in page.text
    assert "6 November" in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]

    index = client.get("/archive/practitioners")
    assert index.status_code == 200 and "&lt;2026&gt;" in index.text
    feed = client.get("/archive/practitioners/feed.atom")
    root = ET.fromstring(feed.data)  # well-formed even with & < " in the subject
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert titles == ['Workshop report & "next steps" <2026>']


def test_unknown_or_private_archives_are_404(client: FlaskClient, rt: Runtime, session) -> None:
    make_list(session, rt.clock(), slug="staff-only", public=False)
    assert client.get("/archive/nope").status_code == 404
    assert client.get("/archive/staff-only").status_code == 404
    assert client.get("/archive/staff-only/1").status_code == 404
