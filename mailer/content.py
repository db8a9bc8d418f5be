"""Staff write Markdown; members receive sanitised HTML made from it."""

from __future__ import annotations

import html

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
