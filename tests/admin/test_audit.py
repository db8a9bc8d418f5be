"""The audit log page: admins only, newest first, filters, pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlmodel import Session

from subscribers.admin import audit
from subscribers.core.db import transaction
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.people.helpers import signed_in


def entries(rt: Runtime, n: int = 3) -> None:
    with transaction(rt.new_session()) as s:
        for i in range(n):
            audit.record(
                s,
                actor=["editor@example.org", "admin@example.org"][i % 2],
                action=["member.edit", "members.import", "member.erase"][i % 3],
                target=f"member {i + 1}",
                detail=f"entry {i}",
                now=rt.clock() + timedelta(minutes=i),
            )


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_read_the_audit_log(app: Flask, rt: Runtime, role: str) -> None:
    client = signed_in(app, rt, role)
    assert client.get("/admin/audit").status_code == 403
    assert "/admin/audit" not in client.get("/admin/").text


def test_audit_log_lists_entries_newest_first(app: Flask, rt: Runtime) -> None:
    entries(rt)
    client = signed_in(app, rt, "admin")
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "3 entries." in page.text
    assert page.text.index("entry 2") < page.text.index("entry 1") < page.text.index("entry 0")
    assert '<a href="/admin/members/2">member 2</a>' in page.text
    assert '<label for="actor">' in page.text and '<label for="action">' in page.text


def test_audit_log_filters_by_actor_and_action(app: Flask, rt: Runtime) -> None:
    entries(rt, 6)
    client = signed_in(app, rt, "admin")
    page = client.get("/admin/audit?actor=EDITOR")
    assert "3 entries." in page.text and "entry 1" not in page.text
    page = client.get("/admin/audit?action=member.erase")
    assert "2 entries." in page.text and "entry 2" in page.text and "entry 5" in page.text
    assert '<option selected value="member.erase">' in page.text
    page = client.get("/admin/audit?actor=nobody&action=members.import")
    assert "0 entries." in page.text and "Nothing recorded." in page.text
    with rt.new_session() as s:
        assert audit.entries(s, action="member.").total == 4  # a prefix


def test_audit_log_pages(app: Flask, rt: Runtime) -> None:
    entries(rt, 55)
    client = signed_in(app, rt, "admin")
    first = client.get("/admin/audit?actor=example")
    assert "entry 54" in first.text and "entry 4<" not in first.text and "Page 1 of 2" in first.text
    second = client.get("/admin/audit?actor=example&page=2")
    assert "entry 4<" in second.text and "entry 54" not in second.text


def test_changes_made_in_the_workspace_are_in_the_log(
    app: Flask, rt: Runtime, session: Session
) -> None:
    make_list(session, rt.clock())
    member = make_member(session, rt.clock())
    editor = signed_in(app, rt, "editor")
    token = csrf_token(editor.get(f"/admin/members/{member.id}").text)
    editor.post(f"/admin/members/{member.id}/unsubscribe", data={"csrf_token": token})
    editor.post("/admin/lists/practitioners/export", data={"csrf_token": token})
    admin = signed_in(app, rt, "admin")
    page = admin.get("/admin/audit").text
    assert "member.unsubscribe" in page and "members.export" in page
    assert page.count("editor@example.org") >= 2
