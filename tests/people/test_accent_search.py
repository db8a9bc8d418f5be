"""Member search without accents (issue 12.8): "zolc" finds Żółć, "chisinau" finds Chișinău, on
SQLite and PostgreSQL alike (the folded member.search_text; migration 0016 fills old rows)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from subscribers.core.migrate import upgrade
from subscribers.people import members
from subscribers.people.members import MemberQuery
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member


def found(session: Session, query: str) -> list[str]:
    page = members.search(session, MemberQuery(text=query))
    return sorted(m.email or "" for m in page.items)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("zolc", ["grzegorz@example.pl"]),
        ("ŻÓŁĆ", ["grzegorz@example.pl"]),
        ("Zolc", ["grzegorz@example.pl"]),
        ("chisinau", ["ion@example.md"]),
        ("Chisinau Probation", ["ion@example.md"]),
        ("CHIȘINĂU", ["ion@example.md"]),
        ("lodz", ["grzegorz@example.pl"]),  # ł has no accent to strip: folded to l all the same
        ("núñez", ["maria@example.es"]),
        ("nunez", ["maria@example.es"]),
        ("example.pl", ["grzegorz@example.pl"]),
        ("100%", []),  # LIKE's wildcards stay literal
    ],
)
def test_search_ignores_accents_and_case(
    rt: Runtime, session, query: str, expected: list[str]
) -> None:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,), email="grzegorz@example.pl",
                name="Grzegorz Żółć", organisation="Areszt Śledczy Łódź")  # fmt: skip
    make_member(session, rt.clock(), lists_=(lst,), email="ion@example.md",
                name="Ion Rusu", organisation="Chișinău Probation Office")  # fmt: skip
    make_member(session, rt.clock(), lists_=(lst,), email="maria@example.es", name="María Núñez")
    assert found(session, query) == expected


def test_an_edit_or_an_erasure_refreshes_what_search_matches(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    member = make_member(session, rt.clock(), email="ana@example.org", name="Ana")
    member.name = "Ana Žiak"
    session.add(member)
    session.commit()
    assert found(session, "ziak") == ["ana@example.org"]
    member.email, member.name = None, ""
    session.add(member)
    session.commit()
    assert found(session, "ana") == []


def test_0016_fills_the_search_column_of_existing_members(old_engine: Engine) -> None:
    upgrade(old_engine, "0011")
    with old_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO member (id, email, name, organisation, country, sector, language,"
                " status, nonce, created_at) VALUES"
                " (1, 'g@example.pl', 'Grzegorz Żółć', 'Łódź', 'PL', '', 'pl', 'active', 'n1',"
                " :when), (2, NULL, '', '', '', '', 'en', 'erased', 'n2', :when)"
            ),
            {"when": "2026-11-25 09:00:00"},
        )
    upgrade(old_engine, "0016")
    with old_engine.connect() as conn:
        rows = conn.execute(text("SELECT id, search_text FROM member ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, "g@example.pl grzegorz zolc lodz"), (2, "")]
