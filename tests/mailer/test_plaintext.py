"""Markdown becomes plain text a person reads: no marks left, links as numbered references."""

from __future__ import annotations

from mailer.plaintext import markdown_to_plain

REPORT = """## What we learnt

Close to **40 practitioners** took part; read *the* [full report](https://network.test/r?a=1&b=2)
or the [summary](https://network.test/s), and [the report again](https://network.test/r?a=1&b=2).

1. Lisbon
2. Warsaw, see <https://network.test/warsaw>

> Bring **one case**.

| city | people |
|---|---|
| Lisbon | 22 |
"""


def test_markdown_marks_are_gone_and_links_are_numbered_references() -> None:
    text = markdown_to_plain(REPORT)
    assert "#" not in text and "**" not in text and "](" not in text and "*the*" not in text
    assert text.splitlines()[0] == "What we learnt"
    assert "read the full report [1]\nor the summary [2], and the report again [1]." in text
    assert "1. Lisbon\n2. Warsaw, see https://network.test/warsaw" in text  # an address once
    assert "> Bring one case." in text
    assert "city | people\nLisbon | 22" in text
    assert text.endswith("\n\n[1] https://network.test/r?a=1&b=2\n[2] https://network.test/s")


def test_nested_lists_are_indented_under_their_item() -> None:
    text = markdown_to_plain("- police\n  - border guards\n- probation")
    assert text == "• police\n  • border guards\n• probation"


def test_inline_style_keeps_each_address_after_its_words() -> None:
    assert markdown_to_plain("See [the agenda](https://a.test/x).", links="inline") == (
        "See the agenda (https://a.test/x)."
    )
