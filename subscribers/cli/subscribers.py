"""``newsletter subscribers``: import members from CSV, export a list's members."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from subscribers.admin import actions
from subscribers.cli.support import change, cli_actor, friendly, record, runtime
from subscribers.core import uploads
from subscribers.core.db import transaction
from subscribers.core.models import ImportJob
from subscribers.people import import_jobs, imports


@click.group("subscribers")
def subscribers_group() -> None:
    """Import and export members."""


@subscribers_group.command("import")
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--list", "list_slug")
@click.option("--consent-note", help="How these people agreed to be mailed (required).")
@click.option("--resume", "resume_id", type=int, help="Carry on with an import that stopped.")
@friendly
def subscribers_import(
    file: Path | None, list_slug: str | None, consent_note: str | None, resume_id: int | None
) -> None:
    """Add or update members from CSV (email, name, organisation, country, sector, language).

    The import commits a few hundred lines at a time, so the site keeps working meanwhile; if it
    stops, `--resume ID` carries on from the last lines it committed."""

    rt = runtime()
    directory = Path(rt.settings.instance_path) / "imports"
    if resume_id is None:
        if file is None or not list_slug:
            raise click.UsageError("give FILE and --list SLUG (or --resume ID)")
        raw = file.read_bytes()
        name = uploads.store(directory, raw, now=rt.clock())
        try:
            with transaction(rt.new_session()) as session:
                job = import_jobs.start(
                    session,
                    list_slug,
                    raw,
                    upload=name,
                    filename=file.name,
                    consent_note=consent_note or "",
                    actor=cli_actor(),
                    now=rt.clock(),
                )
        except Exception:
            uploads.discard(directory, name)
            raise
        resume_id = job.id
        assert resume_id is not None
    click.echo(f"import {resume_id}", err=True)
    job = import_jobs.run_stored(
        rt.new_session, directory, resume_id, clock=rt.clock, on_progress=_import_counter()
    )
    click.echo(import_jobs.report(job).describe())


def _import_counter() -> Callable[[ImportJob], None]:
    """Lines done so far on stderr: in place on a terminal, every tenth of the file otherwise."""
    terminal = sys.stderr.isatty()
    shown = [-1]

    def show(job: ImportJob) -> None:
        tenth = job.done * 10 // max(job.total, 1)
        if terminal:
            end = "\n" if job.done >= job.total else ""
            click.echo(f"\r{job.done:,} of {job.total:,} lines", err=True, nl=False)
            click.echo(end, err=True, nl=False)
        elif tenth > shown[0]:
            shown[0] = tenth
            click.echo(f"{job.done:,} of {job.total:,} lines", err=True)

    return show


@subscribers_group.command("export")
@click.option("--list", "list_slug", required=True)
@click.option("-o", "output", type=click.Path(dir_okay=False, path_type=Path))
@friendly
def subscribers_export(list_slug: str, output: Path | None) -> None:
    """The list's subscribers as CSV (formulas neutralised)."""
    with change() as (session, rt):
        text = imports.export_members(session, list_slug)
        # Members' data leaving the system is audited, as from the workspace.
        record(session, rt, actions.members_exported(list_slug, text))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
