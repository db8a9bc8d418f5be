"""``newsletter members`` (find, show, unsubscribe, erase) and ``newsletter audit``.

The same services as the staff workspace; each change is in the audit log with the actor
"cli (<os user>)".
"""

from __future__ import annotations

from datetime import datetime

import click

from subscribers.admin import audit
from subscribers.cli.support import change_of, cli_actor, friendly, runtime
from subscribers.core.i18n import ngettext
from subscribers.core.validation import check_details
from subscribers.people import members, suppressions
from subscribers.people.members import History, MemberQuery


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


def _row(*cells: object) -> str:
    return "\t".join("-" if cell in (None, "") else str(cell) for cell in cells)


@click.group("members")
def members_group() -> None:
    """Find, show, edit, unsubscribe and erase members."""


@members_group.command("find")
@click.argument("query", default="")
@click.option("--list", "list_slug", help="Only members of this list.")
@click.option("--status", type=click.Choice(members.STATUSES))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@friendly
def members_find(query: str, list_slug: str | None, status: str | None, limit: int) -> None:
    """Members whose address, name or organisation contains QUERY (any case), newest first.

    Prints id, address, name, organisation, country, sector, language and status per line.
    """
    with runtime().new_session() as session:
        page = members.search(
            session,
            MemberQuery(text=query, list_slug=list_slug or "", status=status or "", per_page=limit),
        )
    for m in page.items:
        click.echo(
            _row(
                m.id,
                members.label(m),
                m.name,
                m.organisation,
                m.country,
                m.sector,
                m.language,
                m.status,
            )
        )
    shown = f" (first {len(page.items)} shown; use --limit)" if page.total > len(page.items) else ""
    counted = ngettext("%(num)d member", "%(num)d members", page.total)
    click.echo(f"{counted}{shown}", err=True)


def _history_lines(history: History) -> list[str]:
    m = history.member
    lines = [f"member {m.id}: {members.label(m)}"]
    lines.append(f"  status: {suppressions.shown_status(m, history.suppressed)}")
    if history.suppressed is not None:
        lines.append(f"  suppressed: {history.suppressed.describe()}")
    for key in ("name", "organisation", "country", "sector", "language"):
        lines.append(f"  {key}: {getattr(m, key) or '-'}")
    for key in ("created_at", "confirmed_at", "unsubscribed_at", "erased_at"):
        lines.append(f"  {key}: {_iso(getattr(m, key))}")
    lines.append("lists:")
    lines += [
        "  " + _row(lst.slug, sub.status, f"since {_iso(sub.created_at)}")
        for sub, lst in history.subscriptions
    ] or ["  (none)"]
    lines.append("consent history (time, action, list, version, source, ip, note):")
    lines += [
        "  "
        + _row(
            _iso(c.event.at),
            c.event.action,
            c.list_name,
            c.event.consent_version,
            c.event.source,
            c.event.ip,
            c.event.note,
        )
        for c in history.consents
    ] or ["  (none)"]
    lines.append("mail (delivery, state, attempts, sent, subject, error):")
    lines += [
        "  "
        + _row(
            d.delivery.id,
            d.delivery.state,
            d.delivery.attempts,
            _iso(d.delivery.sent_at),
            d.subject,
            d.delivery.last_error,
        )
        for d in history.deliveries
    ] or ["  (none)"]
    lines.append("bounces (time, kind, status, diagnostic):")
    lines += ["  " + _row(_iso(b.at), b.kind, b.status, b.diagnostic) for b in history.bounces] or [
        "  (none)"
    ]
    return lines


@members_group.command("show")
@click.argument("email")
@friendly
def members_show(email: str) -> None:
    """A member's details and history: lists, consents, mail, bounces. EMAIL may be an id."""
    with runtime().new_session() as session:
        history = members.history(session, members.find(session, email))
    click.echo("\n".join(_history_lines(history)))


@members_group.command("edit")
@click.argument("email")
@click.option("--name")
@click.option("--organisation")
@click.option("--country", help='Two-letter code, e.g. PT; "" clears it.')
@click.option("--sector", help='e.g. police, prison, probation; "" clears it.')
@click.option("--language", help="e.g. en, pl, pt.")
@friendly
def members_edit(email: str, **given: str | None) -> None:
    """Change a member's details; options not given stay as they are."""
    details = check_details({key: value for key, value in given.items() if value is not None})
    if not details:
        raise click.UsageError("nothing to change: give at least one of the options")
    with change_of(members.find, email) as (session, rt, member):
        changed = members.update_details(
            session, member, details, actor=cli_actor(), now=rt.clock()
        )
    what = ", ".join(changed) if changed else "nothing (the values were already so)"
    click.echo(f"member {member.id}: changed {what}")


@members_group.command("unsubscribe")
@click.argument("email")
@friendly
def members_unsubscribe(email: str) -> None:
    """Unsubscribe a member from every list (recorded as consent withdrawn)."""
    with change_of(members.find, email) as (session, rt, member):
        members.unsubscribe(session, member, actor=cli_actor(), now=rt.clock(), source="cli")
    click.echo(f"unsubscribed member {member.id} ({members.label(member)}) from every list")


@members_group.command("erase")
@click.argument("email")
@friendly
def members_erase(email: str) -> None:
    """Erase a member's personal data for good; only a hash of the address stays, as a
    suppression, so that it is never mailed again."""
    with change_of(members.find, email) as (session, rt, member):
        members.erase(session, rt.kit, member, actor=cli_actor(), now=rt.clock(), source="cli")
    click.echo(f"erased member {member.id}; the address is kept only as a suppressed hash")


@members_group.command("unsuppress")
@click.argument("email")
@friendly
def members_unsuppress(email: str) -> None:
    """Mail a suppressed address again (after a bounce or complaint was cleared); audited."""
    with change_of(members.find, email) as (session, rt, member):
        lifted = suppressions.lift(session, member, actor=cli_actor(), now=rt.clock())
    click.echo(f"member {member.id}: suppression lifted (was {lifted.describe()})")


@click.command("audit")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--actor", help="Only entries whose actor contains this (any case).")
@click.option("--action", help='Only this action, or a prefix ending in "." (e.g. "member.").')
@friendly
def audit_command(limit: int, actor: str | None, action: str | None) -> None:
    """The audit log, newest first: time, actor, action, target, detail."""
    with runtime().new_session() as session:
        page = audit.entries(session, actor=actor or "", action=action or "", per_page=limit)
    if not page.items:
        click.echo("no audit entries", err=True)
    for e in page.items:
        click.echo(_row(e.at.isoformat(), e.actor, e.action, e.target, e.detail))
