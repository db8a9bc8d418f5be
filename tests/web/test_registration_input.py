"""Bad input through POST /register: a clear 400 page, nothing stored, nothing mailed."""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mailer.outbox import Campaign, Delivery
from subscribers.core.models import ConsentEvent, Member, Subscription, Throttle
from subscribers.people.registration import IP_LIMIT
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list
from tests.smtp_server import ScriptedSMTP

BASE = "http://newsletter.test"
TABLES = (Member, Subscription, ConsentEvent, Campaign, Delivery, Throttle)


def form_data(client: FlaskClient, **overrides: str | list[str] | None) -> dict[str, object]:
    page = client.get("/register")
    assert page.status_code == 200
    data: dict[str, object] = {
        "csrf_token": csrf_token(page.text),
        "email": "ana@example.org",
        "name": "Ana Sousa",
        "organisation": "PSP",
        "country": "PT",
        "sector": "police",
        "language": "pt",
        "lists": "practitioners",
        "consent": "y",
    }
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def post(client: FlaskClient, ip: str = "127.0.0.1", **overrides: str | list[str] | None):  # type: ignore[no-untyped-def]
    return client.post(
        "/register", data=form_data(client, **overrides), environ_base={"REMOTE_ADDR": ip}
    )


def row_counts(rt: Runtime) -> dict[str, int]:
    with rt.new_session() as s:
        return {
            t.__tablename__: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in TABLES
        }


def assert_nothing_stored_or_sent(rt: Runtime, smtp: ScriptedSMTP) -> None:
    assert row_counts(rt) == dict.fromkeys((t.__tablename__ for t in TABLES), 0)
    report = rt.sender.drain()
    assert report.sent == 0
    assert smtp.messages == []


