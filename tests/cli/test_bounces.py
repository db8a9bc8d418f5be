"""`newsletter bounces process`: DSNs tied to deliveries by VERP, suppression, garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from mailer import outbox
from mailer.bounce_log import Bounce
from mailer.bounces import verp_address
from mailer.clock import FrozenClock
from mailer.outbox import Delivery
from mailer.transport import CaptureTransport
from subscribers.cli.root import main
from subscribers.content.campaigns import Announcement, create_announcement
from subscribers.core.db import transaction
from subscribers.core.settings import load
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member

TEMPLATE = "bounces+{token}@network.test"
KEY = "test-secret-key-that-is-long-enough"


def dsn(to: str, failed: str, status: str, action: str = "failed") -> bytes:
    return f"""From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: {to}
Delivered-To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

This is the mail system at host mx.example.org. I'm sorry to have to inform you that your
message could not be delivered to one or more recipients.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {failed}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} mailbox problem

--B--
""".replace("\n", "\r\n").encode()


@pytest.fixture
def env(tmp_path: Path, database_url: str, engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": KEY,
        "NEWSLETTER_BOUNCE_ADDRESS": TEMPLATE,
        "NEWSLETTER_MAIL_FROM": "Network <news@network.test>",
    }


@pytest.fixture
def sent(env: dict[str, str], engine, session) -> tuple[Runtime, dict[str, int]]:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    rt = Runtime.build(
        load(env, dotenv=None), clock=clock, transport=CaptureTransport(), engine=engine
    )
    lst = make_list(session, clock())
    for name in ("ana", "bo", "cy"):
        make_member(session, clock(), lists_=(lst,), email=f"{name}@example.org")
    with transaction(rt.new_session()) as s:
        create_announcement(s, rt.kit, Announcement("practitioners", "News", "Body"), now=clock())
    rt.sender.drain()
    envelope = {m.envelope.rcpt_to: m.envelope.mail_from for m in rt.transport.messages}
    assert envelope["ana@example.org"].startswith("bounces+")  # VERP envelope sender
    with rt.new_session() as s:
        ids = {d.address: d.id for d in s.execute(select(Delivery)).scalars()}
    return rt, ids


def run(env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    result = CliRunner().invoke(main, ["bounces", "process", *args], env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_hard_bounce_suppresses_the_delivery_address(env, sent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    to = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    # The MTA reports a rewritten address; VERP still ties it to Ana's delivery.
    (tmp_path / "b.eml").write_bytes(dsn(to, "forwarded-alias@other.example", "5.1.1"))
    out = run(env, str(tmp_path / "b.eml"))
    assert "hard bounce for ana@example.org" in out and "suppressed" in out
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org", "bo@example.org"]) == {"ana@example.org"}
        bounce = s.execute(select(Bounce)).scalar_one()
        assert bounce.delivery_id == ids["ana@example.org"] and bounce.campaign_id is not None


def test_three_soft_bounces_in_thirty_days_suppress(env, sent) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    to = verp_address(TEMPLATE, ids["bo@example.org"], key=KEY.encode())
    for expected in (False, False, True):
        out = run(env, stdin=dsn(to, "bo@example.org", "4.4.7", action="failed"))
        assert "soft bounce for bo@example.org" in out
        with rt.new_session() as s:
            assert bool(outbox.suppressed(s, ["bo@example.org"])) is expected


def test_a_forged_verp_token_falls_back_to_the_reported_address(env, sent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    forged = f"bounces+{ids['ana@example.org']}-00000000@network.test"
    out = run(env, stdin=dsn(forged, "cy@example.org", "5.1.1"))
    assert "cy@example.org" in out and "ana@example.org" not in out


@pytest.mark.parametrize("raw", [b"", b"\x00\xff garbage \r\n\r\n", b"Subject: hello\r\n\r\nhi"])
def test_garbage_is_reported_and_changes_nothing(env, sent, raw) -> None:  # type: ignore[no-untyped-def]
    rt, _ = sent
    assert "ignored" in run(env, stdin=raw)
    with rt.new_session() as s:
        assert s.execute(select(Bounce)).first() is None


def test_a_missing_file_is_one_clear_error(env) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["bounces", "process", "/nonexistent.eml"], env=env)
    assert result.exit_code != 0 and "does not exist" in result.output


def unsubscribe_mail(to: str, subject: str = "unsubscribe") -> bytes:
    # What a mail client's "Unsubscribe" button sends to the List-Unsubscribe mailto: target.
    return (
        f"From: Ana <ana@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nPlease unsubscribe me.\r\n"
    ).encode()


def statuses(rt: Runtime) -> dict[str, str]:
    from subscribers.core.models import Member

    with rt.new_session() as s:
        return {m.email: m.status for m in s.execute(select(Member)).scalars()}


def test_bulk_mail_offers_its_own_verp_address_as_a_mailto_unsubscribe(env, sent) -> None:  # type: ignore[no-untyped-def]
    import email
    import email.policy

    rt, _ = sent
    for mail in rt.transport.messages:
        header = email.message_from_bytes(mail.data, policy=email.policy.strict)["List-Unsubscribe"]
        https, mailto = (part.strip(" <>") for part in header.split(","))
        assert https.startswith("http") and "/unsubscribe/" in https
        assert mailto == f"mailto:{mail.envelope.mail_from}?subject=unsubscribe"


def test_an_unsubscribe_mail_to_the_verp_address_unsubscribes_that_member(env, sent) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    to = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    out = run(env, stdin=unsubscribe_mail(to, subject=" Unsubscribe "))
    assert "unsubscribe request" in out and "unsubscribed" in out
    assert statuses(rt) == {
        "ana@example.org": "unsubscribed",
        "bo@example.org": "active",
        "cy@example.org": "active",
    }
    with rt.new_session() as s:
        assert s.execute(select(Bounce)).first() is None  # a request, not a bounce


@pytest.mark.parametrize(
    "case", ["forged token", "other subject", "bounce of our own mail", "no verp configured"]
)
def test_what_is_not_an_unsubscribe_request_changes_no_membership(env, sent, case) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    to = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    raw = {
        "forged token": unsubscribe_mail(f"bounces+{ids['ana@example.org']}-00000000@network.test"),
        "other subject": unsubscribe_mail(to, subject="Re: News"),
        "bounce of our own mail": dsn(to, "ana@example.org", "4.2.2", action="delayed").replace(
            b"Subject: Undelivered Mail Returned to Sender", b"Subject: unsubscribe"
        ),
        "no verp configured": unsubscribe_mail(to),
    }[case]
    if case == "no verp configured":
        env = {**env, "NEWSLETTER_BOUNCE_ADDRESS": "bounces@network.test"}
    run(env, stdin=raw)
    assert set(statuses(rt).values()) == {"active"}


def test_settings_come_from_the_env_file_a_pipe_names(env, sent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    settings = tmp_path / "newsletter.env"
    settings.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    to = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    # A pipe's environment: none of the settings, only the file's name on the command line.
    result = CliRunner().invoke(
        main,
        ["bounces", "process", "--env-file", str(settings), "--recipient", to],
        env={},
        input=dsn(to, "ana@example.org", "5.1.1"),
    )
    assert result.exit_code == 0, result.output
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org"]) == {"ana@example.org"}


@pytest.mark.parametrize("broken", ["missing env file", "database unreachable"])
def test_a_failure_that_may_pass_exits_75_so_the_mta_retries(env, tmp_path, broken) -> None:  # type: ignore[no-untyped-def]
    args = ["bounces", "process"]
    if broken == "missing env file":
        args += ["--env-file", str(tmp_path / "absent.env")]
    else:
        env = {**env, "NEWSLETTER_DATABASE_URL": f"sqlite:///{tmp_path / 'no-dir' / 'x.db'}"}
    result = CliRunner().invoke(
        main, args, env=env, input=dsn("x@network.test", "a@b.org", "5.1.1")
    )
    assert result.exit_code == 75, result.output
    assert "temporary failure" in result.output


def test_two_recipients_at_once_are_refused_naming_the_postfix_setting(env, sent) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    first, second = (
        verp_address(TEMPLATE, ids[a], key=KEY.encode())
        for a in ("ana@example.org", "bo@example.org")
    )
    # What ${original_recipient} expands to when one message reaches two bounce addresses.
    result = CliRunner().invoke(
        main, ["bounces", "process", "--recipient", first, second], env=env, input=b"x"
    )
    assert result.exit_code == 75
    assert "destination_recipient_limit = 1" in result.output
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org", "bo@example.org"]) == set()


def test_a_later_campaign_creates_no_delivery_for_a_suppressed_address(env, sent, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt, ids = sent
    to = verp_address(TEMPLATE, ids["ana@example.org"], key=KEY.encode())
    run(env, stdin=dsn(to, "ana@example.org", "5.1.1"))
    with transaction(rt.new_session()) as s:
        campaign, count = create_announcement(
            s, rt.kit, Announcement("practitioners", "Later", "Body"), now=rt.clock()
        )
    assert count == 2 and campaign.total == 2
    with rt.new_session() as s:
        addresses = s.execute(
            select(Delivery.address).where(Delivery.campaign_id == campaign.id)
        ).scalars()
        assert sorted(addresses) == ["bo@example.org", "cy@example.org"]
