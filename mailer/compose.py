"""Render a campaign once; personalise it per recipient cheaply.

Jinja, premailer (tens of milliseconds a page) and the text template run once per campaign. The
personal parts (name, manage / unsubscribe / RSVP links) are rendered as markers such as
``@@unsubscribe_url@@``; per recipient, ``personalise`` only joins precomputed literal pieces with
the recipient's values. Markers use characters that premailer, HTML escaping and URL quoting all
leave alone (premailer would turn ``{{ url }}`` in an href into ``{{%20url%20}}``).
"""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import premailer
from jinja2 import Environment
from markupsafe import Markup, escape

_MARKER = re.compile(r"@@([a-z_]+)@@")
_RELATIVE_HREF = re.compile(r'\b(href|src)="/(?!/)')


class _PersonalMarkers:
    """Stands in for the recipient in templates: ``{{ personal.name }}`` renders a marker."""

    def __getattr__(self, field: str) -> Markup:
        if not re.fullmatch(r"[a-z_]+", field):
            raise AttributeError(field)
        return Markup(f"@@{field}@@")


PERSONAL = _PersonalMarkers()


@dataclass(frozen=True, slots=True)
class Pieces:
    """A text split at its markers: literals[0] field[0] literals[1] field[1] ... literals[-1]."""

    literals: tuple[str, ...]
    fields: tuple[str, ...]

    @classmethod
    def split(cls, text: str) -> Pieces:
        parts = _MARKER.split(text)
        return cls(literals=tuple(parts[0::2]), fields=tuple(parts[1::2]))

    def fill(self, values: Mapping[str, str]) -> str:
        return self.join([values.get(name, "") for name in self.fields])

    def join(self, values: Sequence[str]) -> str:
        """The text with ``values[i]`` in place of ``fields[i]``."""
        out = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            out.append(value)
            out.append(literal)
        return "".join(out)


@dataclass(frozen=True, slots=True)
class RenderedMail:
    """One campaign's content, rendered and inlined once, with personal markers left in."""

    kind: str
    subject: str
    html: str
    text: str
    preheader: str = ""
    language: str = "en"  # what ``<html lang>`` and ``Content-Language`` say

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(_MARKER.findall(self.html) + _MARKER.findall(self.text))


# How a personalised body was put together: the literal pieces shared by every recipient of a
# campaign and this recipient's values between them (literals[0] values[0] literals[1] ...).
Assembly = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Personalised:
    """The bodies for one recipient.

    ``html_parts`` and ``text_parts`` say how ``Personaliser`` assembled each body, so that the
    MIME writer can encode the campaign-wide literal pieces once instead of once per recipient.
    They are optional (None for bodies made any other way) and never change what the bodies say.
    """

    html: str
    text: str
    html_parts: Assembly | None = field(default=None, compare=False, repr=False)
    text_parts: Assembly | None = field(default=None, compare=False, repr=False)


class Personaliser:
    """Precompiled pieces of a RenderedMail; ``fill`` costs microseconds per recipient."""

    def __init__(self, rendered: RenderedMail) -> None:
        self.rendered = rendered
        self._html = Pieces.split(rendered.html)
        self._text = Pieces.split(rendered.text)
        # Fields whose length the text was not wrapped for (see _stand_in): a value there may
        # lengthen its line past the width, so that recipient's text is wrapped again.
        self._phrases = [i for i, f in enumerate(self._text.fields) if _width_of(f) == 0]

    def fill(self, values: Mapping[str, str]) -> Personalised:
        html_values = tuple(str(escape(values.get(name, ""))) for name in self._html.fields)
        text_values = tuple(values.get(name, "") for name in self._text.fields)
        text = self._text.join(text_values)
        text_parts: Assembly | None = (self._text.literals, text_values)
        if any(text_values[i] for i in self._phrases):
            text, text_parts = wrap_text(text), None
        return Personalised(
            html=self._html.join(html_values),
            text=text,
            html_parts=(self._html.literals, html_values),
            text_parts=text_parts,
        )


def personalise(rendered: RenderedMail, values: Mapping[str, str]) -> Personalised:
    """Fill one recipient's values into a rendered mail (convenience for single mails)."""
    return Personaliser(rendered).fill(values)


