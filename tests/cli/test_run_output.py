"""What `make run` leaves on screen: the staff login last, no scheduler chatter every minute."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from subscribers.cli import root as cli


@pytest.fixture
def quiet_loggers() -> Iterator[None]:
    """configure_logging sets levels on process-wide loggers: put them back afterwards."""
    names = ("", *cli.CHATTY_LOGGERS, "apscheduler.executors.default")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_verbose_keeps_the_scheduler_at_warning(quiet_loggers: None) -> None:
    # `make run` runs `newsletter -v serve`: APScheduler would log two INFO lines per job run,
    # and the draining and reminder jobs run every minute.
    cli.configure_logging(1)
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert not logging.getLogger("waitress").isEnabledFor(logging.INFO)
    cli.configure_logging(2)
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)


def test_serve_prints_the_demo_login_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet_loggers: None
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "demo-login.txt").write_text("comms@example.org\nsecret-words\n")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("NEWSLETTER_INSTANCE_PATH", str(instance))
    served: list[Any] = []

    class Server:
        def run(self) -> None:
            pass

    def create_server(app: Any, **options: Any) -> Server:
        served.append(options)
        return Server()

    monkeypatch.setattr("waitress.create_server", create_server)
    result = CliRunner().invoke(cli.main, ["-v", "serve", "--no-worker", "--port", "5999"])
    assert result.exit_code == 0, result.output
    assert served and served[0]["port"] == 5999
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("staff login: comms@example.org / secret-words")
