"""`newsletter bounces process` with feedback-loop reports: unsubscribe, suppress, count, notify."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from mailer import outbox
from mailer.bounces import verp_address
from mailer.outbox import Delivery
from subscribers.cli.root import main
from subscribers.content import campaigns
from subscribers.core.models import Complaint, ConsentEvent, Member, WebhookEndpoint, WebhookMessage
from subscribers.people import suppressions
from tests.cli.test_bounces import KEY, TEMPLATE, env, sent  # noqa: F401 - fixtures

SAMPLES = Path(__file__).parents[1] / "mailer" / "arf"


def process(env: dict[str, str], raw: bytes) -> str:  # noqa: F811
    result = CliRunner().invoke(main, ["bounces", "process"], env=env, input=raw)
    assert result.exit_code == 0, result.output
    return result.output


def sample(name: str, **replace: str) -> bytes:
    text = (SAMPLES / name).read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode()


def delivery(rt, address: str) -> Delivery:  # type: ignore[no-untyped-def]
    with rt.new_session() as s:
        return s.execute(select(Delivery).where(Delivery.address == address)).scalar_one()


def assert_complained(rt, address: str) -> None:  # type: ignore[no-untyped-def]
    with rt.new_session() as s:
        member = s.execute(select(Member).where(Member.email == address)).scalar_one()
        assert member.status == "unsubscribed"
        found = suppressions.of_member(s, member)
        assert found is not None and found.state == "complained"
        withdrawn = s.execute(
            select(ConsentEvent).where(
                ConsentEvent.member_id == member.id, ConsentEvent.action == "withdrawn"
            )
        ).scalars()
        assert [e.source for e in withdrawn] == ["complaint"]
        others = {"ana@example.org", "bo@example.org", "cy@example.org"} - {address}
        assert outbox.suppressed(s, others) == set()


def test_yahoo_report_is_tied_by_verp_and_counted(env, sent) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    rt, ids = sent
    verp = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    out = process(env, sample("yahoo_cfl.eml", **{"bounces+1-3e8a96ca@network.test": verp}))
    assert "complaint for ana@example.org" in out and "unsubscribed" in out
    assert_complained(rt, "ana@example.org")
    with rt.new_session() as s:
        row = s.execute(select(Complaint)).scalar_one()
        assert row.delivery_id == ids["ana@example.org"]
        progress = campaigns.progress(s, row.campaign_id)
        assert progress.complained == 1
        assert progress.as_json(rt.clock())["counts"]["complained"] == 1


def test_aol_report_is_tied_by_the_message_id(env, sent) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    rt, _ids = sent
    message_id = delivery(rt, "bo@example.org").message_id
    assert message_id
    out = process(env, sample("aol_fbl.eml", **{"<2.9b1e44c0a7d36f12@network.test>": message_id}))
    assert "complaint for bo@example.org" in out
    assert_complained(rt, "bo@example.org")


def test_microsoft_jmrp_report_is_tied_by_the_address(env, sent) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    rt, _ids = sent
    out = process(env, sample("microsoft_jmrp.eml", **{"ana@outlook.com": "cy@example.org"}))
    assert "complaint for cy@example.org" in out
    assert_complained(rt, "cy@example.org")
    expected = delivery(rt, "cy@example.org").id
    with rt.new_session() as s:
        assert s.execute(select(Complaint)).scalar_one().delivery_id == expected


def test_the_complaint_webhook_fires(env, sent) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    rt, ids = sent
    with rt.new_session() as s:
        s.add(
            WebhookEndpoint(
                url="https://hooks.example.com/n",
                events="complaint",
                secret="whsec_" + "A" * 32,
                created_at=rt.clock(),
            )
        )
        s.commit()
    verp = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    process(env, sample("yahoo_cfl.eml", **{"bounces+1-3e8a96ca@network.test": verp}))
    with rt.new_session() as s:
        message = s.execute(
            select(WebhookMessage).where(WebhookMessage.event == "complaint")
        ).scalar_one()
    data = json.loads(message.payload)["data"]
    assert data["email"] == "ana@example.org" and data["feedback_type"] == "abuse"
    assert data["delivery_id"] == ids["ana@example.org"]


def test_reports_that_are_no_complaint_or_tie_to_nobody_change_nothing(env, sent) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    rt, ids = sent
    verp = verp_address(TEMPLATE, ids["bo@example.org"], key=KEY.encode())
    out = process(env, sample("not_spam.eml", **{"bounces+2-441f91ca@network.test": verp}))
    assert "ignored" in out and "not-spam" in out
    out = process(env, sample("rfc5965_example.eml"))
    assert "tied to no delivery" in out
    with rt.new_session() as s:
        assert s.execute(select(Complaint)).first() is None
        addresses = ["ana@example.org", "bo@example.org", "user@example.com"]
        assert outbox.suppressed(s, addresses) == set()
        assert {m.status for m in s.execute(select(Member)).scalars()} == {"active"}
