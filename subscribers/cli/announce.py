"""``newsletter announce``: preview, test, queue or schedule an announcement."""

from __future__ import annotations

from pathlib import Path

import click

from subscribers.admin import actions, staff
from subscribers.cli.support import (
    TRANSLATION_HELP,
    body_text,
    cli_actor,
    echo_then_send,
    friendly,
    parse_time,
    record,
    runtime,
    segment_option,
    send_now_option,
    translation_files,
)
from subscribers.content import campaigns
from subscribers.core.db import transaction
from subscribers.core.errors import InvalidInput
from subscribers.core.i18n import ngettext
from subscribers.people.audience import Segment


@click.command()
@click.option("--list", "list_slug", required=True)
@click.option("--subject", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--body")
@segment_option
@click.option("--at", "at", help="Send at this time (ISO 8601).")
@click.option(
    "--preview",
    is_flag=True,
    help="Print the recipient count and the text part as a sample member gets it; send nothing.",
)
@click.option(
    "--html-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="With --preview: also write the HTML part there.",
)
@click.option("--test-to", help="Queue one test copy to this staff account only.")
@send_now_option
@click.option("--lang", help="Language of --subject and the body (default: the list's).")
@click.option("--translation", multiple=True, metavar="CODE=FILE", help=TRANSLATION_HELP)
@click.option("--preview-lang", help="With --preview: show the version of this language.")
@click.option(
    "--archive/--no-archive",
    default=None,
    help="Publish it in the list's public archive, or not (default: only a whole-list send).",
)
@friendly
def announce(
    list_slug: str,
    subject: str,
    body_file: Path | None,
    body: str | None,
    segment: str | None,
    at: str | None,
    preview: bool,
    html_file: Path | None,
    test_to: str | None,
    drain: bool,
    lang: str | None,
    translation: tuple[str, ...],
    preview_lang: str | None,
    archive: bool | None,
) -> None:
    """An announcement to the list's active members (or a segment of them).

    Like the workspace's announce page: --preview shows it, --test-to sends yourself a test,
    and without either it is queued (or scheduled with --at).
    """

    if html_file is not None and not preview:
        raise click.UsageError("--html-file goes with --preview")
    rt = runtime()
    announcement = campaigns.Announcement(
        list_slug,
        subject,
        body_text(body_file, body),
        Segment.parse(segment),
        parse_time(at, rt.settings.timezone),
        created_by=cli_actor(),
        language=lang,
        translations=tuple(translation_files(translation)),
        archive=archive,
    )
    if preview:
        with rt.new_session() as session:
            shown = campaigns.preview_announcement(session, rt.kit, announcement, preview_lang)
        if html_file is not None:
            html_file.write_text(shown.html, encoding="utf-8")
        sample = f", shown as {shown.sample_name} gets it" if shown.sample_name else ""
        counted = ngettext("%(num)d recipient", "%(num)d recipients", shown.recipients)
        click.echo(f"{counted}{sample}\nSubject: {shown.subject}\n")
        click.echo(shown.text)
        return
    with transaction(rt.new_session()) as session:
        if test_to is not None:
            campaign = campaigns.send_test(
                session, rt.kit, announcement, to=staff.get(session, test_to), now=rt.clock()
            )
            record(session, rt, actions.announcement_tested(campaign, test_to))
            message = f"test campaign {campaign.id} queued to {test_to}"
        else:
            campaign, count = campaigns.create_announcement(
                session, rt.kit, announcement, now=rt.clock()
            )
            if count == 0:
                raise InvalidInput("nobody on this list matches this audience; nothing was queued")
            when = announcement.send_after
            record(session, rt, actions.announced(campaign, announcement, count))
            message = ngettext(
                "campaign %(id)d queued for %(num)d member",
                "campaign %(id)d queued for %(num)d members",
                count,
                id=campaign.id,
            )
            message += f" for {when.isoformat()}" if when else ""
    echo_then_send(rt, message, drain)