# Elements whose whitespace is content (CSS in <style> does not care about it).
_VERBATIM = re.compile(r"<(pre|textarea)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE_WITH_LINE_BREAK = re.compile(r"[ \t]*[\r\n]\s*")
_SPACE_RUN = re.compile(r"[ \t]{2,}")


def _block(env: Environment, name: str, block: str, context: Mapping[str, Any]) -> str:
    template = env.get_template(name)
    if block not in template.blocks:
        return ""
    ctx = template.new_context(dict(context))
    return "".join(template.blocks[block](ctx)).strip()


def render(
    html_env: Environment,
    text_env: Environment,
    kind: str,
    context: Mapping[str, Any],
    *,
    base_url: str,
    language: str = "en",
) -> RenderedMail:
    """Render ``email/<kind>.html`` and ``.txt`` once, inline the CSS, keep personal markers.

    The environments carry the language (its catalogue and date formats); ``language`` is
    recorded with the result for the ``Content-Language`` header.

    The subject is the ``subject`` block of the text template, so it lives beside the words of
    the mail it belongs to.
    """
    full = {**context, "personal": PERSONAL}
    subject = " ".join(_block(text_env, f"email/{kind}.txt", "subject", full).split())
    preheader = " ".join(_block(text_env, f"email/{kind}.txt", "preheader", full).split())
    full["subject"] = subject
    full["preheader"] = preheader
    html = html_env.get_template(f"email/{kind}.html").render(full)
    text = text_env.get_template(f"email/{kind}.txt").render(full)
    inlined = premailer.transform(
        html,
        # No link rewriting: our links are absolute already, and joining would turn a personal
        # marker (href="@@join_url@@") or an in-mail anchor (#item-3) into a site URL.
        base_url=None,
        disable_link_rewrites=True,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        allow_network=False,
        # Media queries cannot be inlined; premailer keeps them in a <style> for clients that
        # support them (responsive layout). Nothing else depends on a <style> element.
        keep_style_tags=False,
        strip_important=False,
    )
    # Relative links from staff Markdown ("/events/7") point at the site; markers ("@@...@@")
    # and in-mail anchors ("#item-3") start otherwise and are left alone.
    inlined = _RELATIVE_HREF.sub(lambda m: f'{m.group(1)}="{base_url.rstrip("/")}/', inlined)
    if not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = "<!doctype html>\n" + inlined  # premailer drops it; clients need standards mode
    inlined = collapse_whitespace(inlined)
    return RenderedMail(
        kind=kind,
        subject=subject,
        html=inlined,
        text=_tidy_text(text),
        preheader=preheader,
        language=language,
    )


def collapse_whitespace(html: str) -> str:
    """Reduce runs of whitespace to one space or one line break, except inside ``<pre>`` & co.

    Browsers and mail clients render any run of whitespace as one space, so this changes
    nothing a member sees. It matters for DKIM: relaxed body canonicalisation rewrites every
    run of spaces, and the template's indentation made that rewrite cost more per message than
    the RSA signature itself. With no runs left, the signer has nothing to rewrite.
    """
    out: list[str] = []
    start = 0
    for verbatim in _VERBATIM.finditer(html):
        out.append(_collapse(html[start : verbatim.start()]))
        out.append(verbatim.group(0))
        start = verbatim.end()
    out.append(_collapse(html[start:]))
    return "".join(out)


def _collapse(html: str) -> str:
    return _SPACE_RUN.sub(" ", _SPACE_WITH_LINE_BREAK.sub("\n", html))


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    tidy: list[str] = []
    for line in lines:
        if line == "" and tidy and tidy[-1] == "":
            continue
        tidy.append(line)
    return wrap_text("\n".join(tidy) + "\n")


def wrap_text(text: str) -> str:
    """Every line of ``text`` wrapped by ``wrap_line``; wrapping twice changes nothing."""
    return "\n".join(piece for line in text.split("\n") for piece in wrap_line(line))


# Plain text is read in 80-column terminals and quoted in replies: lines of at most 76 leave
# room for "> " (RFC 3676 suggests 78 at most). Words are never split, so a long URL stands
# alone on its line, where a click or a copy takes it whole.
TEXT_WIDTH = 76
_LIST_ITEM = re.compile(r"^(\s*(?:[-*•]|\d+\.)\s+|\s+)")
# A personal marker is filled in after wrapping; wrap as if the value were there already.
# Links are longer than a line, so they get one of their own; a name is short. Other values
# (the member's own time) are often empty: Personaliser wraps again when one is not.
_LINK_WIDTH = TEXT_WIDTH + 1
_NAME_WIDTH = 20
# A reference appended to a link (``?r=@@click_ref@@``): short, of about this length.
_REF_WIDTH = 20


def _width_of(field: str) -> int:
    if field.endswith("url"):
        return _LINK_WIDTH
    if field.endswith("_ref"):
        return _REF_WIDTH
    return _NAME_WIDTH if field == "name" else 0


def _stand_in(match: re.Match[str]) -> str:
    width = _width_of(match.group(1))
    return match.group(0) + "\x00" * max(0, width - len(match.group(0)))


def wrap_line(line: str) -> list[str]:
    """One line of plain text as lines of at most ``TEXT_WIDTH`` (bar a single long word)."""
    measured = _MARKER.sub(_stand_in, line)
    if len(measured) <= TEXT_WIDTH:
        return [line]
    indent = _LIST_ITEM.match(measured)
    follow = " " * len(indent.group(1)) if indent else ""
    wrapped = textwrap.wrap(
        measured,
        width=TEXT_WIDTH,
        subsequent_indent=follow,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [piece.replace("\x00", "") for piece in wrapped] or [line]
