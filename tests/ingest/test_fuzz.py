"""Property tests: whatever bytes arrive, each parser returns notes (or people) or raises its own error.

A crash (any other exception) in a reader would abort a whole ingest batch, so every parser is fed
random bytes, random text inside a valid wrapper, and random metadata values. Notes that do parse
are segmented too, and their passages must stay inside the note's lines and within max_chars.
"""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from xml.sax.saxutils import escape

import docx
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.readers import KNOWN_KEYS, read_note
from ingest.roster import COLUMNS, read_roster
from ingest.segment import segment
from mentorkb.errors import NoteFormatError, RosterError
from models import ParsedNote, Person

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MAX_CHARS = 80
SUFFIXES = [".md", ".markdown", ".txt", ".vtt", ".docx", ".jsonl"]


def text(max_size: int) -> st.SearchStrategy[str]:
    """Any Unicode text that can be UTF-8 encoded; an explicit alphabet spares Hypothesis a slow codec scan."""
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=max_size)


# Text that python-docx can store (XML 1.0 forbids most control characters).
xml_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00\x0b\x0c")
    .filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20)
    .filter(lambda c: c not in "\ufffe\uffff"),
    max_size=200,
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text(30), st.dates())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text(8), inner, max_size=4)),
    max_leaves=6,
)
metadata = st.dictionaries(st.sampled_from([*KNOWN_KEYS, "other"]), values, max_size=6)
note_lines = st.lists(
    st.one_of(
        text(60),
        st.builds(lambda name, text: f"{name}: {text}", st.sampled_from(["Ana", "Bo Chen", "x"]), text(40)),
        st.sampled_from(["", "# Heading", "- item", "1. step", "---", "Steps:", "   indented"]),
    ),
    max_size=10,
)


def parse_and_segment(source: str, data: bytes, **kwargs: object) -> None:
    """The property: notes or NoteFormatError, and sound passages for every note."""
    try:
        notes = read_note(source, data, **kwargs)
    except NoteFormatError as error:
        assert str(error).startswith(source.split("#")[0])
        return
    assert isinstance(notes, list)
    for note in notes:
        assert isinstance(note, ParsedNote)
        check_passages(note)


def check_passages(note: ParsedNote) -> None:
    numbers = {line.number for line in note.lines}
    for ordinal, passage in enumerate(segment(note, "fuzz", max_chars=MAX_CHARS)):
        assert passage.ordinal == ordinal
        assert passage.line_start <= passage.line_end
        assert passage.line_start in numbers
        assert passage.line_end in numbers
        assert 0 < len(passage.text) <= MAX_CHARS


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_any_bytes(data: bytes, suffix: str) -> None:
    parse_and_segment(f"notes/2025-03-14-x{suffix}", data, mtime=0.0)


@FUZZ
@given(lines=note_lines, suffix=st.sampled_from([".md", ".txt"]))
def test_text_in_valid_front_matter(lines: list[str], suffix: str) -> None:
    body = "\n".join(lines)
    parse_and_segment(f"n{suffix}", f"---\ndate: 2025-03-14\ntitle: t\n---\n{body}".encode())


@FUZZ
@given(meta=metadata, suffix=st.sampled_from([".md", ".txt"]))
def test_any_metadata_values(meta: dict, suffix: str) -> None:
    front = yaml.safe_dump(meta, allow_unicode=True)
    parse_and_segment(f"n{suffix}", f"---\n{front}---\nSome text.\n".encode(), defaults={"date": "2025-01-01"})


@FUZZ
@given(text=text(300))
def test_any_text_after_front_matter_markers(text: str) -> None:
    parse_and_segment("n.md", f"---\n{text}".encode())


@FUZZ
@given(
    cues=st.lists(
        st.tuples(st.sampled_from(["Ana", "Bo Chen", "", "  "]), text(80)),
        max_size=8,
    ),
    header=st.sampled_from(["", "NOTE\ndate: 2025-03-14\n\n", "NOTE\ntitle: [x\n\n", "NOTE just a comment\n\n"]),
)
def test_vtt_cues_with_any_text(cues: list[tuple[str, str]], header: str) -> None:
    blocks = [f"00:00:{i:02d}.000 --> 00:00:{i + 1:02d}.000\n<v {who}>{text}" for i, (who, text) in enumerate(cues)]
    data = ("WEBVTT\n\n" + header + "\n\n".join(blocks)).encode()
    parse_and_segment("2025-03-14-call.vtt", data)


@FUZZ
@given(text=text(300))
def test_vtt_any_text_after_header(text: str) -> None:
    parse_and_segment("call.vtt", f"WEBVTT\n\n{text}".encode(), mtime=1_700_000_000.0)


@FUZZ
@given(
    records=st.lists(
        st.one_of(
            text(80),
            st.fixed_dictionaries({"text": text(80)}, optional={"date": values, "mentors": values, "type": values}),
        ),
        max_size=5,
    )
)
def test_jsonl_any_records(records: list) -> None:
    lines = [r if isinstance(r, str) else json.dumps(r, default=str) for r in records]
    parse_and_segment("batch.jsonl", "\n".join(lines).encode(), defaults={"date": "2025-01-01"})


def docx_bytes(paragraphs: list[str]) -> bytes:
    """A .docx with these paragraphs: the template package with its document part rewritten (fast)."""
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>' for text in paragraphs)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(TEMPLATE)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            blob = source.read(item)
            if item.filename == "word/document.xml":
                start, end = blob.index(b"<w:body>"), blob.rindex(b"</w:body>") + len(b"</w:body>")
                blob = blob[:start] + f"<w:body>{body}</w:body>".encode() + blob[end:]
            target.writestr(item.filename, blob)  # stored, not deflated: faster to build
    return out.getvalue()


def _template() -> bytes:
    buffer = io.BytesIO()
    docx.Document().save(buffer)
    return buffer.getvalue()


TEMPLATE = _template()
VALID_DOCX = docx_bytes(["date: 2025-03-14", "", "Body text."])


@settings(FUZZ, max_examples=100)
@given(paragraphs=st.lists(st.one_of(xml_text, st.sampled_from(["date: 2025-03-14", "type: x", ""])), max_size=8))
def test_docx_any_paragraphs(paragraphs: list[str]) -> None:
    parse_and_segment("r.docx", docx_bytes(paragraphs))


@settings(FUZZ, max_examples=100)
@given(seed=st.integers(0, 2**32), flips=st.integers(1, 20))
def test_docx_corrupted_package(seed: int, flips: int) -> None:
    rng = random.Random(seed)
    data = bytearray(VALID_DOCX)
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    parse_and_segment("r.docx", bytes(data))


@FUZZ
@given(data=st.binary(max_size=400))
def test_roster_any_bytes(data: bytes) -> None:
    try:
        people = read_roster("people.csv", data)
    except RosterError as error:
        assert str(error).startswith("people.csv")
        return
    assert all(isinstance(person, Person) for person in people)


@FUZZ
@given(rows=st.lists(st.lists(text(12), max_size=9), max_size=6))
def test_roster_any_rows(rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    try:
        people = read_roster("people.csv", buffer.getvalue().encode())
    except RosterError as error:
        assert str(error).startswith("people.csv")
        return
    assert all(person.id and person.name for person in people)
