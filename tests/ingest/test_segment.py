"""Segmentation: passages are what a reader would quote, and their line ranges point at the source text."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.readers import read_note
from ingest.segment import segment
from models import Line, ParsedNote, Passage

GOOD = Path(__file__).resolve().parents[1] / "data" / "good"


def note_from(text: str, name: str = "n.md") -> ParsedNote:
    [note] = read_note(name, f"---\ndate: 2025-03-14\n---\n{text}".encode())
    return note


def spans(passages: list[Passage]) -> list[tuple[int, int, str | None, str]]:
    return [(p.line_start, p.line_end, p.speaker, p.text) for p in passages]


def test_markdown_fixture_paragraphs_bullets_and_headings() -> None:
    path = GOOD / "career-chat.md"
    [note] = read_note(str(path), path.read_bytes())
    passages = segment(note, "s-1")
    assert spans(passages) == [
        (
            14,
            15,
            None,
            "Ana explained that a staff role is about scope, not speed. "
            "She suggested writing one design doc per quarter.",
        ),
        (
            17,
            20,
            None,
            "Key takeaways:\n- Find a sponsor outside the team\n- Keep a brag document and update it monthly",
        ),
        (24, 24, None, 'Bo will share a draft <script>alert("hi")</script> next week.'),
    ]
    assert [p.ordinal for p in passages] == [0, 1, 2]
    assert {p.session_id for p in passages} == {"s-1"}
    # Every passage's first words stand on its first line in the file.
    source = path.read_text(encoding="utf-8").split("\n")
    for passage in passages:
        assert source[passage.line_start - 1].strip().startswith(passage.text.split()[0])


def test_text_transcript_groups_consecutive_turns_of_one_speaker() -> None:
    path = GOOD / "pairing-transcript.txt"
    [note] = read_note(str(path), path.read_bytes())
    assert spans(segment(note, "s")) == [
        (5, 5, "Ana Ruiz", "Let's start with the deployment manifest."),
        (
            6,
            8,
            "Bo Chen",
            "I never understood readiness probes. They always confuse me. Especially the timeouts.",
        ),
        (9, 9, "Ana Ruiz", "A readiness probe tells the service when to send traffic."),
    ]


def test_vtt_transcript_passages_keep_cue_lines() -> None:
    path = GOOD / "2025-03-14-design-review.vtt"
    [note] = read_note(str(path), path.read_bytes())
    assert [(p.line_start, p.line_end, p.speaker) for p in segment(note, "s")] == [
        (4, 4, "Ana Ruiz"),
        (7, 11, "Bo Chen"),
        (14, 14, "Ana Ruiz"),
    ]


def test_long_paragraph_splits_at_sentence_ends_keeping_line_ranges() -> None:
    note = note_from("Alpha one. Beta two is here.\nGamma three spans\ntwo lines. Delta four.\n")
    assert spans(segment(note, "s", max_chars=30)) == [
        (4, 4, None, "Alpha one. Beta two is here."),
        (5, 6, None, "Gamma three spans two lines."),
        (6, 6, None, "Delta four."),
    ]


def test_short_paragraph_stays_whole() -> None:
    note = note_from("Alpha one. Beta two is here.\nGamma three spans\ntwo lines. Delta four.\n")
    [passage] = segment(note, "s")
    assert (passage.line_start, passage.line_end) == (4, 6)


def test_sentence_longer_than_max_chars_wraps_between_words() -> None:
    words = [f"w{i}" for i in range(60)]
    note = note_from(" ".join(words) + "\n")
    passages = segment(note, "s", max_chars=40)
    assert all(len(p.text) <= 40 for p in passages)
    assert " ".join(p.text for p in passages).split() == words
    assert all((p.line_start, p.line_end) == (4, 4) for p in passages)


def test_word_longer_than_max_chars_is_cut() -> None:
    note = note_from("x" * 120 + "\n")
    assert [len(p.text) for p in segment(note, "s", max_chars=50)] == [50, 50, 20]


def test_long_bullet_group_splits_at_items() -> None:
    note = note_from("- first item here\n- second item here\n- third item here\n")
    assert spans(segment(note, "s", max_chars=40)) == [
        (4, 5, None, "- first item here\n- second item here"),
        (6, 6, None, "- third item here"),
    ]


def test_long_transcript_run_splits_at_turns() -> None:
    text = "Ana: One two three four.\nAna: Five six seven eight.\nAna: Nine ten.\nBo: Ok.\n"
    note = note_from(text, name="t.txt")
    assert spans(segment(note, "s", max_chars=50)) == [
        (4, 5, "Ana", "One two three four. Five six seven eight."),
        (6, 6, "Ana", "Nine ten."),
        (7, 7, "Bo", "Ok."),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n\n- b\n", [(4, 6)]),  # a loose list is still one list
        ("- a\n\n1. b\n", [(4, 4), (6, 6)]),  # bullets then numbers after a blank line are two lists
        ("Para one\n---\nPara two\n", [(4, 4), (6, 6)]),  # a rule separates paragraphs
        ("- a\n***\n- b\n", [(4, 4), (6, 6)]),  # ... and lists
        ("- a\n## Next\n- b\n", [(4, 4), (6, 6)]),
        ("Steps:\n- item\n", [(4, 5)]),  # a lead-in ending in ':' belongs to its list
        ("Intro text.\n- item\n", [(4, 4), (5, 5)]),
        ("Steps:\n\n- item\n", [(4, 4), (6, 6)]),
        ("# Only a heading\n\n## Another\n", []),
        ("- item\ncontinued lazily\n\nNew para\n", [(4, 5), (7, 7)]),
    ],
)
def test_narrative_blocks(text: str, expected: list[tuple[int, int]]) -> None:
    assert [(p.line_start, p.line_end) for p in segment(note_from(text), "s")] == expected


def test_heading_text_is_kept_out_of_passages() -> None:
    note = note_from("# Kubernetes\nProbes matter.\n## Next\nMore.\n")
    assert spans(segment(note, "s")) == [(5, 5, None, "Probes matter."), (7, 7, None, "More.")]


def test_word_document_paragraphs_are_separate_passages() -> None:
    lines = (Line(1, "First paragraph."), Line(2, "Second paragraph."), Line(3, "Steps:"), Line(4, "- one"))
    note = ParsedNote(source="r.docx", date=date(2025, 3, 14), lines=lines)
    assert [(p.line_start, p.line_end) for p in segment(note, "s")] == [(1, 1), (2, 2), (3, 4)]


def test_same_lines_in_a_text_note_form_one_paragraph() -> None:
    lines = (Line(1, "First line"), Line(2, "second line."))
    note = ParsedNote(source="r.md", date=date(2025, 3, 14), lines=lines)
    assert spans(segment(note, "s")) == [(1, 2, None, "First line second line.")]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        segment(note_from("x\n"), "s", max_chars=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**What Priya showed**\n\n- paste rows\n- name columns\n", [(4, 7)]),
        ("**Second part**\nSome text.\n\nPlain.\n", [(4, 5), (7, 7)]),
        ("Text with **bold** inside.\n\nNext.\n", [(4, 4), (6, 6)]),
    ],
)
def test_bold_lead_in_lines_join_what_follows(text: str, expected: list[tuple[int, int]]) -> None:
    assert [(p.line_start, p.line_end) for p in segment(note_from(text), "s")] == expected
