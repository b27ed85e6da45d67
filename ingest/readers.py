"""Readers per format: the bytes of one file -> validated `ParsedNote`s.

Every reader is a pure function of the file's name and bytes (plus an optional modification time
and upload-form defaults), so the CLI, the upload page and the tests share one code path. Bad input
raises `NoteFormatError` naming the file, the line or field, and the fix; nothing else escapes.

Line numbers are 1-based and count every line of the source file (front matter included), so a
citation points at the real line. Line breaks are LF, CRLF or CR, as editors count them.
"""

from __future__ import annotations

import calendar
import difflib
import hashlib
import html
import io
import json
import re
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from mentorkb.errors import NoteFormatError
from models import Line, ParsedNote, SessionType, Visibility

SUPPORTED_SUFFIXES: tuple[str, ...] = (".md", ".markdown", ".txt", ".vtt", ".docx", ".jsonl")
KNOWN_KEYS: tuple[str, ...] = (
    "date",
    "title",
    "type",
    "mentors",
    "mentees",
    "participants",
    "visibility",
    "tags",
    "id",
)
PEOPLE_KEYS: tuple[str, ...] = ("mentors", "mentees", "participants")

_MAX_YAML_DEPTH = 20
# Metadata is a few lines; a bound keeps YAML parsing cheap whatever a file holds.
_MAX_YAML_CHARS = 64_000
# A .docx is a zip; refuse one that inflates far beyond the byte limit (a zip bomb) before parsing it.
_DOCX_INFLATE_FACTOR = 20
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?P<time>[T ].+)?")
_NUMERIC_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_NUMERIC_YMD = re.compile(r"(\d{4})[/._-](\d{1,2})[/._-](\d{1,2})|(\d{4})(\d{2})(\d{2})")
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\.?\s+([A-Za-z]+)\.?,?\s+(\d{4})", re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(r"([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.IGNORECASE)
# A WebVTT cue timing line: "[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm [settings]". The spec forbids "-->" anywhere else.
_CUE_TIMING = re.compile(r"\s*(?:\d+:)?\d{2}:\d{2}\.\d{3}[ \t]+-->[ \t]+(?:\d+:)?\d{2}:\d{2}\.\d{3}(?:[ \t].*)?")
_FILENAME_DATE = re.compile(r"(?<!\d)(\d{4})([-_]?)(\d{2})\2(\d{2})(?!\d)")
# "Ana Ruiz: text", optionally after a "[00:01:02]" stamp; the name starts with a letter and has at most
# four words, so times ("10:30") and URLs ("https://") are not mistaken for speakers.
_TURN = re.compile(
    r"\s*(?:\[[\d:.,]+\]\s*)?(?P<name>[^\W\d_][\w.'’-]*(?:[ \t]+[\w.'’-]+){0,3})[ \t]*:(?:[ \t]+(?P<text>.*)|[ \t]*$)"
)
# A `key: value` line of a .docx metadata block or a .vtt NOTE block.
_KEY_VALUE = re.compile(r"\s*(?P<key>[A-Za-z_][\w-]*)[ \t]*:(?:[ \t]+(?P<value>.*)|[ \t]*$)")
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name} | {
    name.lower(): i for i, name in enumerate(calendar.month_abbr) if name
}


# libyaml's safe loader when PyYAML was built with it: the same safe constructors, many times faster
# on large front matter than the pure-Python parser.
_SafeBase: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _MetadataLoader(_SafeBase):  # type: ignore[misc, valid-type]
    """Safe loader that keeps dates as text, so validation can say exactly what is wrong with them."""


_MetadataLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


@dataclass(frozen=True)
class _Header:
    """Metadata found inside a file: raw values, the line of each key, and remarks for the report."""

    values: dict[str, Any] = field(default_factory=dict)
    key_lines: dict[str, int] = field(default_factory=dict)
    notices: tuple[str, ...] = ()


