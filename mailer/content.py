"""Staff write Markdown; members receive sanitised HTML made from it."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table")

# What a newsletter body may contain: structure and links, no scripts, styles or forms.
_ALLOWED_TAGS = {
    "a",
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "blockquote",
    "code",
    "pre",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
}
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}}


def markdown_to_html(source: str) -> str:
    """Render Markdown to HTML that is safe to put in a member's mail or a public page."""
    html = _markdown.render(source)
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def summary(source: str, limit: int = 240) -> str:
    """A plain-text teaser: the first paragraph of the Markdown, cut at a word boundary."""
    first = source.strip().split("\n\n", 1)[0].replace("\n", " ").strip()
    # nh3 drops the tags but keeps entities ("&lt;"); the teaser is plain text, escaped once by
    # whichever template prints it, so turn the entities back into characters.
    text = html.unescape(nh3.clean(_markdown.renderInline(first), tags=set()))
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"


_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.DOTALL)
_LIST_ITEM = re.compile(r"<li>\s*(?:<p>)?")
_BLOCK_END = re.compile(r"(?:</(?:p|h[1-4]|blockquote|pre|ul|ol|table)>|<hr\s*/?>)\n?")
_LINE_END = re.compile(r"(?:</(?:li|tr)>|<br\s*/?>)\n?")
_BLANK_LINES = re.compile(r"\n{3,}")


def markdown_to_text(source: str) -> str:
    """Markdown as plain text, for places that show no markup (a calendar's DESCRIPTION).

    Emphasis marks go, paragraphs and list items keep their line breaks, and a link keeps its
    address after its words, since nobody can click a calendar description's words.
    """
    rendered = _markdown.render(source)
    rendered = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", rendered)
    rendered = _LIST_ITEM.sub("• ", rendered)
    rendered = _LINE_END.sub("\n", _BLOCK_END.sub("\n\n", rendered))
    text = html.unescape(nh3.clean(rendered, tags=set()))
    return _BLANK_LINES.sub("\n\n", text).strip()
