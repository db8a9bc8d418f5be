"""The plain-text part of every kind of mail reads well in a terminal and in a quoted reply."""

from __future__ import annotations

import email
import email.policy
import re

from mailer.compose import TEXT_WIDTH, wrap_line
from tests.mailcraft.conftest import KINDS, Received

_URL = re.compile(r"^\s*(?:[\w ]+: )?(?:https?|mailto):\S+$")


def _text(received: Received) -> str:
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def test_every_kind_is_wrapped_at_76_columns_except_a_lone_link(
    every_kind: dict[str, Received],
) -> None:
    for kind in KINDS:
        long_lines = [
            line for line in _text(every_kind[kind]).splitlines() if len(line) > TEXT_WIDTH
        ]
        # A URL cannot be broken without breaking the link: it may pass 76, alone on its line.
        assert [line for line in long_lines if not re.fullmatch(r"\S+", line)] == [], kind


def test_a_long_line_wraps_at_words_and_keeps_a_list_item_indented() -> None:
    text = "- " + " ".join(["practitioners"] * 12)
    lines = wrap_line(text)
    assert len(lines) > 1 and all(len(line) <= TEXT_WIDTH for line in lines)
    assert lines[0].startswith("- practitioners") and lines[1].startswith("  practitioners")
    assert " ".join(line.strip() for line in lines) == text[2:].join(["- ", ""]).strip()


def test_a_link_marker_goes_to_a_line_of_its_own() -> None:
    lines = wrap_line("Manage your subscription: @@manage_url@@")
    assert lines == ["Manage your subscription:", "@@manage_url@@"]
    # A short line with a name stays one line.
    assert wrap_line("Hello @@name@@,") == ["Hello @@name@@,"]