def read_note(
    source: str,
    data: bytes,
    *,
    max_bytes: int = 5_000_000,
    mtime: float | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> list[ParsedNote]:
    """Parse one file's bytes into notes (one per file; one per line for .jsonl). Raises NoteFormatError.

    Args:
        source: the path as given; shown in citations and error messages, and its suffix picks the format.
        data: the file's raw bytes.
        max_bytes: files larger than this are refused.
        mtime: the file's modification time, the last resort for a .vtt export's date.
        defaults: metadata from an upload form; fills keys the file does not set.

    Each Line.number is the 1-based line in the source file (front matter counted); for .docx it is
    the 1-based paragraph index, and for .jsonl the line within the record's `text`.
    """
    suffix = PurePath(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise NoteFormatError(
            f"unsupported file type '{suffix or '(none)'}'",
            source=source,
            fix=f"save the note as one of: {', '.join(SUPPORTED_SUFFIXES)}",
        )
    if len(data) > max_bytes:
        raise NoteFormatError(
            f"file is {len(data):,} bytes, over the limit of {max_bytes:,}",
            source=source,
            fix="split it into smaller files or raise the max_file_bytes setting",
        )
    if not data.strip():
        raise NoteFormatError("file is empty", source=source, fix="write the session notes into the file")
    base = validate_metadata(defaults or {}, source=source)
    if suffix == ".docx":
        return [_read_docx(source, data, base, max_bytes)]
    text = _decode(source, data)
    if suffix == ".jsonl":
        return _read_jsonl(source, text, base)
    if suffix == ".vtt":
        return [_read_vtt(source, text, _sha256(data), base, mtime)]
    return [_read_text(source, text, _sha256(data), base, transcripts=suffix == ".txt")]


def validate_metadata(meta: Mapping[str, Any], *, source: str, line: int | None = None) -> dict[str, Any]:
    """Check and normalise the metadata keys (date, title, type, mentors, mentees, participants, visibility, tags, id).

    Keys are matched case-insensitively. Only the known keys that carry a value come back (unknown keys
    are left out; `read_note` reports them as notices), so the result can be laid over defaults.
    Values come back as: date -> `date`, type -> `SessionType`, visibility -> `Visibility`, people and
    tags -> tuples of str, title -> str, id -> str.
    """
    return _validate(meta, source=source, key_lines={}, default_line=line)


def _validate(
    meta: Mapping[str, Any], *, source: str, key_lines: Mapping[str, int], default_line: int | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in meta.items():
        key = _key_name(raw_key)
        if key not in KNOWN_KEYS or value is None:
            continue
        where = {"source": source, "line": key_lines.get(key, default_line), "field": key}
        if key == "date":
            out[key] = _parse_date(value, where)
        elif key == "type":
            out[key] = _parse_choice(value, SessionType, where)
        elif key == "visibility":
            out[key] = _parse_choice(value, Visibility, where)
        elif key in PEOPLE_KEYS:
            out[key] = _parse_people(value, where)
        elif key == "tags":
            out[key] = _parse_tags(value, where)
        else:
            text = _parse_text(value, where)
            if key == "title" or text:
                out[key] = text
    return out


def _key_name(key: object) -> str:
    return key.strip().lower() if isinstance(key, str) else str(key)


def _parse_date(value: Any, where: dict[str, Any]) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise NoteFormatError(
            f"must be a date like 2025-03-14, not {_describe(value)}", **where, fix="write the date as YYYY-MM-DD"
        )
    text = str(value).strip()
    iso = _ISO_DATE.fullmatch(text)
    if iso:
        try:
            parsed = date(int(iso[1]), int(iso[2]), int(iso[3]))
        except ValueError as exc:
            raise NoteFormatError(
                f"'{text}' is not a real date ({exc})", **where, fix="check the day and month (YYYY-MM-DD)"
            ) from exc
        if iso["time"] is None or _is_iso_datetime(text):
            return parsed
    readings, recognised = _date_readings(text)
    if recognised and not readings:
        raise NoteFormatError(
            f"'{text}' is not a real date", **where, fix="check the day and month, and write it as YYYY-MM-DD"
        )
    if len(readings) == 1:
        fix = f"write it as {readings[0].isoformat()} (YYYY-MM-DD)"
    elif readings:
        fix = (
            f"write it as YYYY-MM-DD: {readings[0].isoformat()} (day first) or {readings[1].isoformat()} (month first)"
        )
    else:
        fix = "write the date as YYYY-MM-DD, e.g. 2025-03-14"
    raise NoteFormatError(f"'{text}' is not an ISO date", **where, fix=fix)


def _is_iso_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _date_readings(text: str) -> tuple[list[date], bool]:
    """The real dates a non-ISO date could mean, and whether its shape was recognised at all."""
    candidates: list[tuple[int, int, int]] = []
    if m := _NUMERIC_DMY.fullmatch(text):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
        candidates = [(year, month, day), (year, day, month)]
    elif m := _NUMERIC_YMD.fullmatch(text):
        parts = [g for g in m.groups() if g is not None]
        candidates = [(int(parts[0]), int(parts[1]), int(parts[2]))]
    elif (m := _DAY_MONTH_YEAR.fullmatch(text)) and m[2].lower() in _MONTHS:
        candidates = [(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))]
    elif (m := _MONTH_DAY_YEAR.fullmatch(text)) and m[1].lower() in _MONTHS:
        candidates = [(int(m[3]), _MONTHS[m[1].lower()], int(m[2]))]
    readings: list[date] = []
    for year, month, day in candidates:
        try:
            reading = date(year, month, day)
        except ValueError:
            continue
        if reading not in readings:
            readings.append(reading)
    return readings, bool(candidates)


def _parse_choice(value: Any, enum: type[SessionType] | type[Visibility], where: dict[str, Any]) -> Any:
    allowed = ", ".join(member.value for member in enum)
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        wanted = re.sub(r"[\s_]+", "-", value.strip().lower())
        for member in enum:
            if member.value == wanted:
                return member
        problem = f"unknown value '{value}'"
    else:
        problem = f"must be one word, not {_describe(value)}"
    raise NoteFormatError(problem, **where, fix=f"use one of: {allowed}")


def _parse_people(value: Any, where: dict[str, Any]) -> tuple[str, ...]:
    fix = "name people by roster id, email or full name: one name, or a list like [ana, bo@example.org]"
    if isinstance(value, str):
        items: Sequence[Any] = [value]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise NoteFormatError(f"must be a name or a list of names, not {_describe(value)}", **where, fix=fix)
    names: list[str] = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise NoteFormatError(
                f"item {position} must be a name, not {_describe(item)}",
                **where,
                fix=fix + " (put an id made of digits in quotes)",
            )
        if item.strip():
            names.append(item.strip())
    return tuple(dict.fromkeys(names))


def _parse_tags(value: Any, where: dict[str, Any]) -> tuple[str, ...]:
    if isinstance(value, str):
        items: Sequence[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = [value]
    tags: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise NoteFormatError(
                f"each tag must be a word, not {_describe(item)}",
                **where,
                fix="write tags as a list like [python, career]",
            )
        if str(item).strip():
            tags.append(str(item).strip())
    return tuple(dict.fromkeys(tags))


def _parse_text(value: Any, where: dict[str, Any]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise NoteFormatError(f"must be text, not {_describe(value)}", **where, fix="write it as text in quotes")
    return str(value).strip()


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the yes/no value {value}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, Mapping):
        return "a mapping (key: value pairs)"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value[:40]}'"
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------------------------------------- bytes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decode(source: str, data: bytes) -> str:
    """UTF-8 text with line breaks normalised to LF, after refusing binary files."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise NoteFormatError("is saved as UTF-16 text", source=source, fix="save the file as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise NoteFormatError(
            f"looks like a binary file (NUL byte at byte offset {nul})",
            source=source,
            fix="export the note as plain UTF-8 text (.md, .txt, .vtt) or as .docx",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NoteFormatError(
            f"is not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte offset {exc.start})",
            source=source,
            line=line,
            fix="save the file as UTF-8",
        ) from exc
    return "\n".join(_LINE_BREAK.split(text))


# ----------------------------------------------------------------------------------------------- YAML


def _load_yaml(source: str, text: str, first_line: int) -> tuple[Any, dict[str, int]]:
    """Safely load YAML whose first line is line `first_line` of the source; refuse aliases, tags, deep nesting.

    Returns the data and, when it is a mapping, the source line of each top-level key.
    """

    def fail(problem: str, mark: yaml.Mark | None, fix: str) -> NoteFormatError:
        return NoteFormatError(problem, source=source, line=first_line + (mark.line if mark else 0), fix=fix)

    if len(text) > _MAX_YAML_CHARS:
        raise NoteFormatError(
            f"metadata is {len(text):,} characters long, over the limit of {_MAX_YAML_CHARS:,}",
            source=source,
            line=first_line,
            fix="keep the metadata to a few key: value lines and put the note text after it",
        )
    try:
        depth = 0
        # Scan events before building anything: this refuses alias bombs and deep nesting cheaply,
        # and PyYAML's composer is recursive, so deep input must never reach it.
        for event in yaml.parse(text, Loader=_MetadataLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise fail(
                    "YAML anchors and aliases (&name, *name) are not allowed in metadata",
                    event.start_mark,
                    "write each value out in full",
                )
            if getattr(event, "tag", None) is not None:
                raise fail(
                    f"YAML tag '{event.tag}' is not allowed in metadata",
                    event.start_mark,
                    "remove the tag (metadata needs only plain text, lists and dates)",
                )
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > _MAX_YAML_DEPTH:
                    raise fail(
                        f"metadata is nested more than {_MAX_YAML_DEPTH} levels deep",
                        event.start_mark,
                        "use flat key: value pairs",
                    )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
        loader = _MetadataLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            data = loader.construct_document(node)
        finally:
            loader.dispose()
        key_lines = {}
        if isinstance(node, yaml.MappingNode):
            key_lines = {
                _key_name(key.value): first_line + key.start_mark.line
                for key, _ in node.value
                if isinstance(key, yaml.ScalarNode)
            }
        return data, key_lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is None or mark.line > text.count("\n"):
            mark = exc.context_mark or mark  # an error at the end of input is best shown where its construct began
        problem = ": ".join(part for part in (exc.context, exc.problem) if part)
        raise fail(
            f"broken YAML in the metadata: {problem}", mark, "correct the YAML syntax (key: value, one per line)"
        ) from exc
    except yaml.YAMLError as exc:
        raise fail(f"broken YAML in the metadata: {exc}", None, "correct the YAML syntax") from exc
    except ValueError as exc:  # a value PyYAML resolves but cannot build, e.g. "0x_" or a 5,000-digit number
        raise fail(f"a metadata value cannot be read: {exc}", None, "put the value in quotes") from exc


def _front_matter(source: str, lines: Sequence[str]) -> tuple[_Header, int]:
    """Metadata from a leading `---` block, and the index of the first line after it."""
    text = "\n".join(lines)
    handler = YAMLHandler()
    if not handler.detect(text):
        return _Header(), 0
    closing = handler.FM_BOUNDARY.search(text, len(lines[0]) + 1) if len(lines) > 1 else None
    if closing is None:
        raise NoteFormatError(
            "front matter opened with '---' on line 1 is never closed",
            source=source,
            line=1,
            fix="end the metadata with a line of three dashes '---'",
        )
    closing_index = text.count("\n", 0, closing.start())
    data, key_lines = _load_yaml(source, "\n".join(lines[1:closing_index]), first_line=2)
    if data is None:
        return _Header(), closing_index + 1
    if not isinstance(data, dict):
        raise NoteFormatError(
            f"front matter is {_describe(data)}, not key: value pairs",
            source=source,
            line=2,
            fix="write the metadata as 'key: value' lines, e.g. 'date: 2025-03-14'",
        )
    return _header(data, key_lines), closing_index + 1


def _header(values: dict[Any, Any], key_lines: dict[str, int]) -> _Header:
    """Metadata with a notice for each unknown key (the pipeline prefixes notices with the note's source)."""
    notices = []
    for key in values:
        name = _key_name(key)
        if name not in KNOWN_KEYS:
            close = difflib.get_close_matches(name, KNOWN_KEYS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(KNOWN_KEYS)}"
            where = f"line {key_lines[name]}: " if name in key_lines else ""
            notices.append(f"{where}unknown metadata key '{name}' ignored ({hint})")
    return _Header(dict(values), key_lines, tuple(notices))


def _key_value_block(source: str, block: Sequence[tuple[int, str]]) -> _Header:
    """Metadata from `key: value` lines (a .docx block or a .vtt NOTE); a value in [brackets] is a YAML list."""
    values: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    for number, text in block:
        match = _KEY_VALUE.fullmatch(text)
        if match is None:
            continue
        raw = (match["value"] or "").strip()
        key = _key_name(match["key"])
        values[key] = _load_yaml(source, raw, number)[0] if raw.startswith("[") else raw or None
        key_lines[key] = number
    return _header(values, key_lines)


def _looks_like_metadata(block: Sequence[str]) -> bool:
    matches = [_KEY_VALUE.fullmatch(text) for text in block]
    return bool(block) and all(matches) and any(_key_name(m["key"]) in KNOWN_KEYS for m in matches if m)


# -------------------------------------------------------------------------------------------- notes


def _build(
    source: str,
    *,
    header: _Header,
    base: Mapping[str, Any],
    lines: Sequence[Line],
    content_hash: str,
    date_fix: str,
    is_transcript: bool = False,
    fallback_date: tuple[date, str] | None = None,
    heading_title: str = "",
) -> ParsedNote:
    """Lay the file's metadata over the defaults, check what is required, and make the note.

    `fallback_date` is a date the file implies (its name, its modification time) with the notice to
    report when it is used; it ranks below a date written in the file and above the defaults.
    """
    found = _validate(header.values, source=source, key_lines=header.key_lines, default_line=None)
    notices = list(header.notices)
    if "date" not in found and fallback_date is not None:
        found["date"], notice = fallback_date
        notices += [notice] if notice else []
    meta = {**base, **found}
    when = meta.get("date")
    if when is None:
        raise NoteFormatError("no date given", source=source, field="date", fix=date_fix)
    if not any(line.text.strip() for line in lines):
        raise NoteFormatError(
            "has metadata but no note text", source=source, fix="write the session notes (or transcript) into the file"
        )
    participants = meta.get("participants", ())
    if is_transcript and not any(meta.get(key) for key in PEOPLE_KEYS):
        participants = tuple(dict.fromkeys(line.speaker for line in lines if line.speaker))
    return ParsedNote(
        source=source,
        date=when,
        lines=tuple(lines),
        title=meta.get("title") or heading_title,
        type=meta.get("type", SessionType.PEER),
        mentors=meta.get("mentors", ()),
        mentees=meta.get("mentees", ()),
        participants=participants,
        visibility=meta.get("visibility", Visibility.PROGRAM),
        tags=meta.get("tags", ()),
        id=meta.get("id"),
        is_transcript=is_transcript,
        content_hash=content_hash,
        notices=tuple(notices),
    )


def _trim(lines: list[Line]) -> list[Line]:
    """Drop blank lines at both ends, keeping the rest contiguous."""
    start, end = 0, len(lines)
    while start < end and not lines[start].text.strip():
        start += 1
    while end > start and not lines[end - 1].text.strip():
        end -= 1
    return lines[start:end]


def _first_heading(lines: Sequence[Line]) -> str:
    for line in lines:
        match = re.match(r"\s{0,3}#{1,6}\s+(.*)", line.text)
        if match:
            return match[1].rstrip().rstrip("#").strip()
    return ""


def _read_text(source: str, text: str, content_hash: str, base: Mapping[str, Any], *, transcripts: bool) -> ParsedNote:
    """A Markdown note, or a .txt that is a `Name: utterance` transcript or plain narrative."""
    raw_lines = text.split("\n")
    header, body_start = _front_matter(source, raw_lines)
    body = [(index + 1, raw_lines[index]) for index in range(body_start, len(raw_lines))]
    date_fix = "add a line 'date: YYYY-MM-DD' to the front matter between two '---' lines at the top"
    if transcripts and _is_transcript([line for _, line in body]):
        lines = _trim(_transcript_lines(body))
        return _build(
            source,
            header=header,
            base=base,
            lines=lines,
            content_hash=content_hash,
            date_fix=date_fix,
            is_transcript=True,
        )
    lines = _trim([Line(number, line) for number, line in body])
    return _build(
        source,
        header=header,
        base=base,
        lines=lines,
        content_hash=content_hash,
        date_fix=date_fix,
        heading_title=_first_heading(lines),
    )


def _is_transcript(lines: Sequence[str]) -> bool:
    """True when at least half the non-blank lines (and at least two) are `Name: utterance` turns."""
    filled = [line for line in lines if line.strip()]
    turns = sum(1 for line in filled if _TURN.fullmatch(line))
    return turns >= 2 and 2 * turns >= len(filled)


def _transcript_lines(body: Sequence[tuple[int, str]]) -> list[Line]:
    """One Line per source line; lines without a `Name:` prefix continue the previous speaker's turn."""
    out: list[Line] = []
    speaker: str | None = None
    for number, text in body:
        match = _TURN.fullmatch(text)
        if match:
            speaker = " ".join(match["name"].split())
            out.append(Line(number, (match["text"] or "").strip(), speaker))
        elif text.strip():
            out.append(Line(number, text.strip(), speaker))
        else:
            out.append(Line(number, ""))
    return out


def _read_vtt(source: str, text: str, content_hash: str, base: Mapping[str, Any], mtime: float | None) -> ParsedNote:
    """A WebVTT transcript: one Line per cue text line, with the voice (`<v Name>`) as its speaker."""
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.from_string(text).captions
    except (MalformedFileError, MalformedCaptionError) as exc:
        raise NoteFormatError(
            f"is not a WebVTT file ({exc})", source=source, line=1, fix="start the file with a line 'WEBVTT'"
        ) from exc
    raw_lines = text.split("\n")
    # webvtt-py drops a cue whose timing it cannot parse without a word: refuse the file instead of losing text.
    for number, raw in enumerate(raw_lines, start=1):
        if "-->" in raw and not _CUE_TIMING.fullmatch(raw):
            raise NoteFormatError(
                f"cue timing '{raw.strip()[:60]}' is not valid WebVTT",
                source=source,
                line=number,
                fix="write cue timings as HH:MM:SS.mmm --> HH:MM:SS.mmm (the hours are optional)",
            )
    lines: list[Line] = []
    cursor = 0
    for caption in captions:
        if not caption.lines:
            continue
        # webvtt-py keeps no line numbers: the cue's text stands right after the next timings line.
        width = len(caption.lines)
        while cursor < len(raw_lines) and not (
            "-->" in raw_lines[cursor] and raw_lines[cursor + 1 : cursor + 1 + width] == caption.lines
        ):
            cursor += 1
        if cursor >= len(raw_lines):
            raise NoteFormatError(
                "a cue's text could not be located in the file", source=source, fix="check the file is valid WebVTT"
            )
        first = cursor + 2  # 1-based number of the line after the timings line
        cursor += 1 + width
        voice = None
        # Caption.text drops every <tag> (cue markup); entities like &lt; are then plain text.
        for offset, (raw, cue_text) in enumerate(zip(caption.lines, caption.text.split("\n"), strict=True)):
            if spoken := webvtt.Caption.VOICE_SPAN_PATTERN.match(raw):
                voice = spoken[1].strip()
            if cue_text.strip():
                lines.append(Line(first + offset, html.unescape(cue_text).strip(), voice))
    return _build(
        source,
        header=_vtt_note_block(source, raw_lines),
        base=base,
        lines=lines,
        content_hash=content_hash,
        date_fix="put the date in the file name (e.g. 2025-03-14-standup.vtt) or add a NOTE block "
        "with a line 'date: YYYY-MM-DD' after the WEBVTT line",
        is_transcript=True,
        fallback_date=_vtt_date(source, mtime),
    )


def _vtt_note_block(source: str, raw_lines: Sequence[str]) -> _Header:
    """Metadata from a NOTE block of `key: value` lines before the first cue (optional)."""
    for index, text in enumerate(raw_lines):
        if "-->" in text:
            break
        if text.startswith("NOTE") and (len(text) == 4 or text[4].isspace()):
            block = [(index + 1, text[4:])] if text[4:].strip() else []
            for offset, follow in enumerate(raw_lines[index + 1 :], start=index + 2):
                if not follow.strip():
                    break
                block.append((offset, follow))
            if _looks_like_metadata([line for _, line in block]):
                return _key_value_block(source, block)
    return _Header()


def _vtt_date(source: str, mtime: float | None) -> tuple[date, str] | None:
    """A date for a .vtt export that states none: from its file name, else its modification time (noticed)."""
    for match in _FILENAME_DATE.finditer(PurePath(source).name):
        try:
            return date(int(match[1]), int(match[3]), int(match[4])), ""
        except ValueError:
            continue
    if mtime is None:
        return None
    try:
        when = datetime.fromtimestamp(mtime).date()
    except (OverflowError, OSError, ValueError) as exc:
        raise NoteFormatError(
            f"modification time {mtime} is not a usable date",
            source=source,
            field="date",
            fix="put the date in the file name",
        ) from exc
    return when, (
        f"date {when.isoformat()} taken from the file's modification time "
        "(put the date in the file name, e.g. 2025-03-14-standup.vtt, or in a NOTE block to set it)"
    )


def _read_docx(source: str, data: bytes, base: Mapping[str, Any], max_bytes: int) -> ParsedNote:
    """A Word document. Line.number is the 1-based paragraph index (Word has no stable line numbers).

    A leading block of `key: value` paragraphs, up to the first empty paragraph, is the metadata.
    Heading paragraphs get Markdown '#' marks and list paragraphs a '- ' mark, so segmentation
    treats them as it does in Markdown.
    """
    paragraphs = _docx_paragraphs(source, data, max_bytes)
    lead = []
    for text in paragraphs:
        if not text.strip():
            break
        lead.append(text)
    header = _Header()
    body_start = 0
    if _looks_like_metadata(lead):
        header = _key_value_block(source, list(enumerate(lead, start=1)))
        body_start = len(lead)
    lines = _trim([Line(index + 1, paragraphs[index]) for index in range(body_start, len(paragraphs))])
    return _build(
        source,
        header=header,
        base=base,
        lines=lines,
        content_hash=_sha256(data),
        date_fix="start the document with a paragraph 'date: YYYY-MM-DD' (then an empty paragraph)",
        heading_title=_first_heading(lines),
    )


def _docx_paragraphs(source: str, data: bytes, max_bytes: int) -> list[str]:
    import docx
    from docx.opc.exceptions import OpcError
    from lxml.etree import LxmlError

    fix = "open it in Word or LibreOffice and save it again as .docx"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            inflated = sum(info.file_size for info in package.infolist())
        if inflated > _DOCX_INFLATE_FACTOR * max_bytes:
            raise NoteFormatError(
                f"unpacks to {inflated:,} bytes, too large to read safely", source=source, fix="split the document"
            )
        document = docx.Document(io.BytesIO(data))
        paragraphs = []
        # Paragraph.style rescans every style of the document on each call (slow for long documents),
        # so map style ids to names once and read each paragraph's style id.
        style_names = {style.style_id: style.name or "" for style in document.styles}
        for paragraph in document.paragraphs:
            text = " ".join(paragraph.text.split("\n"))
            style = style_names.get(paragraph._p.style or "", "")
            if text.strip() and (heading := re.fullmatch(r"Heading (\d)", style)):
                text = "#" * int(heading[1]) + " " + text.strip()
            elif text.strip() and style == "Title":
                text = "# " + text.strip()
            elif text.strip() and style.startswith("List"):
                text = "- " + text.strip()
            paragraphs.append(text)
        return paragraphs
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OpcError,
        LxmlError,
        KeyError,
        ValueError,
        EOFError,
        zlib.error,
        OSError,
        NotImplementedError,
    ) as exc:
        raise NoteFormatError(f"is not a readable .docx (Word) file ({exc})", source=source, fix=fix) from exc


def _read_jsonl(source: str, text: str, base: Mapping[str, Any]) -> list[ParsedNote]:
    """JSON Lines: one session per line, with the metadata keys plus `text`; a bad record rejects the file."""
    notes = []
    for lineno, record_text in enumerate(text.split("\n"), start=1):
        if not record_text.strip():
            continue
        where = {"source": source, "line": lineno}
        try:
            record = json.loads(record_text)
        except RecursionError as exc:
            raise NoteFormatError("record is nested too deeply", **where, fix="write one flat JSON object") from exc
        except ValueError as exc:
            raise NoteFormatError(
                f"record is not valid JSON ({exc})", **where, fix="write one JSON object per line"
            ) from exc
        if lineno == 1 and isinstance(record, dict) and record.get("kind") == "mentorkb-export":
            raise NoteFormatError(
                "is a mentorkb export, not a file of notes", **where, fix="import it on its own: mentorkb ingest FILE"
            )
        if not isinstance(record, dict):
            raise NoteFormatError(
                f"record is {_describe(record)}, not a JSON object", **where, fix='write {"date": ..., "text": ...}'
            )
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            if body is None:
                problem = "record has no 'text'"
            elif isinstance(body, str):
                problem = "record's 'text' is empty"
            else:
                problem = f"record's 'text' must be text, not {_describe(body)}"
            raise NoteFormatError(problem, **where, field="text", fix='add "text": "the session notes" to the record')
        values = {key: value for key, value in record.items() if key != "text"}
        header = _header(values, {})  # errors are re-raised below with the record's line
        lines = _trim([Line(number, line) for number, line in enumerate(body.split("\n"), start=1)])
        record_source = f"{source}#{lineno}"
        try:
            note = _build(
                record_source,
                header=header,
                base=base,
                lines=lines,
                content_hash=_sha256(record_text.encode("utf-8")),
                date_fix='add "date": "YYYY-MM-DD" to the record',
                heading_title=_first_heading(lines),
            )
        except NoteFormatError as exc:
            # Name the file and its line, as an editor shows them, rather than the "file#line" citation.
            raise NoteFormatError(exc.detail, source=source, line=lineno, field=exc.field, fix=exc.fix) from exc
        notes.append(note)
    return notes
