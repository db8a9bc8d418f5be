"""Tests for mailer.mime (messages parsed back with the stdlib) and mailer.compose (rendering)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

import pytest
from icalendar import Calendar

from mailer.calendar import CalendarEvent, invitation_ics
from mailer.compose import Personalised, Personaliser, RenderedMail, render
from mailer.content import markdown_to_html
from mailer.message import Address, HeaderInjection
from mailer.mime import CalendarPart, MessageLayout, make_message_id
from subscribers.content.templating import mail_environments

SENDER = Address("news@network.test", "Frontline Practitioners Network")
LIST_ID = '"Frontline Practitioners Network" <practitioners.network.test>'
DATE = datetime(2026, 11, 25, 9, 30, 15, tzinfo=UTC)
UNSUBSCRIBE = "http://newsletter.test/unsubscribe/tok.en-123"
STEFAN = Address("stefan@example.org", "Ștefan Chiriță")
BODIES = Personalised(
    html="<p>Olá <b>Ștefan</b>, the network meets on 6 November · €0</p>\n",
    text="Olá Ștefan,\n\nthe network meets on 6 November · €0\n",
)


def make_layout(**overrides: Any) -> MessageLayout:
    fields: dict[str, Any] = {
        "subject": "Second transnational workshop — Chișinău",
        "sender": SENDER,
        "list_id": LIST_ID,
        **overrides,
    }
    return MessageLayout(**fields)


def build(
    layout: MessageLayout | None = None,
    *,
    to: Address = STEFAN,
    bodies: Personalised = BODIES,
    unsubscribe_url: str | None = UNSUBSCRIBE,
) -> bytes:
    return (layout or make_layout()).build(
        to=to,
        bodies=bodies,
        message_id=make_message_id(42, "network.test"),
        date=DATE,
        unsubscribe_url=unsubscribe_url,
    )


def parse_strict(data: bytes) -> EmailMessage:
    """Parse with policy.strict (raises on structural defects) and check header defects too."""
    message = email.message_from_bytes(data, policy=email.policy.strict)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        assert not part.defects, part.defects
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (name, value.defects)
    return message


def assert_wire_safe(data: bytes) -> None:
    """CRLF line ends only, and no line longer than RFC 5322's 998 octets."""
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF on the wire"
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR on the wire"
    longest = max(len(line) for line in data.split(b"\r\n"))
    assert longest <= 998, f"a line of {longest} octets"


