"""Layout (issue 12.9): notices first on the page, wide tables inside a scrolling region."""

from __future__ import annotations

import re
from pathlib import Path

from flask.testing import FlaskClient

from subscribers.content.templating import TEMPLATES
from subscribers.runtime import Runtime
from tests.conftest import post_form
from tests.content.test_lists import GOOD
from tests.factories import make_list


def test_a_notice_is_the_first_thing_in_the_page(admin: FlaskClient, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    saved = post_form(admin, "/admin/lists/practitioners/edit", {**GOOD, "name": "Renamed"})
    assert saved.status_code == 302
    page = admin.get("/admin/lists").text
    main = page[page.index("<main") :]
    assert main.index('class="notice"') < main.index("<h1")
    assert "List “Renamed” saved." in main


def test_every_staff_table_scrolls_inside_its_own_region() -> None:
    """Tables keep their columns on a phone: each sits in a .scroll region (or is hidden)."""
    unwrapped = []
    for path in sorted((TEMPLATES / "web" / "admin").glob("*.html")):
        text = Path(path).read_text(encoding="utf-8")
        for found in re.finditer(r"<table[^>]*>", text):
            before = text[max(0, found.start() - 200) : found.start()]
            if 'class="scroll"' not in before and "visually-hidden" not in found.group(0):
                unwrapped.append(f"{path.name}: {found.group(0)}")
    assert unwrapped == ['caught.html: <table class="wrap">']  # headers: cells wrap instead
