"""Links in mail: forged, truncated, foreign, expired, misused or dead tokens change nothing.

The first part goes through HTTP; the last part tests ``subscribers.core.tokens.Signer`` directly.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from mailer.clock import FrozenClock
from mailer.outbox import Campaign, Delivery, Suppression
from subscribers.core.db import transaction
from subscribers.core.errors import TokenError
from subscribers.core.models import ConsentEvent, MailingList, Member, Subscription
from subscribers.core.tokens import CONFIRM_MAX_AGE, MANAGE_MAX_AGE, PURPOSES, Signer, TokenClaims
from subscribers.people import preferences
from subscribers.people.registration import purge_unconfirmed
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

BASE = "http://newsletter.test"
OTHER_SECRET = "another-secret-key-of-another-site"
TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_.\-]+$")


# -- helpers -------------------------------------------------------------------------------


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage, kind: str) -> str:
    found = re.search(rf"{re.escape(BASE)}/{kind}/([A-Za-z0-9_.\-]+)", text_of(message))
    assert found, f"no {kind} link in mail"
    return found.group(1)


def registration_answer(client: FlaskClient, email: str) -> str:
    """Register ``email`` through the form; the page that answers (status 200 asserted)."""
    page = client.get("/register")
    response = client.post(
        "/register",
        data={
            "csrf_token": csrf_token(page.text),
            "email": email,
            "name": "Ana Sousa",
            "lists": "practitioners",
            "consent": "y",
        },
    )
    assert response.status_code == 200
    return response.text


def register(client: FlaskClient, email: str) -> None:
    assert "Check your inbox" in registration_answer(client, email)


def any_csrf(client: FlaskClient) -> str:
    return csrf_token(client.get("/register").text)


def snapshot(rt: Runtime) -> dict[str, object]:
    """Everything a link could change."""
    with rt.new_session() as s:
        return {
            "members": sorted(
                (m.id, m.email, m.status, m.nonce, m.name, m.confirmed_at, m.unsubscribed_at)
                for m in s.execute(select(Member)).scalars()
            ),
            "subscriptions": sorted(
                (x.member_id, x.list_id, x.status)
                for x in s.execute(select(Subscription)).scalars()
            ),
            "consents": s.execute(select(func.count()).select_from(ConsentEvent)).scalar_one(),
            "campaigns": s.execute(select(func.count()).select_from(Campaign)).scalar_one(),
            "deliveries": s.execute(select(func.count()).select_from(Delivery)).scalar_one(),
            "suppressions": s.execute(select(func.count()).select_from(Suppression)).scalar_one(),
        }


def status(rt: Runtime, member_id: int) -> str:
    with rt.new_session() as s:
        found = s.get(Member, member_id)
        assert found is not None
        return found.status


def assert_bad_link_page(response, message: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.text
    assert "This link does not work" in response.text
    assert "Traceback" not in response.text
    if message is not None:
        assert message in response.text


@pytest.fixture
def lst(rt: Runtime, session) -> MailingList:  # type: ignore[no-untyped-def]
    return make_list(session, rt.clock())


@pytest.fixture
def ana(rt: Runtime, session, lst: MailingList) -> Member:  # type: ignore[no-untyped-def]
    return make_member(session, rt.clock(), lists_=(lst,))


@pytest.fixture
def pending(client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lst: MailingList) -> str:
    """A registration waiting for confirmation; returns the token from its mail."""
    register(client, "pending@example.org")
    rt.sender.drain()
    return token_in(smtp.messages[-1].message, "confirm")


def pending_id(rt: Runtime) -> int:
    with rt.new_session() as s:
        return s.execute(
            select(Member.id).where(Member.email == "pending@example.org")
        ).scalar_one()


def tokens_for(rt: Runtime, member: Member) -> dict[str, str]:
    assert member.id is not None
    sign = rt.kit.signer.sign
    return {
        "confirm": sign("confirm", member.id, member.nonce),
        "manage": sign("manage", member.id, member.nonce),
        "unsubscribe": sign("unsubscribe", member.id, member.nonce, ""),
    }


def every_use(client: FlaskClient, token: str, csrf: str) -> list:  # type: ignore[type-arg]
    """Each public route that takes a token, with whatever a real browser would send."""
    return [
        client.get(f"/confirm/{token}"),
        client.post(f"/confirm/{token}", data={"csrf_token": csrf}),
        client.get(f"/manage/{token}"),
        client.post(
            f"/manage/{token}",
            data={"csrf_token": csrf, "name": "Mallory", "lists": [], "language": "en"},
        ),
        client.post(f"/manage/{token}/unsubscribe", data={"csrf_token": csrf}),
        client.post(f"/manage/{token}/export", data={"csrf_token": csrf}),
        client.post(f"/manage/{token}/erase", data={"csrf_token": csrf, "sure": "y"}),
        client.get(f"/unsubscribe/{token}"),
        client.post(f"/unsubscribe/{token}"),
        client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}),
    ]


# -- forged, truncated, foreign ------------------------------------------------------------


def forged_tokens(rt: Runtime, member: Member) -> dict[str, str]:
    assert member.id is not None
    real = tokens_for(rt, member)
    payload, stamp, signature = real["unsubscribe"].split(".")
    foreign = Signer(OTHER_SECRET, rt.clock)
    return {
        "garbage": "not-a-token",
        "dot-garbage": "a.b.c",
        "truncated": real["unsubscribe"][:-6],
        "signature-only-cut": f"{payload}.{stamp}.",
        "flipped-signature": f"{payload}.{stamp}.{signature[::-1]}",
        # Another member's id under this token's timestamp and signature.
        "other-payload": rt.kit.signer.sign("unsubscribe", member.id + 1, member.nonce).split(".")[
            0
        ]
        + f".{stamp}.{signature}",
        "other-secret-unsubscribe": foreign.sign("unsubscribe", member.id, member.nonce),
        "other-secret-manage": foreign.sign("manage", member.id, member.nonce),
        "other-secret-confirm": foreign.sign("confirm", member.id, member.nonce),
        "other-salt": URLSafeTimedSerializer(rt.settings.secret_key, salt="x").dumps(
            [member.id, member.nonce, ""]
        ),
        "too-long": "a" * 600,
        "unicode": "tökén",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "garbage",
        "dot-garbage",
        "truncated",
        "signature-only-cut",
        "flipped-signature",
        "other-payload",
        "other-secret-unsubscribe",
        "other-secret-manage",
        "other-secret-confirm",
        "other-salt",
        "too-long",
        "unicode",
    ],
)
def test_forged_tokens_are_refused_everywhere_and_change_nothing(
    client: FlaskClient, rt: Runtime, ana: Member, kind: str
) -> None:
    token = forged_tokens(rt, ana)[kind]
    csrf = any_csrf(client)
    before = snapshot(rt)
    for response in every_use(client, token, csrf):
        assert_bad_link_page(response, "This link is not valid.")
    assert snapshot(rt) == before
    assert status(rt, ana.id) == "active"


def test_resend_with_a_forged_token_queues_nothing(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, pending: str
) -> None:
    member_id = pending_id(rt)
    foreign = Signer(OTHER_SECRET, rt.clock)
    with rt.new_session() as s:
        nonce = s.get(Member, member_id).nonce
    csrf = any_csrf(client)
    rt.clock.advance(minutes=11)  # past the ten-minute spacing of notices
    before = snapshot(rt)
    for token in (pending[:-4], "garbage", foreign.sign("confirm", member_id, nonce)):
        response = client.post(f"/confirm/{token}/resend", data={"csrf_token": csrf})
        assert_bad_link_page(response, "This link is not valid.")
    assert snapshot(rt) == before


def test_a_state_changing_post_needs_the_csrf_token(
    client: FlaskClient, rt: Runtime, ana: Member, pending: str
) -> None:
    real = tokens_for(rt, ana)
    before = snapshot(rt)
    for path in (
        f"/confirm/{pending}",
        f"/confirm/{pending}/resend",
        f"/manage/{real['manage']}",
        f"/manage/{real['manage']}/unsubscribe",
        f"/manage/{real['manage']}/erase",
        f"/manage/{real['manage']}/export",
    ):
        response = client.post(path, data={"sure": "y"})
        assert response.status_code == 400, path
        assert "Traceback" not in response.text
    assert snapshot(rt) == before


# -- expiry --------------------------------------------------------------------------------


def test_an_expired_confirmation_offers_a_new_link_that_works(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, pending: str
) -> None:
    member_id = pending_id(rt)
    rt.clock.advance(days=7, seconds=1)
    before = snapshot(rt)

    page = client.get(f"/confirm/{pending}")
    assert_bad_link_page(page, "This link has expired.")
    assert "Send me a new link" in page.text
    assert f'action="/confirm/{pending}/resend"' in page.text
    # Pressing the confirm button with the old link does not confirm either.
    posted = client.post(f"/confirm/{pending}", data={"csrf_token": csrf_token(page.text)})
    assert_bad_link_page(posted, "This link has expired.")
    assert f'action="/confirm/{pending}/resend"' in posted.text
    assert snapshot(rt) == before
    assert status(rt, member_id) == "pending"

    resent = client.post(f"/confirm/{pending}/resend", data={"csrf_token": csrf_token(page.text)})
    assert resent.status_code == 200 and "Check your inbox" in resent.text
    with rt.new_session() as s:
        kinds = s.execute(select(Campaign.kind).order_by(Campaign.id)).scalars().all()
    assert kinds == ["confirm", "confirm"]
    rt.sender.drain()
    assert len(smtp.messages) == 2
    fresh = token_in(smtp.messages[-1].message, "confirm")
    assert fresh != pending
    page = client.get(f"/confirm/{fresh}")
    assert page.status_code == 200
    done = client.post(f"/confirm/{fresh}", data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200 and "Your registration is confirmed." in done.text
    assert status(rt, member_id) == "active"


def test_resending_twice_within_ten_minutes_queues_one_mail(
    client: FlaskClient, rt: Runtime, pending: str
) -> None:
    rt.clock.advance(days=7, seconds=1)
    csrf = any_csrf(client)
    for _ in range(3):
        response = client.post(f"/confirm/{pending}/resend", data={"csrf_token": csrf})
        assert response.status_code == 200
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Campaign)).scalar_one() == 2


def test_a_confirmation_link_is_valid_for_exactly_seven_days(
    client: FlaskClient, rt: Runtime, pending: str
) -> None:
    rt.clock.advance(days=7)
    page = client.get(f"/confirm/{pending}")
    assert page.status_code == 200
    done = client.post(f"/confirm/{pending}", data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200
    assert status(rt, pending_id(rt)) == "active"


def test_the_manage_link_expires_after_three_years(
    client: FlaskClient, rt: Runtime, ana: Member
) -> None:
    manage = tokens_for(rt, ana)["manage"]
    rt.clock.advance(seconds=MANAGE_MAX_AGE.total_seconds())
    assert client.get(f"/manage/{manage}").status_code == 200
    rt.clock.advance(seconds=1)
    page = client.get(f"/manage/{manage}")
    assert_bad_link_page(page, "This link has expired.")
    assert "Send me a new link" not in page.text  # only confirmations are re-sent


def test_the_unsubscribe_link_works_years_later(
    client: FlaskClient, rt: Runtime, ana: Member
) -> None:
    unsubscribe = tokens_for(rt, ana)["unsubscribe"]
    rt.clock.advance(days=5 * 365 + 2)
    page = client.get(f"/unsubscribe/{unsubscribe}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert status(rt, ana.id) == "active"
    done = client.post(f"/unsubscribe/{unsubscribe}")
    assert done.status_code == 200
    assert status(rt, ana.id) == "unsubscribed"


def test_one_click_unsubscribe_works_years_later(app, rt: Runtime, ana: Member) -> None:  # type: ignore[no-untyped-def]
    unsubscribe = tokens_for(rt, ana)["unsubscribe"]
    rt.clock.advance(days=5 * 365 + 2)
    response = app.test_client().post(
        f"/unsubscribe/{unsubscribe}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert status(rt, ana.id) == "unsubscribed"


# -- the wrong purpose ---------------------------------------------------------------------


def test_a_manage_token_cannot_confirm_or_unsubscribe(
    client: FlaskClient, rt: Runtime, pending: str
) -> None:
    with rt.new_session() as s:
        member = s.get(Member, pending_id(rt))
    manage = tokens_for(rt, member)["manage"]
    csrf = any_csrf(client)
    before = snapshot(rt)
    for response in (
        client.get(f"/confirm/{manage}"),
        client.post(f"/confirm/{manage}", data={"csrf_token": csrf}),
        client.post(f"/confirm/{manage}/resend", data={"csrf_token": csrf}),
        client.get(f"/unsubscribe/{manage}"),
        client.post(f"/unsubscribe/{manage}"),
        client.post(f"/unsubscribe/{manage}", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert_bad_link_page(response, "This link is not valid.")
    assert snapshot(rt) == before
    assert status(rt, member.id) == "pending"


def test_an_unsubscribe_token_cannot_open_the_manage_page(
    client: FlaskClient, rt: Runtime, ana: Member
) -> None:
    unsubscribe = tokens_for(rt, ana)["unsubscribe"]
    csrf = any_csrf(client)
    before = snapshot(rt)
    for response in (
        client.get(f"/manage/{unsubscribe}"),
        client.post(f"/manage/{unsubscribe}", data={"csrf_token": csrf, "name": "Mallory"}),
        client.post(f"/manage/{unsubscribe}/export", data={"csrf_token": csrf}),
        client.post(f"/manage/{unsubscribe}/erase", data={"csrf_token": csrf, "sure": "y"}),
        client.post(f"/manage/{unsubscribe}/unsubscribe", data={"csrf_token": csrf}),
        client.get(f"/confirm/{unsubscribe}"),
        client.post(f"/confirm/{unsubscribe}", data={"csrf_token": csrf}),
    ):
        assert_bad_link_page(response, "This link is not valid.")
        assert "ana@example.org" not in response.text
    assert snapshot(rt) == before


def test_a_confirmation_token_cannot_manage_or_unsubscribe(
    client: FlaskClient, rt: Runtime, ana: Member
) -> None:
    confirm = tokens_for(rt, ana)["confirm"]
    csrf = any_csrf(client)
    before = snapshot(rt)
    for response in (
        client.get(f"/manage/{confirm}"),
        client.post(f"/manage/{confirm}/erase", data={"csrf_token": csrf, "sure": "y"}),
        client.post(f"/unsubscribe/{confirm}"),
    ):
        assert_bad_link_page(response, "This link is not valid.")
    assert snapshot(rt) == before


# -- another member's token ----------------------------------------------------------------


def test_another_members_token_acts_only_on_that_member(
    client: FlaskClient, rt: Runtime, session, lst: MailingList
) -> None:  # type: ignore[no-untyped-def]
    ana = make_member(session, rt.clock(), lists_=(lst,), email="ana@example.org")
    ion = make_member(session, rt.clock(), lists_=(lst,), email="ion@example.org", name="Ion")
    ion_tokens = tokens_for(rt, ion)

    page = client.get(f"/manage/{ion_tokens['manage']}")
    assert page.status_code == 200
    assert "ion@example.org" in page.text and "ana@example.org" not in page.text
    exported = client.post(
        f"/manage/{ion_tokens['manage']}/export", data={"csrf_token": csrf_token(page.text)}
    )
    assert exported.get_json()["profile"]["email"] == "ion@example.org"

    assert client.post(f"/unsubscribe/{ion_tokens['unsubscribe']}").status_code == 200
    assert status(rt, ion.id) == "unsubscribed"
    assert status(rt, ana.id) == "active"
    with rt.new_session() as s:
        subs = {x.member_id: x.status for x in s.execute(select(Subscription)).scalars()}
        withdrawn = s.execute(
            select(ConsentEvent.member_id).where(ConsentEvent.action == "withdrawn")
        ).scalars()
        assert set(withdrawn) == {ion.id}
    assert subs == {ana.id: "active", ion.id: "unsubscribed"}


def test_a_token_with_another_members_id_and_nonce_is_refused(
    client: FlaskClient, rt: Runtime, session, lst: MailingList
) -> None:  # type: ignore[no-untyped-def]
    ana = make_member(session, rt.clock(), lists_=(lst,), email="ana@example.org")
    ion = make_member(session, rt.clock(), lists_=(lst,), email="ion@example.org")
    # Ana's id with Ion's nonce: correctly signed, but it is nobody's link.
    mixed = rt.kit.signer.sign("unsubscribe", ana.id, ion.nonce, "")
    before = snapshot(rt)
    assert_bad_link_page(client.get(f"/unsubscribe/{mixed}"), "This link is no longer valid.")
    assert_bad_link_page(client.post(f"/unsubscribe/{mixed}"), "This link is no longer valid.")
    assert snapshot(rt) == before


def test_a_token_for_a_member_who_does_not_exist_is_refused(
    client: FlaskClient, rt: Runtime, ana: Member
) -> None:
    ghost = rt.kit.signer.sign("unsubscribe", 999_999, ana.nonce, "")
    before = snapshot(rt)
    assert_bad_link_page(client.post(f"/unsubscribe/{ghost}"), "This link is no longer valid.")
    assert_bad_link_page(
        client.get(f"/manage/{rt.kit.signer.sign('manage', 999_999, ana.nonce)}"),
        "This link is no longer valid.",
    )
    assert snapshot(rt) == before


# -- after erasure -------------------------------------------------------------------------


def erase(rt: Runtime, member_id: int) -> None:
    with transaction(rt.new_session()) as s:
        preferences.erase(s, rt.kit, s.get(Member, member_id), now=rt.clock())


def test_every_link_dies_with_erasure(client: FlaskClient, rt: Runtime, ana: Member) -> None:
    old = tokens_for(rt, ana)
    erase(rt, ana.id)
    csrf = any_csrf(client)
    before = snapshot(rt)
    for token in old.values():
        for response in every_use(client, token, csrf):
            assert_bad_link_page(response)
            assert "This link is no longer valid." in response.text or (
                "This link is not valid." in response.text
            )
    assert snapshot(rt) == before
    assert status(rt, ana.id) == "erased"


def test_links_of_an_erased_member_stay_dead_after_registering_again(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, ana: Member
) -> None:
    old = tokens_for(rt, ana)
    erase(rt, ana.id)
    register(client, "ana@example.org")
    rt.sender.drain()
    fresh_confirm = token_in(smtp.messages[-1].message, "confirm")
    assert_bad_link_page(client.get(f"/confirm/{old['confirm']}"), "This link is no longer valid.")
    assert_bad_link_page(client.get(f"/manage/{old['manage']}"), "This link is no longer valid.")
    page = client.get(f"/confirm/{fresh_confirm}")
    assert page.status_code == 200
    assert client.post(f"/confirm/{fresh_confirm}", data={"csrf_token": csrf_token(page.text)})
    with rt.new_session() as s:
        rows = {m.id: (m.email, m.status) for m in s.execute(select(Member)).scalars()}
    assert rows[ana.id] == (None, "erased")
    assert sorted(rows.values(), key=str) == sorted(
        [(None, "erased"), ("ana@example.org", "active")], key=str
    )


def test_resend_for_an_erased_member_is_refused_and_sends_nothing(
    client: FlaskClient, rt: Runtime, pending: str
) -> None:
    erase(rt, pending_id(rt))
    rt.clock.advance(days=7, seconds=1)
    before = snapshot(rt)
    page = client.get(f"/confirm/{pending}")
    assert_bad_link_page(page, "This link is no longer valid.")
    assert "Send me a new link" not in page.text
    response = client.post(f"/confirm/{pending}/resend", data={"csrf_token": any_csrf(client)})
    assert snapshot(rt) == before  # nothing queued
    # The page must not say "check your inbox" for a mail that will never come.
    assert_bad_link_page(response, "This link is no longer valid.")


def test_links_of_a_purged_registration_are_refused(
    client: FlaskClient, rt: Runtime, pending: str
) -> None:
    rt.clock.advance(days=7, seconds=1)
    with transaction(rt.new_session()) as s:
        assert purge_unconfirmed(s, now=rt.clock()) == 1
    before = snapshot(rt)
    assert_bad_link_page(client.get(f"/confirm/{pending}"), "This link is no longer valid.")
    assert snapshot(rt) == before


# -- links followed without pressing the button --------------------------------------------


def test_following_the_confirmation_link_alone_changes_nothing(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, pending: str
) -> None:
    before = snapshot(rt)
    for _ in range(3):
        page = client.get(f"/confirm/{pending}")
        assert page.status_code == 200 and "Confirm my registration" in page.text
        # HEAD (some link checkers) must not confirm either; it answers like GET or refuses.
        assert client.head(f"/confirm/{pending}").status_code in (200, 400)
    assert snapshot(rt) == before
    assert status(rt, pending_id(rt)) == "pending"
    rt.sender.drain()
    assert len(smtp.messages) == 1  # only the confirmation; no welcome


def test_following_the_unsubscribe_link_alone_changes_nothing(
    client: FlaskClient, rt: Runtime, ana: Member
) -> None:
    unsubscribe = tokens_for(rt, ana)["unsubscribe"]
    before = snapshot(rt)
    for _ in range(3):
        page = client.get(f"/unsubscribe/{unsubscribe}")
        assert page.status_code == 200 and "Unsubscribe" in page.text
        assert client.head(f"/unsubscribe/{unsubscribe}").status_code == 200
    assert snapshot(rt) == before


def test_a_list_scoped_unsubscribe_link_leaves_only_that_list(
    client: FlaskClient, rt: Runtime, session, lst: MailingList
) -> None:  # type: ignore[no-untyped-def]
    other = make_list(session, rt.clock(), slug="researchers", name="Researchers")
    ana = make_member(session, rt.clock(), lists_=(lst, other))
    token = rt.kit.signer.sign("unsubscribe", ana.id, ana.nonce, str(lst.id))
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and lst.name in page.text
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    with rt.new_session() as s:
        subs = {x.list_id: x.status for x in s.execute(select(Subscription)).scalars()}
    assert subs == {lst.id: "unsubscribed", other.id: "active"}
    assert status(rt, ana.id) == "active"


# -- Signer, directly ----------------------------------------------------------------------


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def signer(frozen: FrozenClock) -> Signer:
    return Signer("a-secret-key-for-unit-tests", frozen)


@pytest.mark.parametrize("purpose", PURPOSES)
def test_signer_round_trip(signer: Signer, purpose: str) -> None:
    token = signer.sign(purpose, 42, "abcdef0123456789", "7")
    assert TOKEN_CHARS.match(token), token
    assert len(token) < 200
    assert signer.verify(purpose, token) == TokenClaims(42, "abcdef0123456789", "7")
    assert signer.verify(purpose, token, max_age=timedelta(seconds=1)).member_id == 42


def test_signer_default_extra_is_empty(signer: Signer) -> None:
    assert signer.verify("manage", signer.sign("manage", 1, "n")).extra == ""


@pytest.mark.parametrize("signed_for", PURPOSES)
def test_signer_refuses_every_other_purpose(signer: Signer, signed_for: str) -> None:
    token = signer.sign(signed_for, 1, "n")
    for purpose in PURPOSES:
        if purpose == signed_for:
            continue
        with pytest.raises(TokenError) as err:
            signer.verify(purpose, token)
        assert not err.value.expired
        assert str(err.value) == "This link is not valid."


def test_signer_refuses_an_unknown_purpose(signer: Signer) -> None:
    with pytest.raises(ValueError, match="unknown token purpose"):
        signer.sign("reset", 1, "n")
    with pytest.raises(ValueError, match="unknown token purpose"):
        signer.verify("reset", signer.sign("manage", 1, "n"))


def test_signer_refuses_another_secret(signer: Signer, frozen: FrozenClock) -> None:
    token = Signer("a-different-secret-key", frozen).sign("confirm", 1, "n")
    with pytest.raises(TokenError) as err:
        signer.verify("confirm", token)
    assert not err.value.expired


def test_signer_tokens_differ_by_member_nonce_and_extra(signer: Signer) -> None:
    tokens = {
        signer.sign("unsubscribe", 1, "n"),
        signer.sign("unsubscribe", 2, "n"),
        signer.sign("unsubscribe", 1, "m"),
        signer.sign("unsubscribe", 1, "n", "3"),
    }
    assert len(tokens) == 4


@pytest.mark.parametrize(
    "token",
    ["", "x", "a.b", "a.b.c", "a" * 501, "🙂", "....", "eyJ9.AAAA.BBBB"],
)
def test_signer_refuses_malformed_tokens(signer: Signer, token: str) -> None:
    with pytest.raises(TokenError) as err:
        signer.verify("confirm", token)
    assert not err.value.expired


def test_signer_refuses_every_truncation_and_single_character_change(signer: Signer) -> None:
    token = signer.sign("confirm", 12, "0123456789abcdef")
    for cut in range(1, len(token)):
        with pytest.raises(TokenError):
            signer.verify("confirm", token[:cut])
    for i in range(len(token)):
        replacement = "A" if token[i] != "A" else "B"
        changed = token[:i] + replacement + token[i + 1 :]
        try:
            claims = signer.verify("confirm", changed)
        except TokenError:
            continue
        # base64 can leave the last character's low bits unused: the claims must not change.
        assert claims == TokenClaims(12, "0123456789abcdef", ""), (i, changed)


def test_signer_refuses_a_payload_of_the_wrong_shape() -> None:
    secret = "a-secret-key-for-unit-tests"
    signer = Signer(secret)
    serializer = URLSafeTimedSerializer(secret, salt="newsletter.confirm")
    for payload in (
        {"member_id": 1},
        [1, "n"],
        [1, "n", "", "extra"],
        ["1", "n", ""],
        [1, 2, ""],
        [1, "n", None],
        "1:n",
        None,
    ):
        with pytest.raises(TokenError):
            signer.verify("confirm", serializer.dumps(payload))
    assert signer.verify("confirm", serializer.dumps([1, "n", ""])) == TokenClaims(1, "n", "")


def test_signer_reads_the_injected_clock(signer: Signer, frozen: FrozenClock) -> None:
    token = signer.sign("confirm", 1, "n")
    frozen.advance(days=7)
    assert signer.verify("confirm", token, max_age=CONFIRM_MAX_AGE).member_id == 1
    frozen.advance(seconds=1)
    with pytest.raises(TokenError) as err:
        signer.verify("confirm", token, max_age=CONFIRM_MAX_AGE)
    assert err.value.expired and str(err.value) == "This link has expired."
    # Without a maximum age the same token stays valid, however old.
    frozen.advance(days=365 * 20)
    assert signer.verify("confirm", token).member_id == 1


def test_signer_treats_a_token_from_the_future_as_not_yet_valid(
    signer: Signer, frozen: FrozenClock
) -> None:
    later = Signer("a-secret-key-for-unit-tests", FrozenClock(frozen() + timedelta(days=1)))
    token = later.sign("confirm", 1, "n")
    with pytest.raises(TokenError):
        signer.verify("confirm", token, max_age=CONFIRM_MAX_AGE)


def test_signer_tokens_do_not_depend_on_the_wall_clock(frozen: FrozenClock) -> None:
    one = Signer("a-secret-key-for-unit-tests", frozen)
    two = Signer("a-secret-key-for-unit-tests", FrozenClock(frozen()))
    assert one.sign("manage", 5, "n") == two.sign("manage", 5, "n")


@pytest.mark.parametrize(
    ("purpose", "member_id", "nonce", "extra"),
    [
        ("confirm", 1, "0123456789abcdef", ""),
        ("unsubscribe", 123456, "0123456789abcdef", "7"),
        ("rsvp", 42, "ñ-nonce", "12:accepted"),
    ],
)
def test_the_fast_signer_writes_exactly_what_itsdangerous_writes(
    clock: FrozenClock, purpose: str, member_id: int, nonce: str, extra: str
) -> None:
    # Links already in members' mail were made by URLSafeTimedSerializer.dumps; the fast path
    # (key derived once per purpose) must give the same bytes, and itsdangerous must read them.
    signer = Signer(OTHER_SECRET, clock)
    fast = signer.sign(purpose, member_id, nonce, extra)
    reference = URLSafeTimedSerializer(
        OTHER_SECRET, salt=f"newsletter.{purpose}", signer=signer._timestamp_signer
    )
    assert fast == reference.dumps([member_id, nonce, extra])
    assert reference.loads(fast) == [member_id, nonce, extra]
    assert signer.verify(purpose, fast) == TokenClaims(member_id, nonce, extra)
