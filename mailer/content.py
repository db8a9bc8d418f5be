"""Staff write Markdown; members receive sanitised HTML made from it."""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt

from mailer.plaintext import markdown_to_plain

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
    "h5",
    "h6",
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


def markdown_to_html(source: str, *, top_heading: int = 1) -> str:
    """Render Markdown to HTML that is safe to put in a member's mail or a public page.

    ``top_heading`` is the level a ``#`` heading gets, the others following (capped at h6): a
    body shown under a title of level n passes n + 1, so that none of its headings outranks it.
    """
    tokens = _markdown.parse(source)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + top_heading - 1, 6)}"
    html = _markdown.renderer.render(tokens, _markdown.options, {})
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


def markdown_to_text(source: str) -> str:
    """Markdown as plain text with each link's address in brackets (a calendar's DESCRIPTION,
    where nobody can click the words and a list of references at the end would be lost)."""
    return markdown_to_plain(source, links="inline")
