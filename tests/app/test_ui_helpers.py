"""The pure display helpers of mentorkb.ui: escaping, highlighting, line ranges and record tables."""

from __future__ import annotations

from datetime import date

import pytest

from mentorkb import ui
from models import SessionType


@pytest.mark.parametrize(
    ("text", "terms", "expected"),
    [
        ("Budgets need a buffer", ["budget"], "<mark>Budgets</mark> need a buffer"),
        ("<script>alert(1)</script> budget", ["budget"], "&lt;script&gt;alert(1)&lt;/script&gt; <mark>budget</mark>"),
        ("R&D and AMP", ["amp"], "R&amp;D and <mark>AMP</mark>"),  # no match inside the entity &amp;
        ("a <b>bold</b> claim", [], "a &lt;b&gt;bold&lt;/b&gt; claim"),
        (
            'say "hi" & <img src=x onerror=alert(1)>',
            ["img"],
            "say &quot;hi&quot; &amp; &lt;<mark>img</mark> src=x onerror=alert(1)&gt;",
        ),
        ("forecasting vs forecast", ["forecast"], "<mark>forecasting</mark> vs <mark>forecast</mark>"),
        ("prefix-budget", ["budget"], "prefix-<mark>budget</mark>"),
        ("subbudget", ["budget"], "subbudget"),
        ("AI aisle AIs", ["ai"], "<mark>AI</mark> aisle <mark>AIs</mark>"),
    ],
)
def test_highlight_escapes_untrusted_text_and_marks_query_words(text, terms, expected):
    assert ui.highlight_html(text, terms) == expected


def test_highlight_output_holds_no_tag_but_mark():
    out = ui.highlight_html("<mark onclick=x>budget</mark><iframe src=//evil>", ["budget", "mark", "iframe"])
    import re

    tags = set(re.findall(r"</?([a-z]+)", out))
    assert tags == {"mark"}
    assert "onclick" not in out.split("<mark>")[0]


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("Who can teach me how to write variance commentary?", ["write", "variance", "commentary"]),
        ("SQL window functions in SQL", ["sql", "window", "functions"]),
        ("AI for me?", ["ai"]),
        ("Go to HR", ["hr"]),
    ],
)
def test_query_terms_drop_filler_words_and_repeats(question, terms):
    assert ui.query_terms(question) == terms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12-18", (12, 18)),
        ("7", (7, 7)),
        ("18-12", (12, 18)),
        (" 3 – 4 ", (3, 4)),
        ("x", None),
        ("", None),
        (None, None),
    ],
)
def test_line_ranges_from_query_parameters(value, expected):
    assert ui.parse_lines(value) == expected


def test_numbered_note_escapes_and_marks_the_cited_lines():
    out = ui.numbered_note_html("title\n<b>two</b>\nthree\nfour", first_line=5, marked=(6, 7))
    assert "&lt;b&gt;two&lt;/b&gt;" in out and "<b>" not in out
    rows = out.split('<div id="cited"')[1]
    assert ">6</span>" in rows.split("</div>")[0]
    assert out.count("rgba(255,200,0") == 2
    assert ">5</span>" in out and ">8</span>" in out


@pytest.mark.parametrize(
    ("text", "shown_as"),
    [
        ("[click](javascript:alert(1))", r"\[click\]\(javascript\:alert\(1\)\)"),
        ("**bold** :red[x] $x$", r"\*\*bold\*\* \:red\[x\] \$x\$"),
        ("Ana Ruiz", "Ana Ruiz"),
    ],
)
def test_markdown_escape_shows_names_as_typed(text, shown_as):
    assert ui.md_escape(text) == shown_as


def test_citation_names_session_date_type_and_lines():
    text = ui.citation_text("s-1", date(2025, 3, 4), SessionType.SKILL_SWAP, "notes/a`b.md", (12, 18))
    assert text == r"`s-1` · 2025\-03\-04 · Skill swap · `notes/a'b.md:12–18`"
