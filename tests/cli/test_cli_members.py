"""`newsletter members find|show|unsubscribe|erase` and `newsletter audit`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from mailer import outbox
from subscribers.core.models import AuditEntry, Member
from subscribers.runtime import Runtime
from tests.cli.invoke import run
from tests.factories import make_list, make_member
from tests.people.helpers import bounce, consent, delivery


@pytest.fixture
def env(tmp_path: Path, database_url: str, rt: Runtime, session: Session) -> dict[str, str]:
    lst = make_list(session, rt.clock())
    research = make_list(session, rt.clock(), slug="research", name="Research Network")
    ana = make_member(session, rt.clock(), lists_=(lst,), organisation="PSP")
    consent(session, ana, "confirmed", rt.clock(), list_id=lst.id, ip="203.0.113.7", note="web")
    sent = delivery(session, ana, rt.clock(), subject="Workshop in Lisbon")
    bounce(session, "ana@example.org", rt.clock(), delivery_id=sent.id)
    make_member(
        session,
        rt.clock(),
        lists_=(research,),
        email="maria@example.es",
        name="María Núñez",
        status="unsubscribed",
    )
    return {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }


def test_find(env: dict[str, str]) -> None:
    result = run(env, "members", "find", "NÚÑEZ")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2\tmaria@example.es\tMaría Núñez\t-\tPT\tpolice\ten\tunsubscribed"
    ]
    assert "1 member\n" in result.stderr
    assert run(env, "members", "find", "example", "--list", "practitioners").stdout.startswith(
        "1\tana@example.org"
    )
    assert run(env, "members", "find", "--status", "active").stdout.count("\n") == 1
    assert "first 1 shown" in run(env, "members", "find", "--limit", "1").stderr
    bad = run(env, "members", "find", "x", "--list", "nope")
    assert bad.exit_code == 1 and "no list 'nope'" in bad.stderr


def test_show(env: dict[str, str]) -> None:
    result = run(env, "members", "show", "ANA@example.org")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("member 1: ana@example.org\n") and "  organisation: PSP" in out
    assert "practitioners\tactive" in out
    assert "\tconfirmed\tFrontline Practitioners Network\t-\tweb\t203.0.113.7\tweb" in out
    assert "\tsent\t1\t" in out and "Workshop in Lisbon" in out
    assert "\thard\t5.1.1\t550 5.1.1 user unknown" in out
    assert run(env, "members", "show", "1").stdout == out  # by id too
    missing = run(env, "members", "show", "nobody@example.org")
    assert missing.exit_code == 1 and "no member 'nobody@example.org'" in missing.stderr


def test_unsubscribe(env: dict[str, str], rt: Runtime) -> None:
    result = run(env, "members", "unsubscribe", "ana@example.org")
    assert result.exit_code == 0 and "unsubscribed member 1" in result.stdout
    again = run(env, "members", "unsubscribe", "ana@example.org")
    assert again.exit_code == 1 and "already unsubscribed" in again.stderr
    with rt.new_session() as s:
        assert s.execute(select(Member.status).where(Member.id == 1)).scalar_one() == "unsubscribed"
        entry = s.execute(select(AuditEntry)).scalar_one()
    assert entry.action == "member.unsubscribe" and entry.actor.startswith("cli")


def test_erase(env: dict[str, str], rt: Runtime) -> None:
    result = run(env, "members", "erase", "ana@example.org")
    assert result.exit_code == 0 and "erased member 1" in result.stdout
    with rt.new_session() as s:
        assert s.get(Member, 1).email is None
        assert outbox.suppressed(s, ["ana@example.org"]) == {"ana@example.org"}
    missing = run(env, "members", "show", "ana@example.org")
    assert missing.exit_code == 1 and "on the suppression list" in missing.stderr
    assert run(env, "members", "show", "#1").stdout.startswith("member 1: (erased)")
    again = run(env, "members", "erase", "1")
    assert again.exit_code == 1 and "erased" in again.stderr


def test_audit(env: dict[str, str]) -> None:
    assert "no audit entries" in run(env, "audit").stderr
    run(env, "members", "unsubscribe", "ana@example.org")
    run(env, "members", "erase", "maria@example.es")
    lines = run(env, "audit").stdout.splitlines()
    assert [line.split("\t")[2:4] for line in lines] == [
        ["member.erase", "member 2"],
        ["member.unsubscribe", "member 1"],
    ]
    assert len(run(env, "audit", "--limit", "1").stdout.splitlines()) == 1
    assert run(env, "audit", "--action", "member.erase").stdout.count("\n") == 1
    assert run(env, "audit", "--actor", "nobody").stdout == ""


def test_edit_changes_only_the_details_given_and_audits(
    env: dict[str, str], session: Session
) -> None:
    result = run(
        env, "members", "edit", "ana@example.org", "--organisation", "DGRSP", "--country", "PL"
    )

    assert result.exit_code == 0, result.output
    assert "changed organisation, country" in result.stdout
    session.expire_all()
    ana = session.scalars(select(Member).where(Member.email == "ana@example.org")).one()
    assert (ana.organisation, ana.country, ana.sector) == ("DGRSP", "PL", "police")
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "member.edit")).all()
    assert entry.actor.startswith("cli") and "organisation, country" in entry.detail


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--country", "XX"], "Country: please choose one of the options"),
        (["--name", "Ana\r\nBcc: eve@example.org"], "Name must be a single line"),
        ([], "nothing to change"),
    ],
)
def test_edit_refuses_bad_input_and_changes_nothing(
    env: dict[str, str], session: Session, args: list[str], message: str
) -> None:
    result = run(env, "members", "edit", "ana@example.org", *args)

    assert result.exit_code != 0
    assert message in result.output
    session.expire_all()
    ana = session.scalars(select(Member).where(Member.email == "ana@example.org")).one()
    assert (ana.name, ana.country) != ("", "XX") and "\n" not in ana.name
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "member.edit")).all() == []
