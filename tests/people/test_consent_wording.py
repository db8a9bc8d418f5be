"""Issue 12.5: the consent stored and exported is exactly the wording the person ticked, in the
language they saw, versioned; staff changing the wording add a version."""

from __future__ import annotations

import csv
import html
import io
import re

from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text

from subscribers.cli.root import main
from subscribers.core.migrate import upgrade
from subscribers.core.models import ConsentEvent, Member
from subscribers.core.settings import Settings
from subscribers.people import imports, preferences
from subscribers.people.consent import VERSION_1
from subscribers.runtime import Runtime
from tests.conftest import csrf_token
from tests.factories import make_list

LABEL = re.compile(
    r'<label class="inline" for="consent" id="consent-wording" lang="(\w+)">(.*?)</label>'
)
V2_EN = "I agree to receive the network's mail. Version two, shorter."
V2_PT = "Aceito receber as mensagens da rede. Versão dois, mais curta."


def shown(page: str) -> tuple[str, str, str]:
    """The wording a registration page shows: (language, words, the id it posts back)."""
    found = LABEL.search(page)
    assert found, "no consent wording on the page"
    wording_id = re.search(r'name="consent_wording" value="(\d+)"', page)
    assert wording_id
    return found.group(1), html.unescape(found.group(2)), wording_id.group(1)


def register(client: FlaskClient, email: str, page: str, language: str = "en") -> None:
    answer = client.post(
        f"/register?lang={language}",
        data={
            "csrf_token": csrf_token(page),
            "email": email,
            "lists": "practitioners",
            "language": language,
            "consent": "y",
            "consent_wording": shown(page)[2],
        },
    )
    assert answer.status_code == 200, answer.text


def ticked(rt: Runtime, email: str) -> ConsentEvent:
    with rt.new_session() as s:
        member = s.execute(select(Member).where(Member.email == email)).scalar_one()
        return s.execute(
            select(ConsentEvent).where(ConsentEvent.member_id == member.id)
        ).scalar_one()


def newsletter(settings: Settings, *args: str) -> Result:
    env = {"NEWSLETTER_DATABASE_URL": settings.database_url, "NEWSLETTER_SECRET_KEY": "k" * 32}
    env["NEWSLETTER_INSTANCE_PATH"] = str(settings.instance_path)
    return CliRunner().invoke(main, list(args), env=env)


def test_the_record_keeps_the_words_ticked_in_the_language_shown(
    client: FlaskClient, rt: Runtime, session
) -> None:
    make_list(session, rt.clock())
    english = client.get("/register?lang=en").text
    assert shown(english)[:2] == ("en", VERSION_1)
    register(client, "ana@example.org", english)
    record = ticked(rt, "ana@example.org")
    assert (record.consent_version, record.consent_text) == ("1", VERSION_1)

    polish = client.get("/register?lang=pl").text
    language, words, _id = shown(polish)
    assert language == "pl" and words.startswith("Wyrażam zgodę")
    register(client, "jan@example.org", polish, "pl")
    record = ticked(rt, "jan@example.org")
    assert (record.consent_version, record.consent_text) == ("1", words)
    privacy = client.get("/privacy?lang=pl").text
    assert "Version 1" not in privacy and words in html.unescape(privacy)


def test_a_new_version_is_shown_recorded_and_exported_beside_the_old(
    client: FlaskClient, rt: Runtime, session, settings: Settings
) -> None:
    lst = make_list(session, rt.clock())
    old_page = client.get("/register?lang=en").text
    register(client, "ana@example.org", old_page)

    made = newsletter(settings, "consent", "new-version", "--text", f"en={V2_EN}", "--text",
                      f"pt={V2_PT}")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.output.strip() == "consent wording version 2 (en, pt)"
    listing = newsletter(settings, "consent", "show").output
    assert listing.index("version 2:") < listing.index("version 1:") and V2_PT in listing

    assert shown(client.get("/register?lang=en").text)[:2] == ("en", V2_EN)
    assert shown(client.get("/register?lang=pt").text)[:2] == ("pt", V2_PT)
    # No Polish words in version 2: a Polish reader sees (and ticks) the English ones.
    assert shown(client.get("/register?lang=pl").text)[:2] == ("en", V2_EN)
    register(client, "maria@example.org", client.get("/register?lang=pt").text, "pt")
    # A page opened before the change records what it showed, the old version.
    register(client, "ion@example.org", old_page)

    assert ticked(rt, "ana@example.org").consent_text == VERSION_1
    assert ticked(rt, "ion@example.org").consent_text == VERSION_1
    maria = ticked(rt, "maria@example.org")
    assert (maria.consent_version, maria.consent_text) == ("2", V2_PT)

    with rt.new_session() as s:
        member = s.execute(select(Member).where(Member.email == "maria@example.org")).scalar_one()
        (entry,) = preferences.export(s, member)["consent_history"]
        assert (entry["wording_version"], entry["consent_text"]) == (2, V2_PT)
        table = list(csv.reader(io.StringIO(imports.export_members(s, lst.slug))))
    columns = table[0]
    by_email = {row[0]: dict(zip(columns, row, strict=True)) for row in table[1:]}
    assert by_email["ana@example.org"]["consent_version"] == "1"
    assert by_email["ana@example.org"]["consent_text"] == VERSION_1
    assert (by_email["maria@example.org"]["consent_version"],) == ("2",)
    assert by_email["maria@example.org"]["consent_text"] == V2_PT
    with rt.new_session() as s:
        actions = s.execute(text("SELECT action, target FROM audit_entry")).all()
    assert [tuple(a) for a in actions] == [("consent.wording", "version 2")]


def test_a_new_version_needs_english_and_known_languages(settings: Settings) -> None:
    missing = newsletter(settings, "consent", "new-version", "--text", f"pt={V2_PT}")
    assert missing.exit_code != 0
    assert "The English wording is needed" in missing.output
    junk = newsletter(settings, "consent", "new-version", "--text", "xx=words", "--text", "en=x")
    assert junk.exit_code != 0 and "Unknown language: xx" in junk.output
    assert "version 2" not in newsletter(settings, "consent", "show").output


def test_0019_makes_version_1_and_points_existing_records_at_it(old_engine: Engine) -> None:
    upgrade(old_engine, "0018")
    polish = shown_polish_version_1()
    with old_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO member (id, email, name, organisation, country, sector, language,"
                " status, nonce, created_at, search_text) VALUES (1, 'a@example.org', '', '',"
                " '', '', 'en', 'active', 'n', :when, '')"
            ),
            {"when": "2026-11-25 09:00:00"},
        )
        for consent_text in (VERSION_1, polish, ""):
            conn.execute(
                text(
                    "INSERT INTO consent_event (member_id, action, consent_version, consent_text,"
                    " source, ip, user_agent, note, at) VALUES (1, 'given', '2026-11', :text,"
                    " 'web', '', '', '', :when)"
                ),
                {"text": consent_text, "when": "2026-11-25 09:00:00"},
            )
    upgrade(old_engine, "0019")
    with old_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT w.version, w.language FROM consent_event e"
                " LEFT JOIN consent_wording w ON w.id = e.wording_id ORDER BY e.id"
            )
        ).all()
        languages = conn.execute(text("SELECT language FROM consent_wording")).scalars().all()
    assert [tuple(r) for r in rows] == [(1, "en"), (1, "pl"), (None, None)]
    assert sorted(languages) == ["bs", "en", "es", "pl", "pt", "ro", "sk"]


def shown_polish_version_1() -> str:
    from subscribers.people.consent import version_1

    return version_1()["pl"]
