"""Every `newsletter` command, with junk in each of its arguments and options: one clear line
and a non-zero exit, or success; never a traceback.

The commands and their options are read from the click objects, so a new command or option is
covered without anyone remembering to add it here.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from subscribers.cli.root import main
from subscribers.runtime import Runtime
from tests.factories import make_list, make_member

# Commands that run until stopped, or that only print.
SKIP = {("serve",), ("worker",), ("schedule",)}
JUNK = [
    "",
    "x" * 3000,
    "a\r\nBcc: eve@example.org",
    "-1",
    "2027-02-30T25:61",
    "=cmd|' /C calc'!A0",
    # Climbs two levels: the test runs two levels below its own temp dir, so this stays inside it.
    "../../climbed.csv",
    # A directory where a file is expected, and a file inside a directory that does not exist.
    ".",
    "missing-dir/out.csv",
    "ünïcödé ☃",
]


def commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from commands(command, path)
        elif path not in SKIP:
            yield path, command


def invocations(path: tuple[str, ...], command: click.Command, junk: str) -> Iterator[list[str]]:
    """Junk in each argument and each valued option in turn, the others given sane values."""
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    options = [
        p for p in command.params if isinstance(p, click.Option) and not p.is_flag and p.opts
    ]

    def sane(param: click.Parameter) -> str:
        return "1" if isinstance(param.type, click.types.IntParamType) else "practitioners"

    def build(junk_at: click.Parameter | None) -> list[str]:
        args = [*path]
        for arg in arguments:
            args.append(junk if arg is junk_at else sane(arg))
        for opt in options:
            if opt is junk_at:
                args += [opt.opts[0], junk]
            elif opt.required:
                args += [opt.opts[0], sane(opt)]
        return args

    for param in [*arguments, *options]:
        yield build(param)


@pytest.fixture
def env(tmp_path: Path, database_url: str, engine: Engine, rt: Runtime, session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    lst = make_list(session, rt.clock())
    make_member(session, rt.clock(), lists_=(lst,))
    return {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
        "NEWSLETTER_SMTP_URL": "capture://",
    }


def test_every_command_answers_junk_with_a_line_not_a_traceback(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Output files named by junk land here; "../../" from it reaches tmp_path, never further.
    cwd = tmp_path / "cwd" / "deep"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    runner = CliRunner()
    tried = 0
    found = list(commands(main))
    assert len(found) > 25  # the walk found the commands
    for path, command in found:
        for junk in JUNK:
            for args in invocations(path, command, junk):
                result = runner.invoke(main, args, input=junk, env=env)
                tried += 1
                if result.exception is not None and not isinstance(result.exception, SystemExit):
                    raise AssertionError(
                        f"{args!r}\n" + "".join(traceback.format_exception(result.exception))
                    )
                if result.exit_code != 0:
                    errors = result.stderr.strip().splitlines()
                    assert len(errors) == 1 and "Traceback" not in result.output, (args, errors)
    assert tried > 200
    # Every file the junk produced stayed inside this test's temp dir.
    assert (tmp_path / "climbed.csv").exists()