def visible(page_html: str) -> str:
    """The page as a reader sees it: tags gone, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page_html))


@pytest.fixture
def lists(rt: Runtime, session) -> None:  # type: ignore[no-untyped-def]
    make_list(session, rt.clock())
    make_list(session, rt.clock(), slug="staff-only", name="Internal", public=False)


BAD_INPUT = [
    pytest.param({"email": ""}, "Please enter your email address.", id="empty-email"),
    pytest.param({"email": "   "}, "Please enter your email address.", id="blank-email"),
    pytest.param({"email": None}, "Please enter your email address.", id="missing-email"),
    pytest.param({"email": "ana.example.org"}, "This email address is not valid", id="no-at"),
    pytest.param({"email": "a@b"}, "This email address is not valid", id="no-dot-domain"),
    pytest.param({"email": "ana sousa@example.org"}, "not valid", id="space-in-local"),
    pytest.param({"email": "ana@exa mple.org"}, "not valid", id="space-in-domain"),
    pytest.param({"email": "a" * 288 + "@example.org"}, "not valid", id="300-chars"),
    pytest.param({"email": '"quoted"@example.org'}, "not valid", id="quoted-local"),
    pytest.param({"email": '"ana sousa"@example.org'}, "not valid", id="quoted-with-space"),
    pytest.param({"email": "josé@example.org"}, "not valid", id="non-ascii-local"),
    pytest.param({"email": "ana@example.org\r\nBcc: x@example.org"}, "not valid", id="crlf-email"),
    pytest.param({"email": "ana@example.org, eve@example.org"}, "not valid", id="two-addresses"),
    pytest.param({"email": "Ana <ana@example.org>"}, "not valid", id="display-name-form"),
    pytest.param({"email": "ana@@example.org"}, "not valid", id="double-at"),
    pytest.param({"email": "ana@example..org"}, "not valid", id="double-dot"),
    pytest.param(
        {"name": "Ana\r\nBcc: eve@example.org"}, "Name must be a single line of text.", id="crlf"
    ),
    pytest.param({"name": "Ana\nSousa"}, "Name must be a single line of text.", id="lf"),
    pytest.param({"name": "Ana\x85Sousa"}, "Name must be a single line of text.", id="nel"),
    pytest.param(
        {"name": "=?utf-8?q?x=0D=0ABcc:_a@b?="},
        "Name contains characters that are not allowed.",
        id="encoded-word",
    ),
    pytest.param(
        {"name": "Ana =?UTF-8?B?DQpCY2M6IGFAYg==?= Sousa"},
        "Name contains characters that are not allowed.",
        id="encoded-word-b",
    ),
    pytest.param(
        {"organisation": "PSP\r\nBcc: eve@example.org"},
        "Organisation must be a single line of text.",
        id="crlf-organisation",
    ),
    pytest.param(
        {"name": "x" * 10_240}, "Name is too long (at most 200 characters).", id="10kb-name"
    ),
    pytest.param(
        {"organisation": "x" * 201},
        "Organisation is too long (at most 200 characters).",
        id="long-organisation",
    ),
    *(
        pytest.param(
            {"name": f"Ana{char}Sousa"},
            "Name contains invisible characters that change the direction of text",
            id=f"bidi-U+{ord(char):04X}",
        )
        for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    ),
    pytest.param(
        {"organisation": "PSP\u202egro.elpmaxe"},
        "Organisation contains invisible characters that change the direction of text",
        id="bidi-override-organisation",
    ),
    pytest.param({"name": "Ana\u2028Sousa"}, "Name must be a single line of text.", id="U+2028"),
    pytest.param({"name": "Ana\u2029Sousa"}, "Name must be a single line of text.", id="U+2029"),
    pytest.param(
        {"email": "a" * 65 + "@example.org"},
        "the address is too long",
        id="local-part-65",
    ),
    pytest.param({"consent": None}, "Please give your consent", id="no-consent"),
    pytest.param({"consent": ""}, "Please give your consent", id="empty-consent"),
    pytest.param({"lists": None}, "Please choose at least one list.", id="no-list"),
    pytest.param({"lists": ""}, "Please choose", id="empty-list"),
    pytest.param({"lists": "no-such-list"}, "Please choose lists from the form.", id="unknown"),
    pytest.param({"lists": "staff-only"}, "Please choose lists from the form.", id="not-public"),
    pytest.param(
        {"lists": ["practitioners", "staff-only"]},
        "Please choose lists from the form.",
        id="public-and-not-public",
    ),
    pytest.param(
        {"lists": ["practitioners", "no-such-list"]},
        "Please choose lists from the form.",
        id="public-and-unknown",
    ),
    pytest.param({"country": "XX"}, "Country: please choose one of the options.", id="country"),
    pytest.param({"country": "pt"}, "Country: please choose one of the options.", id="country-lc"),
    pytest.param({"sector": "army"}, "Sector: please choose one of the options.", id="sector"),
    pytest.param({"language": "de"}, "Language: please choose one of the options.", id="language"),
    pytest.param(
        {"language": "en\r\nX: y"},
        "Language: please choose one of the options.",
        id="language-crlf",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUT)
def test_bad_input_is_refused_with_a_message_and_nothing_is_stored(
    client: FlaskClient,
    rt: Runtime,
    smtp: ScriptedSMTP,
    lists: None,
    overrides: dict[str, str | None],
    message: str,
) -> None:
    response = post(client, **overrides)
    assert response.status_code == 400, response.text
    assert response.mimetype == "text/html"
    assert message in visible(response.text)
    assert 'role="alert"' in response.text
    assert "Traceback" not in response.text
    # The form comes back, ready to be corrected and sent again.
    assert csrf_token(response.text)
    assert "Check your inbox" not in response.text
    assert_nothing_stored_or_sent(rt, smtp)


def test_a_nul_character_is_refused_before_anything_else(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    response = post(client, name="Ana\x00")
    assert response.status_code == 400
    assert "character that is not allowed. Nothing was changed." in visible(response.text)
    assert_nothing_stored_or_sent(rt, smtp)


def test_every_problem_is_reported_against_its_own_field(
    client: FlaskClient, rt: Runtime, lists: None
) -> None:
    response = post(client, name="Ana\r\nSousa")
    # The message sits in the error list right after the name field, not somewhere else.
    found = re.search(
        r'id="name"[^>]*>\s*<div role="alert"><ul class="errors"><li>([^<]+)</li>', response.text
    )
    assert found and found.group(1) == "Name must be a single line of text."


def test_a_submitted_bad_value_is_shown_back_escaped(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    response = post(client, email='"><script>alert(1)</script>@example.org')
    assert response.status_code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert_nothing_stored_or_sent(rt, smtp)


def test_an_international_domain_is_accepted_and_mail_reaches_it(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    response = post(client, email="User@Exämple.org")
    assert response.status_code == 200 and "Check your inbox" in response.text
    with rt.new_session() as s:
        stored = s.execute(select(Member.email)).scalars().all()
    # Stored in one canonical form (lowercased); the same address in IDNA form is the same person.
    assert len(stored) == 1
    assert stored[0] in ("user@exämple.org", "user@xn--exmple-cua.org")
    post(client, email="user@xn--exmple-cua.org")
    with rt.new_session() as s:
        assert s.execute(select(func.count()).select_from(Member)).scalar_one() == 1
    # The confirmation goes out over plain (non-SMTPUTF8) SMTP, so the envelope must be ASCII.
    report = rt.sender.drain()
    with rt.new_session() as s:
        delivery = s.execute(select(Delivery)).scalar_one()
    assert report.sent == 1, (delivery.address, delivery.last_error)
    assert smtp.messages[0].rcpt_tos == ["user@xn--exmple-cua.org"]


def test_surrounding_spaces_and_case_are_normalised(
    client: FlaskClient, rt: Runtime, lists: None
) -> None:
    assert post(client, email="  Ana.Sousa@EXAMPLE.org ").status_code == 200
    with rt.new_session() as s:
        assert s.execute(select(Member.email)).scalars().all() == ["ana.sousa@example.org"]


@pytest.mark.parametrize("shown", ["99999999999999999999", "2147483648", "\u00b2", "0", "x"])
def test_a_forged_consent_wording_id_records_the_current_wording(
    client: FlaskClient, rt: Runtime, lists: None, shown: str
) -> None:
    # The form posts back the id of the wording it showed; one no row can have (past the id
    # column, or a superscript digit that int() refuses) was a 500 on the public form.
    assert post(client, consent_wording=shown).status_code == 200
    with rt.new_session() as s:
        assert s.execute(select(ConsentEvent.wording_id)).scalars().all() == [1]


def test_unicode_name_is_kept(client: FlaskClient, rt: Runtime, lists: None) -> None:
    assert post(client, name="Ștefan Łukasz Núñez", email="s@example.org").status_code == 200
    with rt.new_session() as s:
        assert s.execute(select(Member.name)).scalar_one() == "Ștefan Łukasz Núñez"


# -- CSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("forged", id="forged"),
        pytest.param(
            "IjQ2ZjM0ZGRiYjQ3NzE3ZjRmNmYyN2JlYzYzOTI3MTNmNGU3ZTQ1MmMi.Z0Z0Zw.abcdefghijklmnop",
            id="well-formed-forged",
        ),
    ],
)
def test_a_missing_or_forged_csrf_token_is_refused(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None, token: str | None
) -> None:
    response = post(client, csrf_token=token)
    assert response.status_code == 400
    assert "The form expired or was sent from another page" in visible(response.text)
    assert "Traceback" not in response.text
    assert_nothing_stored_or_sent(rt, smtp)


def test_a_csrf_token_from_another_browser_is_refused(
    app, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:  # type: ignore[no-untyped-def]
    other = app.test_client()
    data = form_data(other)
    response = app.test_client().post("/register", data=data)  # no session cookie of `other`
    assert response.status_code == 400
    assert "The form expired" in visible(response.text)
    assert_nothing_stored_or_sent(rt, smtp)


# -- honeypot and throttling ----------------------------------------------------------------


def test_the_honeypot_answers_like_a_success_and_does_nothing(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    bot = post(client, website="http://spam.example.com")
    human = post(client, email="human@example.org")
    assert bot.status_code == human.status_code == 200
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", bot.text) == strip.sub("", human.text)
    with rt.new_session() as s:
        assert s.execute(select(Member.email)).scalars().all() == ["human@example.org"]
    rt.sender.drain()
    assert [m.rcpt_tos for m in smtp.messages] == [["human@example.org"]]


def test_the_honeypot_stores_nothing(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    response = post(client, website="x")
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert_nothing_stored_or_sent(rt, smtp)


def test_more_than_twenty_registrations_from_one_address_an_hour_are_refused(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    ip = "203.0.113.7"
    for i in range(IP_LIMIT):
        response = post(client, ip=ip, email=f"m{i}@example.org")
        assert response.status_code == 200, (i, response.text)
    refused = post(client, ip=ip, email="one-too-many@example.org")
    assert refused.status_code == 429
    assert "Too many registrations from your network" in visible(refused.text)
    assert "Traceback" not in refused.text
    # Refused again while the window lasts; another address is not affected.
    assert post(client, ip=ip, email="again@example.org").status_code == 429
    assert post(client, ip="198.51.100.1", email="other@example.org").status_code == 200
    with rt.new_session() as s:
        emails = set(s.execute(select(Member.email)).scalars())
    assert "one-too-many@example.org" not in emails and "again@example.org" not in emails
    assert len(emails) == IP_LIMIT + 1
    # A new window opens an hour later.
    rt.clock.advance(hours=1, seconds=1)
    assert post(client, ip=ip, email="later@example.org").status_code == 200


def test_bad_input_does_not_count_against_the_limit(
    client: FlaskClient, rt: Runtime, lists: None
) -> None:
    ip = "203.0.113.8"
    for _ in range(IP_LIMIT + 5):
        assert post(client, ip=ip, consent=None).status_code == 400
    assert post(client, ip=ip).status_code == 200


def test_refused_registrations_stay_refused_over_the_window(
    client: FlaskClient, rt: Runtime, lists: None
) -> None:
    ip = "203.0.113.9"
    for i in range(IP_LIMIT):
        post(client, ip=ip, email=f"w{i}@example.org")
    rt.clock.advance(minutes=59)
    assert post(client, ip=ip, email="late@example.org").status_code == 429
    rt.clock.advance(minutes=1, seconds=1)
    assert post(client, ip=ip, email="late@example.org").status_code == 200


# -- escaping, pages ------------------------------------------------------------------------


def test_user_text_is_escaped_on_the_manage_page(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    script = "<script>alert(1)</script>"
    response = post(client, email="xss@example.org", name=script, organisation='"><img src=x>')
    assert response.status_code == 200
    with rt.new_session() as s:
        stored = s.execute(select(Member)).scalar_one()
    assert stored.name == script  # kept as typed: escaping is the page's job
    rt.sender.drain()
    confirmation = smtp.messages[-1].message
    body = confirmation.get_body(preferencelist=("html",))
    assert body is not None and script not in body.get_content()
    text = confirmation.get_body(preferencelist=("plain",)).get_content()
    path = re.search(rf"{re.escape(BASE)}(/confirm/[A-Za-z0-9_.\-]+)", text).group(1)
    page = client.get(path)
    done = client.post(path, data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200
    manage_path = re.search(r'href="' + re.escape(BASE) + r'(/manage/[^"]+)"', done.text)
    if manage_path is None:
        rt.sender.drain()
        welcome = smtp.messages[-1].message.get_body(preferencelist=("plain",)).get_content()
        manage = re.search(rf"{re.escape(BASE)}(/manage/[A-Za-z0-9_.\-]+)", welcome).group(1)
    else:
        manage = manage_path.group(1)
    page = client.get(manage)
    assert page.status_code == 200
    assert script not in page.text and "<img src=x>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_register_page_for_an_unknown_or_hidden_list_is_not_found(
    client: FlaskClient, lists: None
) -> None:
    for slug in ("no-such-list", "staff-only", "..%2f..%2fetc"):
        response = client.get(f"/register/{slug}")
        assert response.status_code == 404, slug
        assert "There is nothing at this address." in response.text
        assert "Traceback" not in response.text


def test_register_page_for_a_known_list_preselects_it(client: FlaskClient, lists: None) -> None:
    response = client.get("/register/practitioners")
    assert response.status_code == 200
    assert re.search(
        r'checked[^>]*value="practitioners"|value="practitioners"[^>]*checked', response.text
    )
    assert 'value="staff-only"' not in response.text


def test_register_page_without_any_public_list(client: FlaskClient) -> None:
    response = client.get("/register")
    assert response.status_code == 200
    assert "Registration is not open at the moment." in response.text


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("ana.example.org", "an address needs an @ between the name and the domain"),
        ("ana@example", "the part after @ is not a domain that can receive mail."),
        ("ana@example.invalid", "the part after @ is not a domain that can receive mail."),
        ("ana@", "there is nothing after the @"),
        ("@example.org", "there is nothing before the @"),
        ("ana..sousa@example.org", "there is a dot in the wrong place"),
        ("ana sousa@example.org", "the part before @ contains characters an address cannot have"),
    ],
)
def test_a_refused_address_is_explained_in_plain_words(
    client: FlaskClient, rt: Runtime, lists: None, email: str, reason: str
) -> None:
    response = post(client, email=email)
    assert response.status_code == 400
    text = visible(response.text)
    assert f"This email address is not valid: {reason}" in text
    assert "@-sign" not in text  # email-validator's own wording is not shown


def test_an_empty_form_flags_every_missing_field(
    client: FlaskClient, rt: Runtime, smtp: ScriptedSMTP, lists: None
) -> None:
    response = post(client, email=None, lists=None, consent=None, name=None, country=None)
    assert response.status_code == 400
    text = visible(response.text)
    for message in (
        "Please enter your email address.",
        "Please choose at least one list.",
        "Please give your consent to receive our mail.",
    ):
        assert message in text
    assert response.text.count('role="alert"') >= 3
    assert_nothing_stored_or_sent(rt, smtp)


FULL = {
    "email": "ana@example.org",
    "name": "Ana",
    "organisation": "PSP",
    "country": "PT",
    "sector": "police",
    "language": "pt",
    "lists": ["practitioners", "researchers"],
    "consent": "y",
    "website": "",
}


@pytest.mark.parametrize(
    "posted",
    [
        FULL,
        {},  # nothing at all: each field as the form leaves it
        {**FULL, "consent": "false", "website": "bot.example"},
        {**FULL, "consent": "", "language": "", "lists": []},
        {"email": "  ANA@Example.org ", "name": "a\u0301", "lists": "x"},
        {**FULL, "email": ["first@example.org", "second@example.org"], "country": ["PT", "PL"]},
    ],
)
def test_a_post_is_read_as_the_registration_form_reads_it(
    rt: Runtime, posted: dict[str, object]
) -> None:
    """POST /register reads the values without building the form (posted_registration); the
    form, built to show a problem, must read the same."""
    from werkzeug.datastructures import MultiDict

    from subscribers.web import create_app
    from subscribers.web.forms import RegistrationForm, posted_registration

    formdata = MultiDict(
        [
            (key, one)
            for key, value in posted.items()
            for one in (value if isinstance(value, list) else [value])
        ]
    )
    app = create_app(rt.settings, runtime=rt)
    with app.test_request_context("/register", method="POST", data=formdata):
        form = RegistrationForm(meta={"csrf": False})
        assert posted_registration(formdata) == form.data
