"""Finding members: free text on address, name and organisation (any case), filters, pages."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from flask import Flask
from sqlmodel import Session

from subscribers.core.errors import InvalidInput, NotFound
from subscribers.core.models import Member
from subscribers.people import members
from subscribers.people.members import MemberQuery
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member
from tests.people.helpers import signed_in


def people(session: Session, now: datetime) -> None:
    practitioners = make_list(session, now)
    research = make_list(session, now, slug="research", name="Research Network")
    make_member(
        session,
        now,
        lists_=(practitioners,),
        email="ana@example.org",
        name="Ana Sousa",
        organisation="PSP",
        language="pt",
    )
    make_member(
        session,
        now,
        lists_=(research,),
        email="maria@example.es",
        name="María Núñez",
        organisation="Fundación Euroárabe",
        country="ES",
        sector="ngo",
        language="es",
    )
    make_member(
        session,
        now,
        lists_=(practitioners, research),
        email="ion@example.md",
        name="Ion Rusu",
        organisation="IGP 100%",
        country="MD",
        language="ro",
        status="unsubscribed",
    )
    make_member(session, now, email=None, name="", country="", sector="", status="erased")


def found(session: Session, **query: object) -> list[str | None]:
    page = members.search(session, MemberQuery(**query))  # type: ignore[arg-type]
    return sorted((m.email or "(erased)") for m in page.items)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ANA@EXAMPLE", ["ana@example.org"]),
        ("sousa", ["ana@example.org"]),
        ("NÚÑEZ", ["maria@example.es"]),  # beyond ASCII, on SQLite too
        ("euroárabe", ["maria@example.es"]),
        ("psp", ["ana@example.org"]),
        ("100%", ["ion@example.md"]),  # % and _ are literal, not wildcards
        ("%", ["ion@example.md"]),
        ("_", []),
        ("example", ["ana@example.org", "ion@example.md", "maria@example.es"]),
        ("nobody", []),
    ],
)
def test_text_search_is_case_insensitive(session: Session, clock, text, expected) -> None:  # type: ignore[no-untyped-def]
    people(session, clock())
    assert found(session, text=text) == expected


def test_filters_combine(session: Session, clock) -> None:  # type: ignore[no-untyped-def]
    people(session, clock())
    assert found(session, list_slug="research") == ["ion@example.md", "maria@example.es"]
    assert found(session, list_slug="research", status="active") == ["maria@example.es"]
    assert found(session, status="erased") == ["(erased)"]
    assert found(session, country="PT") == ["ana@example.org"]
    assert found(session, sector="police") == ["ana@example.org", "ion@example.md"]
    assert found(session, language="ro") == ["ion@example.md"]
    assert found(session, text="example", sector="police", country="MD") == ["ion@example.md"]


def test_bad_filters_are_named(session: Session, clock) -> None:  # type: ignore[no-untyped-def]
    people(session, clock())
    with pytest.raises(InvalidInput, match="status must be one of"):
        members.search(session, MemberQuery(status="gone"))
    with pytest.raises(NotFound, match="no list 'nope'"):
        members.search(session, MemberQuery(list_slug="nope"))


def test_pages_newest_first(session: Session, clock) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        make_member(session, clock(), email=f"m{i}@example.org")
    first = members.search(session, MemberQuery(per_page=2))
    assert [m.email for m in first.items] == ["m4@example.org", "m3@example.org"]
    assert (first.total, first.pages, first.has_prev, first.has_next) == (5, 3, False, True)
    last = members.search(session, MemberQuery(per_page=2, page=3))
    assert [m.email for m in last.items] == ["m0@example.org"] and not last.has_next
    assert members.search(session, MemberQuery(per_page=2, page=9)).items == []


def test_members_page_searches_and_filters(app: Flask, rt: Runtime, session: Session) -> None:
    people(session, rt.clock())
    client = signed_in(app, rt, "viewer")
    page = client.get("/admin/members?q=N%C3%BA%C3%B1ez")
    assert page.status_code == 200
    assert "maria@example.es" in page.text and "ana@example.org" not in page.text
    assert "1 member found." in page.text
    page = client.get("/admin/members?list=research&status=unsubscribed")
    assert "ion@example.md" in page.text and "maria@example.es" not in page.text
    page = client.get("/admin/members?status=erased")
    assert "(erased)" in page.text
    # Every field has a label, and the search keeps what was asked.
    for field_id in ("q", "list", "status", "country", "sector", "language"):
        assert f'<label for="{field_id}">' in page.text
    assert '<option selected value="erased">' in page.text


def test_bad_filter_in_the_address_is_a_message(app: Flask, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    people(session, rt.clock())
    client = signed_in(app, rt, "viewer")
    page = client.get("/admin/members?status=gone&page=x")
    assert page.status_code == 200 and "status must be one of" in page.text
    page = client.get("/admin/members?list=nope")
    assert page.status_code == 200 and "no list" in page.text


def test_members_page_links_to_next_page(app: Flask, rt: Runtime, session: Session) -> None:
    session.add_all(
        Member(email=f"m{i:02d}@example.org", status="active", created_at=rt.clock())
        for i in range(51)
    )
    session.commit()
    client = signed_in(app, rt, "viewer")
    first = client.get("/admin/members?q=example&sector=")
    assert "m50@example.org" in first.text and "m00@example.org" not in first.text
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link and "page=2" in link.group(1) and "q=example" in link.group(1)
    second = client.get(link.group(1).replace("&amp;", "&"))
    assert "m00@example.org" in second.text and "Page 2 of 2" in second.text


def test_member_text_is_escaped(app: Flask, rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_member(session, rt.clock(), name="<script>alert(1)</script>")
    client = signed_in(app, rt, "viewer")
    page = client.get("/admin/members")
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)" in page.text


def test_absurd_numbers_in_the_address_are_not_errors(app: Flask, rt: Runtime) -> None:
    client = signed_in(app, rt, "viewer")
    assert client.get("/admin/members?page=" + "9" * 30).status_code == 200
    assert client.get("/admin/members?page=-3").status_code == 200
    assert client.get("/admin/members/" + "9" * 30).status_code == 404
