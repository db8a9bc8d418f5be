"""Markdown as plain text a person reads: the text part of a mail, a calendar's description.

No Markdown marks survive (``##``, ``**``, ``[words](address)``): headings are lines of their
own, emphasis is dropped, list items keep a bullet or their number, quotes keep ``>``. A link
keeps its words and its address, either as a numbered reference listed after the text (mail:
"the agenda [1]" ... "[1] https://...") or in brackets right after the words (a calendar
description, which has no room for a list at its end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

LinkStyle = Literal["numbered", "inline"]

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table")

BULLET = "• "
RULE = "—" * 8


@dataclass
class _Links:
    """The addresses met so far; one number per address, however often it is linked."""

    style: LinkStyle
    addresses: list[str] = field(default_factory=list)

    def cite(self, words: str, address: str) -> str:
        if not address or words.strip() in (address, address.removeprefix("mailto:")):
            return words or address  # the words are the address: saying it twice helps nobody
        if self.style == "inline":
            return f"{words} ({address})"
        if address not in self.addresses:
            self.addresses.append(address)
        return f"{words} [{self.addresses.index(address) + 1}]"

    def listing(self) -> list[str]:
        return [f"[{n}] {address}" for n, address in enumerate(self.addresses, 1)]


def _inline(children: Sequence[Token], links: _Links) -> str:
    """One paragraph's (or heading's, or cell's) inline tokens as text."""
    parts: list[str] = []
    link_stack: list[tuple[str, int]] = []  # (address, where its words start in parts)
    for token in children:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif token.type == "link_open":
            link_stack.append((str(token.attrGet("href") or ""), len(parts)))
        elif token.type == "link_close" and link_stack:
            address, start = link_stack.pop()
            parts[start:] = [links.cite("".join(parts[start:]), address)]
        elif token.type == "image":
            alt = "".join(child.content for child in token.children or [])
            parts.append(links.cite(alt, str(token.attrGet("src") or "")))
    return "".join(parts)


class _Writer:
    """Lines out, with the indent of the lists and quotes the current block sits in."""

    def __init__(self, links: _Links) -> None:
        self.links = links
        self.lines: list[str] = []
        self.prefixes: list[str] = []  # "> " per quote, spaces per list level
        self.lists: list[list[int | None]] = []  # per open list: [next number] or [None]
        self.marker = ""  # the bullet or number waiting for the item's first line
        self.row: list[str] | None = None  # a table row's cells, written as one line

    def blank(self) -> None:
        if self.lines and self.lines[-1].strip(" >"):
            self.lines.append("".join(self.prefixes).rstrip())

    def write(self, text: str) -> None:
        prefix = "".join(self.prefixes)
        for n, line in enumerate(text.split("\n")):
            if n == 0 and self.marker:
                self.lines.append(prefix[: -len(self.marker)] + self.marker + line)
                self.marker = ""
            else:
                self.lines.append(prefix + line)

    def block(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            self._token(token)

    def _token(self, token: Token) -> None:
        kind = token.type
        if kind in ("paragraph_open", "heading_open", "table_open") and not token.hidden:
            self.blank()
        elif kind == "inline" and self.row is not None:
            self.row.append(_inline(token.children or [], self.links).replace("\n", " "))
        elif kind == "inline":
            self.write(_inline(token.children or [], self.links))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            if not self.lists:
                self.blank()
            start = int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None
            self.lists.append([start])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            counter = self.lists[-1]
            self.marker = BULLET if counter[0] is None else f"{counter[0]}. "
            if counter[0] is not None:
                counter[0] += 1
            self.prefixes.append(" " * len(self.marker))
        elif kind == "list_item_close":
            self.prefixes.pop()
            self.marker = ""
        elif kind == "blockquote_open":
            self.blank()
            self.prefixes.append("> ")
        elif kind == "blockquote_close":
            self.prefixes.pop()
        elif kind in ("fence", "code_block"):
            self.blank()
            self.write("\n".join("    " + line for line in token.content.rstrip("\n").split("\n")))
        elif kind == "hr":
            self.blank()
            self.write(RULE)
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.row is not None:
            self.write(" | ".join(self.row))
            self.row = None


def markdown_to_plain(source: str, *, links: LinkStyle = "numbered") -> str:
    """Readable plain text from Markdown; see the module docstring for what becomes of what."""
    references = _Links(links)
    writer = _Writer(references)
    writer.block(_markdown.parse(source))
    lines = [line.rstrip() for line in writer.lines]
    if references.addresses:
        lines += ["", *references.listing()]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()
