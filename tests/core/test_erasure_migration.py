"""Migration 0005 cleans what erasure used to leave: answers holding seats, quoted addresses."""

from __future__ import annotations

from sqlalchemy import Engine, text

from subscribers.core.migrate import upgrade

WHEN = "2026-11-25 09:00:00"
ROWS = [
    "INSERT INTO mailing_list (id, slug, name, description, accent_color, footer, timezone,"
    " public, created_at) VALUES (1, 'l', 'L', '', '#000', '', 'UTC', true, :when)",
    # 1 was erased by an older version; 2 is a member like any other.
    "INSERT INTO member (id, email, name, organisation, country, sector, language, status,"
    " nonce, created_at) VALUES (1, NULL, '', '', '', '', 'en', 'erased', 'n1', :when),"
    " (2, 'ana@example.org', 'Ana', '', '', '', 'en', 'active', 'n2', :when)",
    "INSERT INTO event (id, list_id, uid, title, description, start_at, end_at, timezone,"
    " location, online_url, capacity, reminders, sequence, status, created_at, updated_at)"
    " VALUES (1, 1, 'u', 'E', '', :when, :when, 'UTC', '', '', 1, '', 0, 'scheduled', :when,"
    " :when)",
    "INSERT INTO rsvp (event_id, member_id, status, invited_at) VALUES (1, 1, 'yes', :when),"
    " (1, 2, 'waiting', :when)",
    "INSERT INTO campaign (id, kind, subject, html, text, sender, bulk, status, created_at,"
    " total) VALUES (1, 'welcome', 'S', '', '', 'n@x', false, 'active', :when, 2)",
    "INSERT INTO delivery (id, campaign_id, recipient_id, address, name, personal, state,"
    " attempts, next_attempt_at, last_error) VALUES"
    " (1, 1, 1, '', '', '{}', 'failed', 1, :when, '550 <gone@example.org> unknown'),"
    " (2, 1, 2, 'ana@example.org', '', '{}', 'failed', 1, :when, '550 <ana@example.org> x')",
    "INSERT INTO bounce (address_hash, delivery_id, kind, diagnostic, at) VALUES"
    " ('h1', 1, 'hard', '550 <gone@example.org> Gone', :when),"
    " ('h2', 2, 'hard', '550 <ana@example.org> Ana', :when)",
]


def test_0005_forgets_the_answers_and_texts_of_erased_members(old_engine: Engine) -> None:
    upgrade(old_engine, "0004")
    with old_engine.begin() as conn:
        for statement in ROWS:
            conn.execute(text(statement), {"when": WHEN})
    upgrade(old_engine, "0005")
    with old_engine.connect() as conn:
        rsvps = conn.execute(text("SELECT member_id, status FROM rsvp")).all()
        errors = conn.execute(text("SELECT id, last_error FROM delivery ORDER BY id")).all()
        bounces = conn.execute(text("SELECT delivery_id, diagnostic FROM bounce ORDER BY id"))
        diagnostics = bounces.all()
    # The seat is free: Ana, waiting, gets it the next time seats are filled.
    assert [tuple(r) for r in rsvps] == [(2, "waiting")]
    assert [tuple(r) for r in errors] == [(1, None), (2, "550 <ana@example.org> x")]
    assert [tuple(r) for r in diagnostics] == [(1, ""), (2, "550 <ana@example.org> Ana")]
