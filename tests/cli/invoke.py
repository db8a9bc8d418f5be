"""Running `newsletter` in-process, as the CLI tests of every command group do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from sqlmodel import Session

from subscribers.cli.root import main
from subscribers.runtime import Runtime
from tests.factories import make_list


def cli_env(tmp_path: Path, database_url: str, rt: Runtime, session: Session) -> dict[str, str]:
    """The settings of a `newsletter` run on the test database, with one list on it."""
    make_list(session, rt.clock())
    return {
        "NEWSLETTER_DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_SECRET_KEY": "test-secret-key-that-is-long-enough",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)
