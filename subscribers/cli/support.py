"""What every `newsletter` command shares: the runtime, one-line errors, input parsing."""

from __future__ import annotations

import dataclasses
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from mailer import pacing
from mailer.sender import Sender
from subscribers.admin import actions
from subscribers.content.multilingual import Text
from subscribers.core import times
from subscribers.core.db import transaction
from subscribers.core.errors import NewsletterError
from subscribers.core.settings import SettingsError, load
from subscribers.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def runtime() -> Runtime:
    """Settings and runtime, built once per command invocation."""
    ctx = click.get_current_context()
    rt = ctx.meta.get("newsletter.runtime")
    if rt is None:
        rt = Runtime.build(load())
        ctx.meta["newsletter.runtime"] = rt
        # Close pooled connections when the command ends (matters when invoked in-process).
        ctx.call_on_close(rt.engine.dispose)
    return rt


def cli_actor() -> str:
    """Who did it, for the audit log: "cli (<os user>)"."""
    try:
        return f"cli ({getpass.getuser()})"
    except (OSError, KeyError):  # no login name in a bare container
        return "cli"


@contextmanager
def change() -> Iterator[tuple[Session, Runtime]]:
    """The session of a command's one transaction, with the runtime: committed when the block
    ends, rolled back if it raises."""
    rt = runtime()
    with transaction(rt.new_session()) as session:
        yield session, rt


@contextmanager
def change_of(find: Callable[[Session, str], T], key: str) -> Iterator[tuple[Session, Runtime, T]]:
    """``change()``, with what ``find`` looks up by ``key`` in its session (a member by address,
    a staff account, a token by name)."""
    with change() as (session, rt):
        yield session, rt, find(session, key)


def record(session: Session, rt: Runtime, entry: actions.Entry) -> None:
    """An audit entry for a change made from the command line, in the caller's transaction."""
    actions.write(session, entry, actor=cli_actor(), now=rt.clock())


def friendly(command: F) -> F:
    """Turn our errors into the SPEC's one line on stderr and a non-zero exit."""

    @wraps(command)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SettingsError as err:
            raise click.ClickException(str(err)) from None
        except (OperationalError, ProgrammingError) as err:
            # Unreachable server, missing file or table: one line, no traceback.
            reason = str(err.orig).strip().splitlines()[0] if err.orig else "not reachable"
            raise click.ClickException(
                f"database: {reason} (is NEWSLETTER_DATABASE_URL right, and did "
                "`newsletter db upgrade` run?)"
            ) from None
        except (NewsletterError, LookupError, ValueError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            raise click.ClickException(str(message)) from None
        except OSError as err:
            # A file that cannot be read or written (-o into a directory, a full disk...).
            where = f"{err.filename}: " if err.filename else ""
            raise click.ClickException(f"{where}{err.strerror or err}") from None

    return wrapped  # type: ignore[return-value]


class UsageLine(click.ClickException):
    """A usage error as one line (a bad or missing option, an unknown command); exit 2."""

    exit_code = 2


def one_line(text: str) -> str:
    """A message that quotes what was typed (which may hold line breaks) on one line."""
    return " ".join(text.split())


@contextmanager
def errors_in_one_line() -> Iterator[None]:
    """Click shows a usage error as the command's usage, a hint and the message; the SPEC wants
    one line: the message, naming the help to read. Any other error's message is kept to one
    line too. (Asking a group for its commands, with none given, is not an error.)"""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise
    except click.UsageError as err:
        where = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        raise UsageLine(one_line(err.format_message()).rstrip(".") + where) from None
    except click.ClickException as err:
        err.message = one_line(err.message)
        raise


class OneLineErrors(click.Group):
    """The top group: every error below it, and its own, reach stderr as one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with errors_in_one_line():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with errors_in_one_line():
            return super().invoke(ctx)


def body_text(body_file: Path | None, body: str | None) -> str:
    if (body_file is None) == (body is None):
        raise click.UsageError("give exactly one of --body-file and --body")
    if body_file is not None:
        return read_text(body_file)
    return body or ""


def read_text(path: Path) -> str:
    """A UTF-8 text file given on the command line, or one line saying it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path}: not UTF-8 text") from None


TRANSLATION_HELP = (
    "A translation: CODE=FILE, the file's first line the title, the rest the body (repeatable)."
)


def translation_files(values: tuple[str, ...], option: str = "--translation") -> list[Text]:
    """``CODE=FILE`` pairs: each file's first line is the title (a leading ``#`` is dropped),
    the rest its Markdown body. The service checks the code and the texts."""
    texts = []
    for value in values:
        code, sep, path = value.partition("=")
        if not sep or not code.strip() or not path.strip():
            raise click.ClickException(f"{option}: expected CODE=FILE, got {value!r}")
        file = Path(path.strip())
        if not file.is_file():
            raise click.ClickException(f"{option}: {file}: no such file")
        title, _newline, body = read_text(file).lstrip().partition("\n")
        texts.append(Text(code.strip().lower(), title.strip().lstrip("#").strip(), body.strip()))
    return texts


def parse_time(value: str | None, zone: str, option: str = "--at") -> datetime | None:
    """ISO 8601; a time without offset is in the configured time zone (subscribers.core.times)."""
    return None if value is None else times.parse_time(value, zone, field=option)


def sender_for_process(share: int) -> Sender:
    """What each of ``outbox drain --processes N`` runs: a sender built from the environment.

    The send rate is one limit for all of them, so each process gets its ``1/share`` of it (and
    of each domain's limits).
    Module-level (and given through ``functools.partial``) so that a spawned process can
    unpickle it.
    """
    settings = load()
    settings = dataclasses.replace(
        settings,
        send_rate=settings.send_rate / share,
        domain_limits=pacing.share(settings.domain_limits, share),
    )
    return Runtime.build(settings).sender


def _segment_given(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # An empty --segment (a script's unset variable: --segment "$WHO") must not widen the
    # audience to the whole list without a word: leaving the option out says that.
    if value is not None and not value.strip():
        raise click.BadParameter("empty; leave --segment out to reach the whole list")
    return value


# The --segment of the commands that mail a part of a list (announce, events invite).
segment_option = click.option(
    "--segment", callback=_segment_given, help="e.g. country=PT,sector=police"
)


# The --now flag of the commands that queue mail (announce, digest send, events invite...).
send_now_option = click.option(
    "--now", "drain", is_flag=True, help="Also send the outbox before returning."
)


def echo_then_send(rt: Runtime, line: str, drain: bool) -> None:
    """Say what the command queued; with --now (``drain``), send the outbox before returning:
    what was sent on stdout, exit 1 if a delivery failed for good."""
    click.echo(line)
    if drain:
        report = rt.sender.drain(threads=rt.settings.smtp_connections)
        click.echo(report.describe())
        if report.failed:
            sys.exit(1)


def show_secret(secret: str, note: str) -> None:
    """A new secret on stdout, shown this once (a script captures it), what it is on stderr."""
    click.echo(secret)
    click.echo(note, err=True)
