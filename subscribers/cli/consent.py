"""``newsletter consent``: the versioned consent wording of the registration form."""

from __future__ import annotations

import click

from subscribers.cli.support import change, cli_actor, friendly, runtime
from subscribers.people import consent


@click.group("consent")
def consent_group() -> None:
    """The consent wording people tick on the registration form (versioned)."""


@consent_group.command("show")
@friendly
def consent_show() -> None:
    """Every version of the wording, newest first, in each language it was written in."""
    with runtime().new_session() as session:
        found = consent.versions(session)
    for version, texts in found.items():
        click.echo(f"version {version}:")
        for language, text in texts.items():
            click.echo(f"  {language}: {text}")


@consent_group.command("new-version")
@click.option(
    "--text",
    "texts",
    multiple=True,
    required=True,
    metavar="LANG=TEXT",
    help="The wording in one language (en is required); repeat for each language.",
)
@friendly
def consent_new_version(texts: tuple[str, ...]) -> None:
    """Change the wording: the form shows the new version from now on; records keep theirs."""
    by_language: dict[str, str] = {}
    for given in texts:
        language, sep, text = given.partition("=")
        if not sep:
            raise click.UsageError(f"--text takes LANG=TEXT, got {given!r}")
        by_language[language.strip()] = text
    with change() as (session, rt):
        version = consent.new_version(session, by_language, actor=cli_actor(), now=rt.clock())
    click.echo(f"consent wording version {version} ({', '.join(sorted(by_language))})")
