"""Every text a member or staff member reads is marked for translation.

The network works in seven languages; a sentence typed straight into a template would stay
English for ever. This test reads every template with Jinja's own lexer and fails on words in
the markup (text nodes and the attributes people read: alt, title, placeholder, aria-label)
that are not inside ``_()`` / ``{% trans %}``. It also runs the Babel extraction the
``make messages`` target uses, so a template that Babel cannot read fails here first.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
# Words that are the same in every language of the network (brand and technical tokens).
ALLOWED = {"RSVP", "CSV", "JSON", "ICS", "Atom", "Google", "Outlook", "UTC", "URL", "ID", "iCal"}
READ_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}
WORD = re.compile(r"[^\W\d_]{2,}")


class _Text(HTMLParser):
    """Collects text nodes and readable attribute values, skipping <style> and <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        self.found.extend(value for name, value in attrs if name in READ_ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def literal_markup(source: str) -> str:
    """The template with every Jinja construct replaced by a neutral placeholder."""
    env = Environment(extensions=["jinja2.ext.i18n"])
    parts: list[str] = []
    depth = 0
    for _lineno, token_type, value in env.lex(source):
        if token_type in ("variable_begin", "block_begin", "comment_begin"):
            depth += 1
        elif token_type in ("variable_end", "block_end", "comment_end"):
            depth -= 1
            parts.append(" X0 ")  # stands for whatever the expression prints
        elif token_type == "data" and depth == 0:
            parts.append(value)
    return "".join(parts)


def unmarked_words(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    # {% trans %} blocks are marked by definition: drop them before looking.
    source = re.sub(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", "", source, flags=re.S)
    # Blocks that fill in a CSS class name ({% block main_class %}wide{% endblock %}).
    source = re.sub(r"{%-?\s*block \w+_class\s*-?%}.*?{%-?\s*endblock", "", source, flags=re.S)
    markup = literal_markup(source)
    if path.suffix == ".txt":
        texts = [markup]
    else:
        parser = _Text()
        parser.feed(markup)
        texts = parser.found
    words = [w for text in texts for w in WORD.findall(text)]
    return [w for w in words if w not in ALLOWED and w != "X0"]


TEMPLATE_FILES = sorted(
    p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt") and p.is_file()
)


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_text_is_marked_for_translation(path: Path) -> None:
    assert unmarked_words(path) == []


def test_the_scanner_catches_bare_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        '<p>{{ _("Marked") }} Bare words</p><img alt="A logo" src="{{ url }}">'
        "{% trans %}Also marked{% endtrans %}<style>p { color: red }</style>"
    )
    assert unmarked_words(page) == ["Bare", "words", "logo"]


# The keywords `make messages` passes to pybabel on top of Babel's defaults (pgettext among them).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_pgettext": ((1, "c"), 2)}


def extracted_messages() -> set[tuple[str | None, str]]:
    """What `make messages` extracts, by the rules of babel.cfg: (context, msgid) pairs."""
    method_map = [
        ("mailer/**.py", "python"),
        ("subscribers/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    options = {"templates/**": {"extensions": "jinja2.ext.i18n"}}
    return {
        (context, message if isinstance(message, str) else message[0])
        for _file, _line, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map=options, keywords=KEYWORDS
        )
    }


def test_babel_extracts_texts_from_python_and_templates() -> None:
    messages = extracted_messages()
    assert {(None, "Google Calendar"), ("button or link", "Unsubscribe")} <= messages
    assert len(messages) > 150


def test_the_committed_catalogue_holds_every_marked_text() -> None:
    with (ROOT / "subscribers/translations/messages.pot").open("rb") as pot:
        catalogue = {
            (m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(pot) if m.id
        }
    missing = sorted(extracted_messages() - catalogue)
    assert missing == [], "run `make messages` and commit the catalogue"