def raw_header(data: bytes, name: str) -> str:
    """A header exactly as on the wire, unfolded but not decoded."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    found = re.search(rf"^{name}:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M | re.I)
    assert found, f"no {name} header"
    return found.group(1).replace("\r\n", "").strip()


def rfc2047_display_name(raw: str) -> str:
    """The display name of a raw ``Name <addr>`` header value, decoded as RFC 2047 says."""
    phrase = raw.rpartition("<")[0].strip()
    decoded = str(make_header(decode_header(phrase)))
    return decoded[1:-1] if decoded.startswith('"') and decoded.endswith('"') else decoded


def body_text(part: EmailMessage) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


# -- structure and headers ---------------------------------------------------------------------


NAMES = [
    "Ștefan Chiriță",
    'Ana "Nita" Sousa, PSP',
    "Sousa, Ana",
    "Dr. Ana M. Sousa",
    "Seán O'Brien",
    "Ana Sousa",
    "Jovana Petrović-Đorđević",
]


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_message_parses_back_with_every_header_and_both_bodies(name: str) -> None:
    data = build(to=Address("member@example.org", name))
    assert_wire_safe(data)
    message = parse_strict(data)

    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert body_text(plain) == BODIES.text
    assert body_text(html) == BODIES.html

    to = message["To"].addresses
    assert len(to) == 1
    assert to[0].display_name == name
    assert to[0].addr_spec == "member@example.org"
    sender = message["From"].addresses
    assert [(a.display_name, a.addr_spec) for a in sender] == [(SENDER.name, SENDER.email)]
    assert message["Subject"] == "Second transnational workshop — Chișinău"
    assert message["Date"].datetime == DATE
    assert re.fullmatch(r"<42\.[0-9a-f]{16}@network\.test>", message["Message-ID"])
    assert message["MIME-Version"] == "1.0"
    assert message["List-Id"] == LIST_ID
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Precedence"] == "bulk"
    assert "Bcc" not in message and "Cc" not in message


def test_transactional_mail_has_no_list_headers() -> None:
    layout = make_layout(list_id=None, bulk=False, reply_to=Address("help@network.test"))
    message = parse_strict(build(layout, unsubscribe_url=None))
    for header in ("List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Precedence"):
        assert header not in message
    assert message["Reply-To"] == "help@network.test"


def test_message_ids_are_unique_per_delivery() -> None:
    ids = {make_message_id(7, "network.test") for _ in range(200)}
    assert len(ids) == 200


@pytest.mark.parametrize(
    "name",
    [
        # Ordinary names of members in Moldova, Romania and Bosnia and Herzegovina: long
        # enough that their encoded form no longer fits in one 76-character encoded word.
        "Александра Константиновна Македонская",
        "Mădălina-Ștefania Țăranu-Bălănescu",
        "Jovana Petrović-Đorđević Šćekić",
    ],
    ids=["cyrillic", "romanian", "bosnian"],
)
def test_long_non_ascii_display_name_is_encoded_not_refused(name: str) -> None:
    data = build(to=Address("member@example.org", name))
    assert_wire_safe(data)
    to = parse_strict(data)["To"].addresses
    assert [a.addr_spec for a in to] == ["member@example.org"]
    # Decoded per RFC 2047 (whitespace between adjacent encoded words is not text); the stdlib
    # address parser adds a space there, so it cannot be the judge of the exact name.
    assert rfc2047_display_name(raw_header(data, "To")) == name


def test_long_non_ascii_sender_name_is_accepted() -> None:
    sender = Address("news@network.test", "Rede Europeia de Profissionais — Prisões e Reinserção")
    data = build(make_layout(sender=sender))
    assert_wire_safe(data)
    assert parse_strict(data)["From"].addresses[0].addr_spec == sender.email
    assert rfc2047_display_name(raw_header(data, "From")) == sender.name


# -- bodies assembled from a campaign's pieces ---------------------------------------------------

TRICKY_VALUES = {
    "name": "Ștefan = Chiriță\t ",  # "=", a tab and a trailing space at a piece boundary
    "manage_url": "http://newsletter.test/manage/" + "a=b&c" * 40,  # one 200-character token
    "unsubscribe_url": "",  # an empty value between two literals
}


@pytest.mark.parametrize(
    "template",
    [
        "Hello @@name@@\n@@manage_url@@\n@@unsubscribe_url@@@@name@@ end \n",
        "@@name@@" + "x" * 75 + "@@name@@" + "é" * 100 + "@@manage_url@@",
        "Line ending in spaces   \n@@name@@\n\n. a dot line\n@@unsubscribe_url@@\n",
    ],
    ids=["lines", "long-lines", "spaces-and-dots"],
)
def test_bodies_from_the_personaliser_decode_to_exactly_the_filled_text(template: str) -> None:
    rendered = RenderedMail(kind="t", subject="s", html=f"<p>{template}</p>", text=template)
    bodies = Personaliser(rendered).fill(TRICKY_VALUES)
    data = build(bodies=bodies)
    assert_wire_safe(data)
    plain, html = parse_strict(data).iter_parts()
    assert body_text(plain) == bodies.text.replace("\r\n", "\n")
    assert body_text(html) == bodies.html
    assert "Ștefan = Chiriță\t " in body_text(plain)
    for line in data.split(b"\r\n\r\n", 1)[1].split(b"\r\n"):
        assert len(line) <= 76, line  # quoted-printable's own limit


# -- line length --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        " ".join(["workshop"] * 556)[:5000],
        ("Ștefan și Chiriță " * 300)[:5000],
        "x" * 5000,  # one long token: must still be folded (or encoded) below 998 octets
    ],
    ids=["ascii-words", "utf8-words", "ascii-one-token"],
)
def test_no_line_over_998_octets_with_a_huge_subject_and_body(subject: str) -> None:
    html = "<p>" + "Ștefan Chiriță &amp; the network. " * 6000 + "</p>"
    assert len(html.encode()) > 200_000 and "\n" not in html
    data = build(make_layout(subject=subject), bodies=Personalised(html=html, text="short\n"))
    assert_wire_safe(data)
    message = parse_strict(data)
    assert message["Subject"] == subject
    assert body_text(message.get_body(preferencelist=("html",))) == html  # type: ignore[arg-type]


# -- header injection ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\x00", "\x7f"])
@pytest.mark.parametrize("where", ["subject", "name", "address", "list_id", "sender_name"])
def test_control_characters_in_header_values_raise_header_injection(where: str, bad: str) -> None:
    payload = f"x{bad}Bcc: victim@example.org"
    with pytest.raises(HeaderInjection):
        if where == "subject":
            build(make_layout(subject=payload))
        elif where == "list_id":
            build(make_layout(list_id=payload))
        elif where == "sender_name":
            build(make_layout(sender=Address("news@network.test", payload)))
        elif where == "name":
            build(to=Address("member@example.org", payload))
        else:
            build(to=Address(f"member@example.org{bad}Bcc: victim@example.org", "Ana"))


def test_line_break_in_unsubscribe_url_raises_header_injection() -> None:
    with pytest.raises(HeaderInjection):
        build(unsubscribe_url="http://newsletter.test/u/1\r\nBcc: victim@example.org")


@pytest.mark.parametrize(
    "name",
    ["=?utf-8?q?x=0D=0ABcc:_a@b?=", "=?utf-8?b?eA0KQmNjOiBhQGI=?=", "x =?utf-8?q?=0D=0A?= y"],
)
def test_display_name_that_looks_encoded_stays_literal(name: str) -> None:
    data = build(
        make_layout(sender=Address("news@network.test", name)),
        to=Address("member@example.org", name),
    )
    assert_wire_safe(data)
    for policy in (email.policy.default, email.policy.strict):
        message = email.message_from_bytes(data, policy=policy)
        assert "Bcc" not in message
        assert message.get_all("To") is not None and len(message.get_all("To")) == 1
        to = message["To"].addresses
        assert [(a.display_name, a.addr_spec) for a in to] == [(name, "member@example.org")]
        assert message["From"].addresses[0].display_name == name
    # The raw header carries no literal line break once decoded by a naive reader either.
    assert "\r" not in raw_header(data, "To") and "\n" not in raw_header(data, "To")


def test_non_ascii_list_name_keeps_the_list_identifier_readable() -> None:
    """RFC 2919: filters match the <list-id> in angle brackets; RFC 2047 words may only
    encode the description, never the identifier."""
    list_id = '"Rede de Profissionais — Prisões" <practitioners.network.test>'
    data = build(make_layout(list_id=list_id))
    assert_wire_safe(data)
    decoded = parse_strict(data)["List-Id"]
    assert "Rede de Profissionais — Prisões" in decoded
    assert decoded.endswith(" <practitioners.network.test>")
    assert raw_header(data, "List-Id").endswith(" <practitioners.network.test>")


# -- calendar ------------------------------------------------------------------------------------


def make_ics(method: str = "REQUEST") -> bytes:
    event = CalendarEvent(
        uid="event-12@network.test",
        title="Chișinău workshop",
        description="Hands-on session.\nBring a laptop.",
        start=datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
        end=datetime(2026, 12, 3, 16, 0, tzinfo=UTC),
        timezone="Europe/Chisinau",
        organizer_name="Ana Pereira",
        organizer_email="events@network.test",
    )
    return invitation_ics(event, method=method, dtstamp=DATE)  # type: ignore[arg-type]


def test_calendar_is_one_typed_part_of_the_alternative() -> None:
    ics = make_ics()
    data = build(make_layout(calendar=CalendarPart(ics, "REQUEST")))
    assert_wire_safe(data)
    message = parse_strict(data)

    assert message.get_content_type() == "multipart/alternative"
    plain, html, calendar = message.iter_parts()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert body_text(plain) == BODIES.text and body_text(html) == BODIES.html
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_param("charset") == "UTF-8"
    assert calendar.get_payload(decode=True) == ics
    assert Calendar.from_ical(calendar.get_payload(decode=True))["METHOD"] == "REQUEST"
    # Exactly one calendar: no application/ics attachment repeating it.
    assert b"application/ics" not in data and list(message.iter_attachments()) == []
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


# -- compose: render once, personalise per recipient --------------------------------------------

BASE = "http://newsletter.test"
BRAND = {"name": "Frontline Practitioners Network", "accent": "#1d4e89", "logo_url": None}

KINDS: dict[str, dict[str, Any]] = {
    "confirm": {},
    "already_member": {},
    "welcome": {"lists": ["Practitioners", "Research & NGOs"]},
    "announcement": {
        "title": "Second workshop <online>",
        # Staff write Markdown; a site-relative link is what they naturally type.
        "body_html": markdown_to_html("We meet on [6 November](/events/7)."),
        "body_text": "We meet on 6 November.",
        "teaser": "We meet on 6 November.",
        "archived": True,
    },
}
LINKS = {
    "confirm_url": f"{BASE}/confirm/c0nf1rm.t0k3n",
    "manage_url": f"{BASE}/manage/m4n4g3.t0k3n",
    "unsubscribe_url": f"{BASE}/unsubscribe/uns.t0k3n?list=3&x=1",
    "archive_url": f"{BASE}/archive/practitioners/9",
}


@pytest.fixture(scope="module")
def environments() -> tuple[Any, Any]:
    return mail_environments()


def render_kind(environments: tuple[Any, Any], kind: str) -> RenderedMail:
    html_env, text_env = environments
    context = {"base_url": BASE, "brand": {**BRAND, "footer": "Funded by the EU."}, **KINDS[kind]}
    return render(html_env, text_env, kind, context, base_url=BASE)


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


@pytest.mark.parametrize("kind", list(KINDS))
def test_render_keeps_personal_markers_as_whole_hrefs(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    assert rendered.kind == kind and rendered.subject and "\n" not in rendered.subject
    assert "manage_url" in rendered.fields
    # Mail caused by a registration form greets nobody by the name typed into it.
    assert ("name" in rendered.fields) == (kind not in ("confirm", "already_member"))
    marker_links = [h for h in hrefs(rendered.html) if "@@" in h]
    assert marker_links
    # premailer must leave a marker href alone: the value filled in is already absolute.
    for href in marker_links:
        assert re.fullmatch(r"@@[a-z_]+@@", href), href


@pytest.mark.parametrize("kind", list(KINDS))
def test_filled_links_are_absolute_and_exact(environments, kind: str) -> None:
    rendered = render_kind(environments, kind)
    filled = Personaliser(rendered).fill({"name": "Ana", **LINKS})
    links = hrefs(filled.html)
    assert links and all(link.startswith(("http://", "https://")) for link in links), links
    # A filled link must not be the base URL glued in front of another absolute URL.
    assert [link for link in links if link.count("://") > 1] == []
    assert "@@" not in filled.html and "@@" not in filled.text
    for field in rendered.fields - {"name"}:
        # In HTML the URL is attribute-escaped (& -> &amp;); it appears exactly once as typed.
        assert f'href="{LINKS[field].replace("&", "&amp;")}"' in filled.html, field
        assert LINKS[field] in filled.text, field


def test_relative_links_in_the_body_are_made_absolute(environments) -> None:
    """A mail has no base URL: a site-relative link from the Markdown body must be joined."""
    rendered = render_kind(environments, "announcement")
    assert 'href="/events/7"' not in rendered.html
    assert f'href="{BASE}/events/7"' in rendered.html


@pytest.mark.parametrize("kind", list(KINDS))
def test_only_media_queries_stay_in_style_elements(environments, kind: str) -> None:
    html = render_kind(environments, kind).html
    for css in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S | re.I):
        rest = css
        # Remove each @media block (braces nest one level) and require nothing else.
        while (start := rest.find("@media")) != -1:
            depth, i = 0, rest.index("{", start)
            while True:
                depth += {"{": 1, "}": -1}.get(rest[i], 0)
                i += 1
                if depth == 0:
                    break
            rest = rest[:start] + rest[i:]
        assert not rest.strip(), f"non-media CSS left in <style>: {rest.strip()[:200]!r}"
    body = html.split("<body", 1)[1]
    assert "<style" not in body.lower()
    # What the <style> held is inlined: the footer links carry their colour themselves.
    footer_links = re.findall(r'<a [^>]*href="[^"]*@@manage_url@@"[^>]*>', body)
    assert footer_links and all('style="' in a and "color" in a for a in footer_links)


def test_fill_escapes_names_in_html_but_not_in_text(environments) -> None:
    rendered = render_kind(environments, "welcome")
    name = '<script>alert("x")</script> & Ștefan'
    filled = Personaliser(rendered).fill({"name": name, **LINKS})
    assert "<script>" not in filled.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Ștefan" in filled.html
    assert f"Hello {name}," in filled.text


def test_template_text_is_escaped_once_and_subject_is_plain(environments) -> None:
    rendered = render_kind(environments, "announcement")
    assert rendered.subject == "Second workshop <online>"
    assert "Second workshop &lt;online&gt;" in rendered.html
    assert "&amp;lt;" not in rendered.html
    assert "Second workshop <online>" in rendered.text
