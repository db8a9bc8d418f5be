"""``newsletter staff``: create, list, set-role, unlock and remove staff accounts; audited."""

from __future__ import annotations

import getpass
import sys

import click

from subscribers.admin import actions, staff
from subscribers.cli.support import change, change_of, friendly, record, runtime


@click.group("staff")
def staff_group() -> None:
    """Staff accounts."""


@staff_group.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(staff.ROLES))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@friendly
def staff_create(email: str, role: str, password_stdin: bool) -> None:
    """Create a staff account."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        # getpass would warn, echo the password and end in "Aborted!" on several lines.
        raise click.UsageError("no terminal to type the password in: give it with --password-stdin")
    else:
        password = getpass.getpass("Password: ")
    with change() as (session, rt):
        user = staff.create(session, email, password, role, now=rt.clock())
        record(session, rt, actions.staff_created(user))
    click.echo(f"created {user.role} {user.email}")


@staff_group.command("list")
@friendly
def staff_list() -> None:
    """Every staff account: address, role, and whether it is locked out."""
    rt = runtime()
    with rt.new_session() as session:
        for user in staff.accounts(session):
            locked = staff.locked_out(session, user, now=rt.clock())
            click.echo(f"{user.email}\t{user.role}" + ("\tlocked" if locked else ""))


@staff_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(staff.ROLES))
@friendly
def staff_set_role(email: str, role: str) -> None:
    """Give a staff account another role (the last admin stays admin)."""
    with change_of(staff.get, email) as (session, rt, user):
        changed = staff.change_role(session, user, role)
        if changed:
            record(session, rt, actions.staff_role_set(user))
    click.echo(f"{user.email} is {role}" + ("" if changed else " already"))


@staff_group.command("unlock")
@click.argument("email")
@friendly
def staff_unlock(email: str) -> None:
    """Let an account locked out after failed logins sign in again at once."""
    with change_of(staff.get, email) as (session, rt, user):
        staff.unlock(session, user)
        record(session, rt, actions.staff_unlocked(user.email))
    click.echo(f"{user.email} can sign in again")


@staff_group.command("remove")
@click.argument("email")
@friendly
def staff_remove(email: str) -> None:
    """Remove a staff account (never the last admin)."""
    with change_of(staff.get, email) as (session, rt, user):
        address = user.email
        staff.remove(session, user, acting=None)
        record(session, rt, actions.staff_removed(address))
    click.echo(f"removed {address}")
