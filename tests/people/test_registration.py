"""Registration services: double opt-in, repeats, coming back, consent records, purging."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer import outbox
from mailer.outbox import Campaign, Delivery, Suppression
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput, Throttled, TokenError
from subscribers.core.models import ConsentEvent, MailingList, Member, Subscription
from subscribers.people import preferences, registration
from subscribers.people.consent import VERSION_1
from subscribers.people.registration import RegistrationRequest
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list, make_member
from tests.smtp_server import ScriptedSMTP

IP = "198.51.100.23"
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"


def request(email: str = "ana@example.org", **overrides: object) -> RegistrationRequest:
    fields: dict[str, object] = {
        "email": email,
        "name": "Ana Sousa",
        "organisation": "PSP",
        "country": "PT",
        "sector": "police",
        # English, to read the mail's words below; tests/i18n reads them in each language.
        "language": "en",
        "list_slugs": ("practitioners",),
        "consent": True,
        "ip": IP,
        "user_agent": UA,
    }
    fields.update(overrides)
    return RegistrationRequest(**fields)  # type: ignore[arg-type]


def register(rt: Runtime, req: RegistrationRequest | None = None) -> None:
    with transaction(rt.new_session()) as s:
        registration.register(s, rt.kit, req or request(), now=rt.clock())


def confirm(rt: Runtime, token: str, *, ip: str = "", user_agent: str = "") -> Member:
    with transaction(rt.new_session()) as s:
        return registration.confirm(s, rt.kit, token, now=rt.clock(), ip=ip, user_agent=user_agent)


def member(rt: Runtime, email: str = "ana@example.org") -> Member:
    with rt.new_session() as s:
        return s.execute(select(Member).where(Member.email == email)).scalar_one()


def subscriptions(rt: Runtime, member_id: int) -> list[tuple[str, str]]:
    with rt.new_session() as s:
        rows = s.execute(
            select(MailingList.slug, Subscription.status)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscription.member_id == member_id)
            .order_by(MailingList.slug)
        ).all()
    return [(slug, st) for slug, st in rows]


def consents(rt: Runtime, member_id: int) -> list[ConsentEvent]:
    with rt.new_session() as s:
        return list(
            s.execute(
                select(ConsentEvent)
                .where(ConsentEvent.member_id == member_id)
                .order_by(ConsentEvent.id)
            ).scalars()
        )


def campaign_kinds(rt: Runtime) -> list[str]:
    with rt.new_session() as s:
        return list(s.execute(select(Campaign.kind).order_by(Campaign.id)).scalars())


def count(rt: Runtime, table: type) -> int:
    with rt.new_session() as s:
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def confirm_token(rt: Runtime, m: Member) -> str:
    assert m.id is not None
    return rt.kit.signer.sign("confirm", m.id, m.nonce)


@pytest.fixture
def lst(rt: Runtime, session) -> MailingList:  # type: ignore[no-untyped-def]
    return make_list(session, rt.clock())


@pytest.fixture
def lists(rt: Runtime, session, lst: MailingList) -> Sequence[MailingList]:  # type: ignore[no-untyped-def]
    return (
        lst,
        make_list(session, rt.clock(), slug="researchers", name="Researchers"),
        make_list(session, rt.clock(), slug="internal", name="Internal", public=False),
    )


# -- registering twice ---------------------------------------------------------------------


def test_registering_twice_makes_one_member_one_subscription_and_one_mail(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    register(rt)
    rt.clock.advance(minutes=9, seconds=59)
    register(rt, request(name="Ana S."))
    ana = member(rt)
    assert count(rt, Member) == 1
    assert ana.status == "pending" and ana.confirmed_at is None
    assert subscriptions(rt, ana.id) == [("practitioners", "pending")]
    assert campaign_kinds(rt) == ["confirm"]
    report = rt.sender.drain()
    assert report.sent == 1
    assert [m.message["Subject"] for m in smtp.messages] == ["Please confirm your registration"]
    # Both attempts are in the consent history.
    assert [c.action for c in consents(rt, ana.id)] == ["given", "given"]


def test_a_repeat_after_ten_minutes_sends_a_new_confirmation(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    register(rt)
    rt.clock.advance(minutes=10)
    register(rt)
    assert campaign_kinds(rt) == ["confirm", "confirm"]
    rt.sender.drain()
    assert len(smtp.messages) == 2
    assert count(rt, Member) == 1
    assert count(rt, Subscription) == 1


def test_registering_for_a_second_list_adds_a_pending_subscription(
    rt: Runtime, lists: Sequence[MailingList]
) -> None:
    register(rt)
    register(rt, request(list_slugs=("researchers",)))
    ana = member(rt)
    assert subscriptions(rt, ana.id) == [("practitioners", "pending"), ("researchers", "pending")]
    confirm(rt, confirm_token(rt, ana))
    assert subscriptions(rt, ana.id) == [("practitioners", "active"), ("researchers", "active")]


def test_a_confirmed_member_registering_again_gets_the_already_member_mail(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    register(rt)
    confirm(rt, confirm_token(rt, member(rt)))
    rt.clock.advance(minutes=11)
    register(rt, request(name="Someone Else"))
    register(rt, request(name="Someone Else"))
    assert campaign_kinds(rt) == ["confirm", "welcome", "already_member"]
    ana = member(rt)
    assert ana.status == "active" and ana.name == "Ana Sousa"  # a stranger cannot rename her
    assert subscriptions(rt, ana.id) == [("practitioners", "active")]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"consent": False}, "consent"),
        ({"list_slugs": ()}, "lists"),
        ({"list_slugs": ("nope",)}, "lists"),
        ({"list_slugs": ("internal",)}, "lists"),
        ({"list_slugs": ("practitioners", "internal")}, "lists"),
    ],
)
def test_refused_registrations_store_nothing(
    rt: Runtime, lists: Sequence[MailingList], overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        register(rt, request(**overrides))
    assert err.value.field == field
    for table in (Member, Subscription, ConsentEvent, Campaign, Delivery):
        assert count(rt, table) == 0, table


def test_the_same_list_twice_in_a_request_is_one_subscription(
    rt: Runtime, lst: MailingList
) -> None:
    register(rt, request(list_slugs=("practitioners", "practitioners")))
    assert subscriptions(rt, member(rt).id) == [("practitioners", "pending")]


def test_registrations_are_throttled_per_ip(rt: Runtime, lst: MailingList) -> None:
    for i in range(registration.IP_LIMIT):
        register(rt, request(f"m{i}@example.org"))
    with pytest.raises(Throttled):
        register(rt, request("late@example.org"))
    register(rt, request("late@example.org", ip=""))  # no address known: not counted
    register(rt, request("other@example.org", ip="192.0.2.1"))
    assert count(rt, Member) == registration.IP_LIMIT + 2


# -- coming back after unsubscribing -------------------------------------------------------


def test_re_registering_after_unsubscribing_needs_a_fresh_confirmation(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    register(rt)
    first = confirm(rt, confirm_token(rt, member(rt)))
    assert first.status == "active"
    rt.clock.advance(days=30)
    with transaction(rt.new_session()) as s:
        preferences.unsubscribe(s, s.get(Member, first.id), now=rt.clock())
    assert member(rt).status == "unsubscribed"
    left_at = member(rt).unsubscribed_at
    rt.sender.drain()
    sent_before = len(smtp.messages)

    rt.clock.advance(days=30)
    register(rt)
    back = member(rt)
    assert back.id == first.id
    # Anyone can type the address: until the link in the mailbox is used, the person stays
    # unsubscribed (and is mailed nothing but the confirmation).
    assert (back.status, back.unsubscribed_at) == ("unsubscribed", left_at)
    assert subscriptions(rt, back.id) == [("practitioners", "pending")]
    assert campaign_kinds(rt)[-1] == "confirm"
    rt.sender.drain()
    assert len(smtp.messages) == sent_before + 1
    assert smtp.messages[-1].rcpt_tos == ["ana@example.org"]

    rt.clock.advance(hours=1)
    again = confirm(rt, confirm_token(rt, back))
    assert again.status == "active" and again.unsubscribed_at is None
    assert again.confirmed_at == rt.clock()
    assert subscriptions(rt, back.id) == [("practitioners", "active")]
    assert [c.action for c in consents(rt, back.id)] == [
        "given",
        "confirmed",
        "withdrawn",
        "given",
        "confirmed",
    ]
    assert campaign_kinds(rt)[-1] == "welcome"


def came_back(rt: Runtime) -> Member:
    """Ana registered, confirmed, left, and a day later her address was registered again."""
    register(rt)
    ana = confirm(rt, confirm_token(rt, member(rt)))
    with transaction(rt.new_session()) as s:
        preferences.unsubscribe(s, s.get(Member, ana.id), now=rt.clock())
    rt.clock.advance(days=1)
    register(rt)
    return ana


def test_coming_back_an_expired_confirmation_can_be_sent_again(
    rt: Runtime, lst: MailingList
) -> None:
    came_back(rt)
    token = confirm_token(rt, member(rt))
    rt.clock.advance(days=8)
    with pytest.raises(TokenError):
        confirm(rt, token)
    with transaction(rt.new_session()) as s:
        registration.resend_confirmation(s, rt.kit, token, now=rt.clock())
    assert campaign_kinds(rt)[-1] == "confirm"
    assert confirm(rt, confirm_token(rt, member(rt))).status == "active"


def test_re_registering_for_one_list_does_not_revive_the_others(
    rt: Runtime, lists: Sequence[MailingList]
) -> None:
    register(rt, request(list_slugs=("practitioners", "researchers")))
    ana = confirm(rt, confirm_token(rt, member(rt)))
    with transaction(rt.new_session()) as s:
        preferences.unsubscribe(s, s.get(Member, ana.id), now=rt.clock())
    rt.clock.advance(minutes=11)
    register(rt, request(list_slugs=("researchers",)))
    confirm(rt, confirm_token(rt, member(rt)))
    assert subscriptions(rt, ana.id) == [
        ("practitioners", "unsubscribed"),
        ("researchers", "active"),
    ]


def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    """Pressing the button of a week-old confirmation mail after leaving must not re-join."""
    register(rt)
    ana = member(rt)
    token = confirm_token(rt, ana)
    confirm(rt, token)
    rt.clock.advance(days=1)
    with transaction(rt.new_session()) as s:
        preferences.unsubscribe(s, s.get(Member, ana.id), now=rt.clock())
    kinds_before = campaign_kinds(rt)
    rt.clock.advance(days=1)
    confirm(rt, token)  # the token is still within its 7 days
    after = member(rt)
    assert subscriptions(rt, ana.id) == [("practitioners", "unsubscribed")]
    # The member's status agrees with the subscriptions: nobody left to be "active" for.
    assert after.status == "unsubscribed", after.status
    assert after.unsubscribed_at is not None
    assert campaign_kinds(rt) == kinds_before  # no welcome mail to someone who left


def test_confirming_twice_is_harmless(rt: Runtime, lst: MailingList) -> None:
    register(rt)
    token = confirm_token(rt, member(rt))
    confirm(rt, token)
    rt.clock.advance(hours=1)
    again = confirm(rt, token)
    assert again.status == "active"
    assert campaign_kinds(rt) == ["confirm", "welcome"]
    assert [c.action for c in consents(rt, again.id)] == ["given", "confirmed"]


def test_confirm_refuses_an_expired_token_and_changes_nothing(
    rt: Runtime, lst: MailingList
) -> None:
    register(rt)
    token = confirm_token(rt, member(rt))
    rt.clock.advance(days=7, seconds=1)
    with pytest.raises(TokenError) as err:
        confirm(rt, token)
    assert err.value.expired
    assert member(rt).status == "pending"


# -- consent records -----------------------------------------------------------------------


def test_the_consent_record_keeps_version_text_ip_and_user_agent(
    rt: Runtime, lists: Sequence[MailingList]
) -> None:
    register(rt, request(list_slugs=("practitioners", "researchers")))
    ana = member(rt)
    given = consents(rt, ana.id)
    assert [c.action for c in given] == ["given", "given"]
    assert {c.list_id for c in given} == {lists[0].id, lists[1].id}
    for c in given:
        # No form showed a wording: the current one in the member's language (version 1).
        assert c.consent_version == "1" and c.wording_id is not None
        assert c.consent_text == VERSION_1 and "unsubscribe" in VERSION_1
        assert c.ip == IP and c.user_agent == UA
        assert c.source == "web"
        assert c.at == rt.clock()

    rt.clock.advance(hours=2)
    confirm(rt, confirm_token(rt, ana), ip="2001:db8::1", user_agent="Thunderbird/140")
    confirmed = [c for c in consents(rt, ana.id) if c.action == "confirmed"]
    assert len(confirmed) == 2
    for c in confirmed:
        assert c.ip == "2001:db8::1" and c.user_agent == "Thunderbird/140"
        # The wording Ana ticked when she registered.
        assert c.consent_version == "1" and c.consent_text == VERSION_1
        assert c.wording_id == given[0].wording_id
        assert c.at == rt.clock()


def test_overlong_ip_and_user_agent_are_cut_to_fit(rt: Runtime, lst: MailingList) -> None:
    register(rt, request(ip="1" * 100, user_agent="U" * 1000))
    (given,) = consents(rt, member(rt).id)
    assert given.ip == "1" * 64 and given.user_agent == "U" * 300


def test_the_web_form_records_the_callers_ip_and_user_agent(
    client: FlaskClient, rt: Runtime, lst: MailingList
) -> None:
    page = client.get("/register")
    response = client.post(
        "/register",
        data={
            "csrf_token": csrf_token(page.text),
            "email": "ana@example.org",
            "lists": "practitioners",
            "consent": "y",
        },
        headers={"User-Agent": UA + " " + "x" * 500},
        environ_base={"REMOTE_ADDR": "203.0.113.50"},
    )
    assert response.status_code == 200
    (given,) = consents(rt, member(rt).id)
    assert given.ip == "203.0.113.50"
    assert given.user_agent == (UA + " " + "x" * 500)[:300]
    assert given.consent_version == "1" and given.consent_text == VERSION_1


def test_the_privacy_page_shows_the_consent_text_and_version(client: FlaskClient) -> None:
    page = client.get("/privacy")
    assert page.status_code == 200
    assert "Version 1" in page.text
    assert VERSION_1 in page.text.replace("&#39;", "'")


# -- purging unconfirmed registrations -----------------------------------------------------


def test_purge_removes_stale_pending_registrations_and_keeps_everything_else(
    rt: Runtime, smtp: ScriptedSMTP, session, lst: MailingList
) -> None:  # type: ignore[no-untyped-def]
    start = rt.clock()
    register(rt, request("stale@example.org"))
    register(rt, request("confirmed@example.org"))
    confirm(rt, confirm_token(rt, member(rt, "confirmed@example.org")))
    stale_unsent = "queued@example.org"
    register(rt, request(stale_unsent))
    rt.sender.drain()  # stale and confirmed: their mails go out; queued@ is registered after
    with transaction(rt.new_session()) as s:
        # One confirmation still waiting in the outbox (e.g. the relay was down).
        s.execute(
            Delivery.__table__.update()
            .where(Delivery.address == stale_unsent)
            .values(state=outbox.QUEUED)
        )
    veteran = make_member(session, start, lists_=(lst,), email="veteran@example.org")
    stale = member(rt, "stale@example.org")
    queued = member(rt, stale_unsent)

    rt.clock.advance(days=3)
    register(rt, request("recent@example.org"))
    rt.clock.advance(days=4, seconds=1)  # stale@ is now 7 days + 1 s old, recent@ 4 days + 1 s

    with transaction(rt.new_session()) as s:
        assert registration.purge_unconfirmed(s, now=rt.clock()) == 2

    with rt.new_session() as s:
        left = set(s.execute(select(Member.email)).scalars())
        assert left == {"confirmed@example.org", "veteran@example.org", "recent@example.org"}
        for gone in (stale, queued):
            assert s.get(Member, gone.id) is None
            assert not s.execute(
                select(Subscription).where(Subscription.member_id == gone.id)
            ).first()
            assert not s.execute(
                select(ConsentEvent).where(ConsentEvent.member_id == gone.id)
            ).first()
            rows = (
                s.execute(select(Delivery).where(Delivery.recipient_id == gone.id)).scalars().all()
            )
            assert rows, "the outbox keeps its rows (for counts), without personal data"
            for row in rows:
                assert row.address == "" and row.name == "" and row.personal == {}
                assert row.state in (outbox.SENT, outbox.SKIPPED)
        waiting = s.execute(select(Delivery).where(Delivery.recipient_id == queued.id)).scalar_one()
        assert waiting.state == outbox.SKIPPED  # never sent after the purge
        # Nothing of the kept members was touched.
        kept = s.execute(select(Delivery).where(Delivery.address != "")).scalars().all()
        assert {d.address for d in kept} == {"confirmed@example.org", "recent@example.org"}
        assert s.get(Member, veteran.id).status == "active"
        assert len(s.execute(select(Subscription)).scalars().all()) == 3
    assert registration.UNCONFIRMED_TTL.days == 7

    # Purging again finds nothing; nothing is sent to the purged addresses.
    with transaction(rt.new_session()) as s:
        assert registration.purge_unconfirmed(s, now=rt.clock()) == 0
    sent = len(smtp.messages)
    rt.sender.drain()
    assert all(m.rcpt_tos != [stale_unsent] for m in smtp.messages[sent:])


def test_purge_keeps_a_registration_exactly_seven_days_old(rt: Runtime, lst: MailingList) -> None:
    register(rt)
    rt.clock.advance(days=7)
    with transaction(rt.new_session()) as s:
        assert registration.purge_unconfirmed(s, now=rt.clock()) == 0
    rt.clock.advance(seconds=1)
    with transaction(rt.new_session()) as s:
        assert registration.purge_unconfirmed(s, now=rt.clock()) == 1


def test_purge_keeps_a_former_member_who_came_back_and_did_not_confirm(
    rt: Runtime, lst: MailingList
) -> None:
    ana = came_back(rt)  # unconfirmed again, but has a history (withdrawal records) that must stay
    rt.clock.advance(days=30)
    with transaction(rt.new_session()) as s:
        assert registration.purge_unconfirmed(s, now=rt.clock()) == 0
    assert member(rt).status == "unsubscribed"
    assert "withdrawn" in [c.action for c in consents(rt, ana.id)]


def test_a_purged_address_can_register_again(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    register(rt)
    old = member(rt)
    old_token = confirm_token(rt, old)
    rt.clock.advance(days=8)
    with transaction(rt.new_session()) as s:
        registration.purge_unconfirmed(s, now=rt.clock())
    register(rt)
    new = member(rt)
    assert new.status == "pending"
    with pytest.raises(TokenError):
        confirm(rt, old_token)  # the old link belongs to a registration that is gone
    confirm(rt, confirm_token(rt, new))
    assert member(rt).status == "active"


def test_a_new_member_does_not_inherit_a_purged_members_deliveries(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    """Ids of deleted members must not be handed out again: the outbox still refers to them."""
    register(rt, request("first@example.org"))
    rt.sender.drain()
    first = member(rt, "first@example.org")
    rt.clock.advance(days=8)
    with transaction(rt.new_session()) as s:
        registration.purge_unconfirmed(s, now=rt.clock())
    register(rt, request("second@example.org"))
    second = member(rt, "second@example.org")
    with rt.new_session() as s:
        exported = preferences.export(s, s.get(Member, second.id))
    assert len(exported["deliveries"]) == 1, exported["deliveries"]  # its own confirmation
    assert second.id != first.id


# -- erasure and suppression ---------------------------------------------------------------


def test_an_erased_address_is_suppressed_and_registering_afresh_lifts_it(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    register(rt)
    ana = confirm(rt, confirm_token(rt, member(rt)))
    rt.sender.drain()
    with transaction(rt.new_session()) as s:
        preferences.erase(s, rt.kit, s.get(Member, ana.id), now=rt.clock())
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org", "ANA@example.org "]) == {"ana@example.org"}
        assert outbox.suppressed(s, ["other@example.org"]) == set()
        (row,) = s.execute(select(Suppression)).scalars().all()
        assert row.reason == "erased" and "ana" not in row.address_hash
        erased = s.get(Member, ana.id)
        assert erased.email is None and erased.status == "erased"

    rt.clock.advance(days=2)
    register(rt)
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org"]) == set()
        fresh = s.execute(select(Member).where(Member.email == "ana@example.org")).scalar_one()
    assert fresh.id != ana.id and fresh.status == "pending"
    sent = len(smtp.messages)
    rt.sender.drain()
    assert [m.rcpt_tos for m in smtp.messages[sent:]] == [["ana@example.org"]]


def test_registering_does_not_lift_a_bounce_or_complaint_suppression(
    rt: Runtime, smtp: ScriptedSMTP, lst: MailingList
) -> None:
    with transaction(rt.new_session()) as s:
        outbox.suppress(s, "ana@example.org", reason="hard_bounce", now=rt.clock())
    register(rt)
    with rt.new_session() as s:
        assert outbox.suppressed(s, ["ana@example.org"]) == {"ana@example.org"}
        # No delivery, and the confirmation's campaign counts none (on PostgreSQL too).
        (campaign,) = s.execute(select(outbox.Campaign)).scalars().all()
        assert campaign.total == 0
        assert s.execute(select(outbox.Delivery)).first() is None
    rt.sender.drain()
    assert smtp.messages == []  # the outbox will not mail a suppressed address


def test_register_request_is_a_frozen_value() -> None:
    req = request()
    assert replace(req, email="b@example.org").email == "b@example.org"
    with pytest.raises(AttributeError):
        req.email = "x@example.org"  # type: ignore[misc]
