"""Staff Markdown becomes sanitised HTML; the teaser is plain text, escaped once where printed."""

from __future__ import annotations

import re

from mailer.compose import collapse_whitespace, render
from mailer.content import markdown_to_html, markdown_to_text, summary
from subscribers.content.templating import mail_environments


def test_raw_html_and_scripts_in_markdown_never_survive() -> None:
    html = markdown_to_html(
        'Hi <script>alert(1)</script> <img src=x onerror="alert(2)">\n\n'
        "[link](javascript:alert(3)) [ok](https://network.example.org/report)"
    )
    # Raw HTML stays visible as text, never as markup; unsafe link schemes lose their link.
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;" in html
    assert '<a href="https://network.example.org/report"' in html


def test_summary_is_plain_text_cut_at_a_word() -> None:
    assert summary("Police **and** probation < prisons & NGOs\n\nSecond paragraph") == (
        "Police and probation < prisons & NGOs"
    )
    long = summary("word " * 100, limit=30)
    assert long.endswith("…") and len(long) <= 31 and "wor…" not in long


def render_announcement(teaser: str, body_html: str = "<p>x</p>"):
    html_env, text_env = mail_environments()
    brand = {"name": "Network", "accent": "#1d4e89", "logo_url": None, "footer": ""}
    return render(
        html_env,
        text_env,
        "announcement",
        {
            "base_url": "https://network.example.org",
            "brand": brand,
            "title": "News",
            "body_html": body_html,
            "body_text": "x",
            "teaser": teaser,
            "archived": False,
        },
        base_url="https://network.example.org",
    )


def test_the_preheader_is_escaped_exactly_once() -> None:
    rendered = render_announcement(summary("Rooms < 6 & one facilitator"))
    assert "Rooms &lt; 6 &amp; one facilitator" in rendered.html
    assert "&amp;lt;" not in rendered.html


def test_whitespace_collapses_except_where_it_is_content() -> None:
    html = "<p>a   b\n      c</p>\n\n   <pre>  keep\n    this</pre>  <td>\t x</td>"

    assert collapse_whitespace(html) == "<p>a b\nc</p>\n<pre>  keep\n    this</pre> <td> x</td>"


def test_rendered_mail_html_has_no_whitespace_runs_for_dkim_to_rewrite() -> None:
    rendered = render_announcement("teaser", "<p>one</p><pre><code>  indented\n</code></pre>")

    outside_pre = re.sub(r"<pre\b.*?</pre>", "", rendered.html, flags=re.S)
    assert "  " not in outside_pre and "\t" not in outside_pre
    assert "<pre><code>  indented" in rendered.html


def test_markdown_as_plain_text_keeps_lines_and_link_addresses_but_no_markup() -> None:
    text = markdown_to_text(
        "Bring **one case**.\n\n- rooms of *six*\n- a plenary\n\n"
        "[Agenda](https://network.example.org/a?x=1&y=2) & <b>raw</b>"
    )
    assert text == (
        "Bring one case.\n\n• rooms of six\n• a plenary\n\n"
        "Agenda (https://network.example.org/a?x=1&y=2) & <b>raw</b>"
    )
