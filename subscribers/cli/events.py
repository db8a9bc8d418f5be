"""``newsletter events``: create, invite, update, cancel, rsvps, resend-join-link; each parses
and calls one service, and changes are audited."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from subscribers.admin import actions
from subscribers.cli.support import (
    change,
    change_of,
    echo_then_send,
    friendly,
    read_text,
    record,
    runtime,
    segment_option,
    send_now_option,
)
from subscribers.content.multilingual import Text
from subscribers.core import times
from subscribers.core.db import transaction
from subscribers.core.i18n import ngettext
from subscribers.invitations import events, rsvp
from subscribers.people import members
from subscribers.people.audience import Segment


@click.group("events")
def events_group() -> None:
    """Events and invitations."""


def _event_options(required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options shared by create and update (required ones only on create)."""
    options = [
        click.option("--title", required=required),
        click.option("--start", required=required, help="ISO 8601, e.g. 2027-03-28T09:00."),
        click.option("--end", required=required, help="ISO 8601."),
        click.option("--timezone", help="Zone of times given without offset, and of display."),
        click.option("--location", help="Where it takes place (a venue)."),
        click.option("--online-url", help="Join link, mailed only to those who say yes."),
        click.option("--capacity", type=click.IntRange(min=0), help="Seats (0: no limit)."),
        click.option("--rsvp-deadline", help="Answers close at this time (default: the start)."),
        click.option("--reminders", help='Before the start, e.g. "24h,1h" (default), "" for none.'),
        click.option(
            "--body-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Description (Markdown).",
        ),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _spec(
    base: events.EventSpec | None, list_slug: str, options: dict[str, Any]
) -> events.EventSpec:
    """A spec from the options given, over ``base`` (the event as it is) when updating."""
    tz = options["timezone"] or (base.timezone if base else runtime().settings.timezone)
    times.zone(tz)
    changes: dict[str, Any] = {"timezone": tz}
    for name in ("start", "end", "rsvp_deadline"):
        if options[name] is not None:
            changes[name] = times.parse_time(options[name], tz, field=name.replace("_", " "))
    for name in ("title", "location", "online_url"):
        if options[name] is not None:
            changes[name] = options[name]
    if options["capacity"] is not None:
        changes["capacity"] = options["capacity"] or None
    if options["reminders"] is not None:
        changes["reminders"] = events.parse_reminders(options["reminders"])
    if options["body_file"] is not None:
        changes["description"] = read_text(options["body_file"])
    if base is not None:
        return dataclasses.replace(base, **changes)
    return events.EventSpec(list_slug=list_slug, **changes)


@events_group.command("create")
@click.option("--list", "list_slug", required=True)
@_event_options(required=True)
@friendly
def events_create(list_slug: str, **options: Any) -> None:
    """Create an event; prints its id. Invite members with `events invite ID`."""
    rt = runtime()
    spec = _spec(None, list_slug, options)
    with transaction(rt.new_session()) as session:
        event = events.create_event(session, rt.kit, spec, now=rt.clock())
        record(session, rt, actions.event_created(event))
    click.echo(event.id)


@events_group.command("update")
@click.argument("event_id", type=int)
@_event_options(required=False)
@friendly
def events_update(event_id: int, **options: Any) -> None:
    """Change an event; a new time or place mails an update to those invited."""
    with change() as (session, rt):
        base = events.spec_of(session, events.get(session, event_id))
        # Times given without offset are read in --timezone, else in the event's zone; a new
        # zone alone changes how the times are shown, not when the event is.
        outcome = events.update_event(
            session, rt.kit, event_id, _spec(base, base.list_slug, options), now=rt.clock()
        )
        record(session, rt, actions.event_updated(event_id, outcome.describe()))
    click.echo(outcome.describe())


@events_group.command("invite")
@click.argument("event_id", type=int)
@segment_option
@send_now_option
@friendly
def events_invite(event_id: int, segment: str | None, drain: bool) -> None:
    """Invite the list's active members (or a segment) not invited yet."""
    with change() as (session, rt):
        campaign, count = events.invite(
            session, rt.kit, event_id, Segment.parse(segment), now=rt.clock()
        )
        if campaign is not None:
            record(session, rt, actions.event_invited(event_id, count, Segment.parse(segment)))
    if campaign is None:
        click.echo("nobody new to invite: everyone in this audience is invited already")
        return
    queued = ngettext(
        "invitation campaign %(id)d queued for %(num)d member",
        "invitation campaign %(id)d queued for %(num)d members",
        count,
        id=campaign.id,
    )
    echo_then_send(rt, queued, drain)


@events_group.command("translate")
@click.argument("event_id", type=int)
@click.option("--lang", required=True, help="The language of this translation (pt, pl...).")
@click.option("--title", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def events_translate(event_id: int, lang: str, title: str, body_file: Path | None) -> None:
    """Write the event's title and description (Markdown) in another language."""
    rt = runtime()
    text = Text(lang, title, read_text(body_file) if body_file else "")
    with transaction(rt.new_session()) as session:
        events.translate(session, event_id, text)
        record(session, rt, actions.event_translated(event_id, lang))
    click.echo(f"event {event_id}: translation into {lang} saved")


@events_group.command("cancel")
@click.argument("event_id", type=int)
@click.option("--reason", default="", help="One sentence on why, shown in the mail.")
@send_now_option
@friendly
def events_cancel(event_id: int, reason: str, drain: bool) -> None:
    """Cancel an event and mail everyone invited (the calendar entry is removed)."""
    with change() as (session, rt):
        _, count = events.cancel_event(session, rt.kit, event_id, now=rt.clock(), reason=reason)
        record(session, rt, actions.event_cancelled(event_id, count))
    told = ngettext(
        "event %(id)d cancelled; %(num)d member will be told",
        "event %(id)d cancelled; %(num)d members will be told",
        count,
        id=event_id,
    )
    echo_then_send(rt, told, drain)


@events_group.command("rsvps")
@click.argument("event_id", type=int)
@click.option("--csv", "as_csv", is_flag=True, help="The staff page's CSV export instead.")
@friendly
def events_rsvps(event_id: int, as_csv: bool) -> None:
    """The answers: counts, then one line per member (answer, email, name, when)."""
    rt = runtime()
    if as_csv:
        with transaction(rt.new_session()) as session:
            body = rsvp.export_csv(session, event_id)
            answers = len(body.splitlines()) - 1
            record(session, rt, actions.rsvps_exported(event_id, answers))
        click.echo(body, nl=False)
        return
    with rt.new_session() as session:
        event = events.get(session, event_id)
        counts = rsvp.counts(session, event_id)
        answers = rsvp.answers(session, event_id)
    seats = f" of {event.capacity} seats" if event.capacity else ""
    click.echo(
        f"{event.title} ({event.status}): yes {counts['yes']}{seats}, waiting {counts['waiting']}, "
        f"maybe {counts['maybe']}, no {counts['no']}, no answer {counts['invited']}"
    )
    for answer in answers:
        when = answer.rsvp.answered_at.isoformat() if answer.rsvp.answered_at else "-"
        status = "no answer" if answer.rsvp.status == "invited" else answer.rsvp.status
        click.echo(f"{status}\t{answer.member.email or '(erased)'}\t{answer.member.name}\t{when}")


@events_group.command("resend-join-link")
@click.argument("event_id", type=int)
@click.argument("email")
@send_now_option
@friendly
def events_resend_join_link(event_id: int, email: str, drain: bool) -> None:
    """Mail the join link again to a member who said yes."""

    with change_of(members.find, email) as (session, rt, member):
        assert member.id is not None
        rsvp.resend_join_link(session, rt.kit, event_id, member.id, now=rt.clock())
        record(session, rt, actions.join_link_sent(event_id, member.id))
    echo_then_send(rt, f"join link queued for {email}", drain)
