"""Readers per format: good fixtures give the expected metadata, lines and speakers; bad input is refused clearly."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime
from pathlib import Path

import docx
import pytest

from ingest.readers import SUPPORTED_SUFFIXES, read_note, validate_metadata
from mentorkb.errors import NoteFormatError
from models import SessionType, Visibility

DATA = Path(__file__).resolve().parents[1] / "data"
GOOD = DATA / "good"
BAD = DATA / "bad"


def read(path: Path, **kwargs: object) -> list:
    """Read a fixture the way the pipeline does: its path as source, its bytes."""
    return read_note(str(path), path.read_bytes(), **kwargs)


def make_docx(paragraphs: list[str | tuple[str, str]]) -> bytes:
    """A .docx whose paragraphs are the given texts, or (text, style name) pairs."""
    document = docx.Document()
    for paragraph in paragraphs:
        text, style = paragraph if isinstance(paragraph, tuple) else (paragraph, None)
        if style and style.startswith("Heading"):
            document.add_heading(text, level=int(style.split()[-1]))
        else:
            document.add_paragraph(text, style=style)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ good files


def test_markdown_metadata_and_lines() -> None:
    path = GOOD / "career-chat.md"
    [note] = read(path)
    assert note.source == str(path)
    assert note.date == date(2025, 3, 14)
    assert note.title == "Career chat with Ana"
    assert note.type is SessionType.TRADITIONAL
    assert note.mentors == ("ana-ruiz",)
    assert note.mentees == ("bo.chen@example.org",)
    assert note.participants == ()
    assert note.visibility is Visibility.TOPICS_ONLY
    assert note.tags == ("career", "staff engineering")
    assert note.id is None
    assert not note.is_transcript
    assert note.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    # Body starts after the front matter, numbered as in the file.
    assert note.lines[0].number == 12
    assert note.lines[0].text == "# Moving towards staff"


@pytest.mark.parametrize("name", ["career-chat.md", "pairing-transcript.txt", "retro-notes.txt"])
def test_line_numbers_point_at_the_source_line(name: str) -> None:
    path = GOOD / name
    source_lines = path.read_text(encoding="utf-8").split("\n")
    [note] = read(path)
    for line in note.lines:
        assert line.text in source_lines[line.number - 1]


def test_unknown_key_is_a_notice_not_an_error() -> None:
    [note] = read(GOOD / "career-chat.md")
    # The pipeline prefixes each notice with the note's source, so the notice gives only the line.
    assert note.notices == (
        "line 9: unknown metadata key 'mood' ignored (known keys: date, title, type, mentors, mentees, "
        "participants, visibility, tags, id)",
    )


def test_misspelt_key_notice_suggests_the_known_one() -> None:
    [note] = read_note("n.md", b"---\ndate: 2025-03-14\nmentor: ana\n---\nText.\n")
    assert note.mentors == ()
    assert "did you mean 'mentors'" in note.notices[0]


def test_html_and_script_tags_are_kept_verbatim() -> None:
    [note] = read(GOOD / "career-chat.md")
    assert any('<script>alert("hi")</script>' in line.text for line in note.lines)


def test_text_transcript_speakers_and_continuations() -> None:
    [note] = read(GOOD / "pairing-transcript.txt")
    assert note.is_transcript
    assert [(line.number, line.speaker, line.text) for line in note.lines] == [
        (5, "Ana Ruiz", "Let's start with the deployment manifest."),
        (6, "Bo Chen", "I never understood readiness probes."),
        (7, "Bo Chen", "They always confuse me."),
        (8, "Bo Chen", "Especially the timeouts."),
        (9, "Ana Ruiz", "A readiness probe tells the service when to send traffic."),
    ]
    # The front matter names nobody, so the speakers become participants.
    assert note.participants == ("Ana Ruiz", "Bo Chen")
    assert note.mentors == note.mentees == ()


def test_transcript_speakers_do_not_override_named_people() -> None:
    data = b"---\ndate: 2025-03-14\nmentors: ana-ruiz\n---\nAna: Hello.\nBo: Hi there.\n"
    [note] = read_note("t.txt", data)
    assert note.is_transcript
    assert note.mentors == ("ana-ruiz",)
    assert note.participants == ()


def test_text_mostly_without_speakers_is_a_narrative_note() -> None:
    [note] = read(GOOD / "retro-notes.txt")
    assert not note.is_transcript
    assert all(line.speaker is None for line in note.lines)
    assert note.participants == ("ana-ruiz", "bo-chen", "cy")
    assert note.type is SessionType.GROUP


def test_vtt_export_without_metadata_takes_date_from_file_name() -> None:
    [note] = read(GOOD / "2025-03-14-design-review.vtt")
    assert note.date == date(2025, 3, 14)
    assert note.is_transcript
    assert note.notices == ()
    assert [(line.number, line.speaker, line.text) for line in note.lines] == [
        (4, "Ana Ruiz", "Welcome to the design review."),
        (7, "Bo Chen", "Thanks. I want feedback on the <cache> layer."),
        (8, "Bo Chen", "It keeps timing out."),
        (11, "Bo Chen", "Especially under load."),
        (14, "Ana Ruiz", "Let's look at the eviction policy."),
    ]
    assert note.participants == ("Ana Ruiz", "Bo Chen")
    assert note.type is SessionType.PEER


@pytest.mark.parametrize("name", ["standup-2025-03-14.vtt", "20250314-standup.vtt", "rec_2025_03_14.vtt"])
def test_vtt_date_forms_in_file_name(name: str) -> None:
    data = (GOOD / "2025-03-14-design-review.vtt").read_bytes()
    [note] = read_note(f"exports/{name}", data, mtime=0.0)
    assert note.date == date(2025, 3, 14)


def test_vtt_date_from_mtime_comes_with_a_notice() -> None:
    data = (GOOD / "2025-03-14-design-review.vtt").read_bytes()
    mtime = datetime(2024, 11, 5, 12, 0).timestamp()
    [note] = read_note("exports/meeting.vtt", data, mtime=mtime, defaults={"date": "2020-01-01"})
    assert note.date == date(2024, 11, 5)
    assert note.notices == (
        "date 2024-11-05 taken from the file's modification time (put the date in the file name, "
        "e.g. 2025-03-14-standup.vtt, or in a NOTE block to set it)",
    )


def test_vtt_date_from_defaults_and_other_defaults() -> None:
    data = (GOOD / "2025-03-14-design-review.vtt").read_bytes()
    [note] = read_note("meeting.vtt", data, defaults={"date": "2025-06-01", "visibility": "private", "tags": ["infra"]})
    assert note.date == date(2025, 6, 1)
    assert note.visibility is Visibility.PRIVATE
    assert note.tags == ("infra",)
    assert note.notices == ()


def test_vtt_without_any_date_is_refused() -> None:
    data = (GOOD / "2025-03-14-design-review.vtt").read_bytes()
    with pytest.raises(NoteFormatError) as info:
        read_note("meeting.vtt", data)
    assert info.value.field == "date"
    assert "meeting.vtt" in str(info.value)
    assert "file name" in str(info.value)


def test_vtt_note_block_carries_metadata() -> None:
    [note] = read(GOOD / "export.vtt")
    assert note.date == date(2025, 5, 1)
    assert note.title == "Flash session on SQL"
    assert note.type is SessionType.FLASH
    assert note.mentors == ("cy",)
    assert note.participants == ()  # people were named, so speakers do not become participants
    assert [(line.number, line.speaker) for line in note.lines] == [(10, "Cy")]


def test_docx_metadata_block_and_paragraph_numbers() -> None:
    data = make_docx(
        [
            "Date: 2025-03-14",
            "Type: reverse",
            "Mentors: [bo-chen]",
            "Mentees: ana-ruiz",
            "",
            ("Prompting", "Heading 1"),
            "Bo showed how to write prompts.",
            ("Check outputs", "List Bullet"),
        ]
    )
    [note] = read_note("review.docx", data)
    assert note.date == date(2025, 3, 14)
    assert note.type is SessionType.REVERSE
    assert note.mentors == ("bo-chen",)
    assert note.mentees == ("ana-ruiz",)
    assert note.title == "Prompting"  # no title given: the first heading
    assert [(line.number, line.text) for line in note.lines] == [
        (6, "# Prompting"),
        (7, "Bo showed how to write prompts."),
        (8, "- Check outputs"),
    ]
    assert note.content_hash == hashlib.sha256(data).hexdigest()


def test_docx_without_metadata_uses_defaults() -> None:
    data = make_docx(["Notes from our chat: it went well.", "Second paragraph."])
    [note] = read_note("chat.docx", data, defaults={"date": date(2025, 1, 2)})
    assert note.date == date(2025, 1, 2)
    assert [line.number for line in note.lines] == [1, 2]


def test_jsonl_one_note_per_record() -> None:
    path = GOOD / "sessions.jsonl"
    raw_lines = path.read_bytes().split(b"\n")
    first, second = read(path)
    assert first.source == f"{path}#1"
    assert second.source == f"{path}#3"
    assert first.type is SessionType.REVERSE
    assert first.mentors == ("bo-chen",)
    assert [(line.number, line.text) for line in first.lines] == [
        (1, "Bo showed prompt patterns."),
        (2, "Ana asked about evaluation."),
    ]
    assert second.id == "swap-7"
    assert second.participants == ("cy",)
    assert second.tags == ("sql", "go")
    assert first.notices == second.notices == ()
    assert first.content_hash == hashlib.sha256(raw_lines[0]).hexdigest()
    assert second.content_hash == hashlib.sha256(raw_lines[2]).hexdigest()


def test_jsonl_unknown_key_notice() -> None:
    [note] = read_note("b.jsonl", b'{"date": "2025-03-14", "text": "x", "room": "4B"}\n')
    assert note.notices == (
        "unknown metadata key 'room' ignored (known keys: date, title, type, mentors, mentees, "
        "participants, visibility, tags, id)",
    )


def test_defaults_fill_only_what_the_file_does_not_set() -> None:
    data = b"---\ndate: 2025-03-14\ntype: flash\n---\nText.\n"
    [note] = read_note("n.md", data, defaults={"date": "2020-01-01", "type": "group", "title": "From form"})
    assert note.date == date(2025, 3, 14)
    assert note.type is SessionType.FLASH
    assert note.title == "From form"


def test_missing_date_filled_by_defaults() -> None:
    [note] = read(BAD / "missing-date.md", defaults={"date": "2025-01-31"})
    assert note.date == date(2025, 1, 31)


@pytest.mark.parametrize(
    "data", [b"---\r\ndate: 2025-03-14\r\n---\r\nA\r\nB\r\n", b"\xef\xbb\xbf---\ndate: 2025-03-14\n---\nA\nB\n"]
)
def test_crlf_and_byte_order_mark(data: bytes) -> None:
    [note] = read_note("n.md", data)
    assert [(line.number, line.text) for line in note.lines] == [(4, "A"), (5, "B")]


def test_extremely_long_line_is_fine() -> None:
    data = b"---\ndate: 2025-03-14\n---\n" + b"word " * 200_000 + b"\n"
    [note] = read_note("long.md", data)
    assert len(note.lines) == 1
    assert len(note.lines[0].text) == 1_000_000


@pytest.mark.parametrize(("depth", "ok"), [(20, True), (21, False)])
def test_yaml_nesting_limit(depth: int, ok: bool) -> None:
    # The front matter mapping is the first level; the lists inside it make up the rest.
    lists = depth - 1
    data = b"---\ndate: 2025-03-14\nextra: " + b"[" * lists + b"]" * lists + b"\n---\nText.\n"
    if ok:
        [note] = read_note("n.md", data)
        assert "extra" in note.notices[0]
    else:
        with pytest.raises(NoteFormatError, match="nested more than 20 levels"):
            read_note("n.md", data)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_suffix_is_matched_case_insensitively(suffix: str) -> None:
    with pytest.raises(NoteFormatError) as info:
        read_note(f"NOTES{suffix.upper()}", b"")
    assert "empty" in str(info.value)  # reached the content checks, so the suffix was accepted


# ------------------------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("name", "problem", "line", "field"),
    [
        ("broken-yaml.md", "broken YAML", 3, None),
        ("missing-date.md", "no date", None, "date"),
        ("impossible-date.md", "'2025-02-31' is not a real date", 3, "date"),
        ("impossible-dmy-date.md", "'31/02/2025' is not a real date", 2, "date"),
        ("dmy-date.md", "not an ISO date", 3, "date"),
        ("unknown-type.md", "unknown value 'lecture'", 3, "type"),
        ("unknown-visibility.md", "unknown value 'secret'", 3, "visibility"),
        ("mentors-number.md", "not the number 42", 3, "mentors"),
        ("mentees-mapping.md", "not a mapping", 3, "mentees"),
        ("latin1.md", "not valid UTF-8", 4, None),
        ("empty.md", "empty", None, None),
        ("binary.txt", "binary", None, None),
        ("not-a-mapping.md", "not key: value pairs", 2, None),
        ("deep-nesting.md", "nested more than 20 levels", 3, None),
        ("alias-bomb.md", "aliases", 3, None),
        ("notes.pdf", "unsupported file type '.pdf'", None, None),
        ("not-json.jsonl", "not valid JSON", 2, None),
        ("no-text.jsonl", "no 'text'", 3, "text"),
        ("not-webvtt.vtt", "not a WebVTT file", 1, None),
        ("broken.docx", "not a readable .docx", None, None),
    ],
)
def test_bad_file_is_refused_with_file_problem_and_place(
    name: str, problem: str, line: int | None, field: str | None
) -> None:
    path = BAD / name
    with pytest.raises(NoteFormatError) as info:
        read(path)
    error = info.value
    message = str(error)
    assert str(path) in message
    assert problem in message
    assert error.line == line
    assert error.field == field
    if line is not None:
        assert f"{path}:{line}" in message
    assert error.fix
    assert "Fix:" in message


@pytest.mark.parametrize(
    ("name", "fix"),
    [
        ("dmy-date.md", "2025-03-14"),
        ("unknown-type.md", "traditional, reverse, peer, flash, skill-swap, group"),
        ("unknown-visibility.md", "program, topics-only, private"),
        ("latin1.md", "UTF-8"),
        ("broken-yaml.md", "YAML"),
    ],
)
def test_fix_says_what_to_write(name: str, fix: str) -> None:
    with pytest.raises(NoteFormatError) as info:
        read(BAD / name)
    assert fix in (info.value.fix or "")


def test_non_utf8_names_the_byte_offset() -> None:
    data = (BAD / "latin1.md").read_bytes()
    with pytest.raises(NoteFormatError) as info:
        read(BAD / "latin1.md")
    assert f"byte offset {data.index(0xE9)}" in str(info.value)


def test_utf16_file_is_told_to_be_saved_as_utf8() -> None:
    with pytest.raises(NoteFormatError) as info:
        read_note("n.md", "---\ndate: 2025-03-14\n---\nHi\n".encode("utf-16"))
    assert "UTF-16" in str(info.value)
    assert info.value.fix == "save the file as UTF-8"


def test_file_over_the_size_limit() -> None:
    with pytest.raises(NoteFormatError) as info:
        read_note("big.md", b"---\ndate: 2025-03-14\n---\n" + b"x" * 200, max_bytes=100)
    assert "over the limit of 100" in str(info.value)
    assert "big.md" in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("04/03/2025", "2025-03-04 (day first) or 2025-04-03 (month first)"),
        ("March 14, 2025", "2025-03-14"),
        ("14 Mar 2025", "2025-03-14"),
        ("2025/3/14", "2025-03-14"),
        ("20250314", "2025-03-14"),
        ("last tuesday", "YYYY-MM-DD"),
    ],
)
def test_non_iso_date_suggests_the_iso_form(text: str, problem: str) -> None:
    with pytest.raises(NoteFormatError) as info:
        validate_metadata({"date": text}, source="n.md", line=2)
    assert "not an ISO date" in str(info.value)
    assert problem in (info.value.fix or "")
    assert str(info.value).startswith("n.md:2: field 'date'")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"---\ndate: 2025-03-14\n---\n\n\n", "no note text"),
        (b"---\ndate: 2025-03-14\ntitle: x\n", "never closed"),
        (b"---\ndate: !!python/object:os.system ls\n---\nx\n", "tag"),
        (b"---\ndate: 2025-03-14\nx: 0x_\n---\nx\n", "cannot be read"),
        (b"---\ndate: [2025-03-14]\n---\nx\n", "must be a date"),
        (b"---\ndate: 2025-03-14\nid: {a: 1}\n---\nx\n", "must be text"),
        (b"---\ndate: 2025-03-14\nmentors: [ana, 7]\n---\nx\n", "item 2"),
        (b"---\ndate: 2025-03-14\nparticipants: 3.5\n---\nx\n", "number"),
        (b"---\ndate: 2025-03-14\n" + b"tags: [a, b]\n" * 10_000 + b"---\nx\n", "over the limit of 64,000"),
    ],
)
def test_more_bad_markdown(data: bytes, problem: str) -> None:
    with pytest.raises(NoteFormatError) as info:
        read_note("n.md", data)
    assert problem in str(info.value)
    assert str(info.value).startswith("n.md")


@pytest.mark.parametrize(
    ("data", "problem", "line"),
    [
        (b'{"date": "2025-03-14", "text": "a"}\n[1, 2]\n', "not a JSON object", 2),
        (b'{"date": "2025-03-14", "text": ""}\n', "'text' is empty", 1),
        (b'{"date": "2025-03-14", "text": 5}\n', "must be text", 1),
        (b'{"text": "a"}\n', "no date", 1),
        (b'{"date": "2025-03-14", "text": "a", "type": "x"}\n', "unknown value 'x'", 1),
        (b"[" * 50_000 + b"\n", "nested too deeply", 1),
    ],
)
def test_bad_jsonl_record_rejects_file_with_its_line(data: bytes, problem: str, line: int) -> None:
    with pytest.raises(NoteFormatError) as info:
        read_note("batch.jsonl", data)
    assert problem in str(info.value)
    assert info.value.source == "batch.jsonl"
    assert info.value.line == line


def test_bad_docx_metadata_names_the_paragraph() -> None:
    data = make_docx(["date: 2025-03-14", "visibility: everyone", "", "Body."])
    with pytest.raises(NoteFormatError) as info:
        read_note("r.docx", data)
    assert info.value.line == 2
    assert info.value.field == "visibility"


# -------------------------------------------------------------------------------------- validate_metadata


def test_validate_metadata_normalises() -> None:
    meta = validate_metadata(
        {
            "Date": "2025-03-14T09:30:00",
            "type": "Skill Swap",
            "visibility": "topics_only",
            "mentors": "ana",
            "mentees": ["bo", " bo ", ""],
            "tags": ["python", 2025],
            "id": 17,
            "title": None,
            "colour": "blue",
        },
        source="form",
    )
    assert meta == {
        "date": date(2025, 3, 14),
        "type": SessionType.SKILL_SWAP,
        "visibility": Visibility.TOPICS_ONLY,
        "mentors": ("ana",),
        "mentees": ("bo",),
        "tags": ("python", "2025"),
        "id": "17",
    }
