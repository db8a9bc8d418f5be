"""The command line's language options: a list's default language, news and announcements with
their original's language and translation files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from subscribers.content import multilingual
from subscribers.content.multilingual import Text
from subscribers.core.models import NEWS, MailingList, NewsItem
from tests.cli.test_cli import Cli, _migrated_template, migrated_in_process  # noqa: F401


def test_lists_take_a_default_language(migrated_in_process: Cli) -> None:  # noqa: F811
    cli = migrated_in_process
    cli.ok("lists", "create", "aurora", "--name", "Aurora", "--language", "pt")
    assert cli.fails("lists", "create", "boreal", "--name", "B", "--language", "tlh").startswith(
        "Error: --language: "
    )
    cli.ok("lists", "edit", "aurora", "--language", "ro")
    with Session(cli.engine()) as s:
        languages = dict(s.execute(select(MailingList.slug, MailingList.language)).all())
    assert languages == {"aurora": "ro"}


def test_news_and_announcements_take_their_language_and_translations(
    migrated_in_process: Cli,  # noqa: F811
    tmp_path: Path,
) -> None:
    cli = migrated_in_process
    cli.ok("lists", "create", "aurora", "--name", "Aurora", "--language", "pt")
    romanian = tmp_path / "ro.md"
    romanian.write_text("# Atelier la Chișinău\n\nParticipanții compară **cazuri reale**.\n")
    item_id = int(
        cli.ok(
            "news",
            "add",
            "--list",
            "aurora",
            "--title",
            "Oficina",
            "--body",
            "Casos reais.",
            "--translation",
            f"ro={romanian}",
        )  # fmt: skip
    )
    cli.ok(
        "news", "edit", str(item_id), "--lang", "pl", "--title", "Warsztaty", "--body", "Sprawy."
    )
    assert "--lang needs --title" in cli.fails("news", "edit", str(item_id), "--lang", "pl")
    assert "language" in cli.fails(
        "news", "edit", str(item_id), "--lang", "xx", "--title", "T", "--body", "B"
    )
    with Session(cli.engine()) as s:
        item = s.get(NewsItem, item_id)
        assert item is not None and (item.language, item.title) == ("pt", "Oficina")
        assert multilingual.translations(s, NEWS, item_id) == {
            "ro": Text("ro", "Atelier la Chișinău", "Participanții compară **cazuri reale**."),
            "pl": Text("pl", "Warsztaty", "Sprawy."),
        }
    shown = cli.ok(
        "announce", "--list", "aurora", "--subject", "Oficina", "--body", "Casos reais.",
        "--translation", f"ro={romanian}", "--preview", "--preview-lang", "ro",
    )  # fmt: skip
    assert "Subject: Atelier la Chișinău" in shown and "cazuri reale" in shown
    assert "--translation: expected CODE=FILE" in cli.fails(
        "announce", "--list", "aurora", "--subject", "S", "--body", "B", "--translation", "ro"
    )
