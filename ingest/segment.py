"""Segmentation: a note's lines -> the passages a reader would quote, each with its source line range.

Narrative notes: a paragraph is a passage; a run of bullet or numbered items (with a lead-in line
ending in ':') is one passage; headings are left out. In a Word document every paragraph is its
own paragraph, since Word has no soft line wraps. Transcripts: consecutive lines of one speaker
form a passage. Anything longer than `max_chars` is split at item, turn or sentence boundaries
(and, for a sentence that is itself too long, between words), each part keeping the lines it spans.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from models import Line, ParsedNote, Passage

_HEADING = re.compile(r"\s{0,3}#{1,6}(?:\s.*)?")
_RULE = re.compile(r"\s{0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*")
_BULLET = re.compile(r"\s*(?:[-*+•]|\d{1,3}[.)])\s+\S.*")
# A sentence ends at . ! ? or … (after any closing quotes or brackets) followed by whitespace.
# A line that is all bold ("**What Priya showed**") is a heading in disguise: it leads into what follows.
_BOLD_LEAD = re.compile(r"\s*(\*\*|__)[^*_\s].*?\1\s*:?\s*")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")


@dataclass(frozen=True)
class _Unit:
    """The smallest piece packing may not split: a sentence, a list item or a transcript line."""

    text: str
    start: int
    end: int
    glue: str = " "  # what joins it to the unit before it in the same passage


def segment(note: ParsedNote, session_id: str, *, max_chars: int = 700) -> list[Passage]:
    """Split a note into passages in reading order, each with its 1-based inclusive source line range."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    if note.is_transcript:
        groups = _transcript_groups(note.lines, max_chars)
    else:
        groups = _narrative_groups(note.lines, max_chars, word_paragraphs=note.source.lower().endswith(".docx"))
    passages: list[Passage] = []
    for speaker, units in groups:
        for chunk in _pack(units, max_chars):
            passages.append(
                Passage(
                    session_id=session_id,
                    ordinal=len(passages),
                    text="".join(unit.glue + unit.text if i else unit.text for i, unit in enumerate(chunk)),
                    line_start=min(unit.start for unit in chunk),
                    line_end=max(unit.end for unit in chunk),
                    speaker=speaker,
                )
            )
    return passages


def _pack(units: Sequence[_Unit], max_chars: int) -> Iterable[list[_Unit]]:
    """Greedily fill passages with whole units, up to max_chars each."""
    chunk: list[_Unit] = []
    size = 0
    for unit in units:
        added = len(unit.text) + (len(unit.glue) if chunk else 0)
        if chunk and size + added > max_chars:
            yield chunk
            chunk, size, added = [], 0, len(unit.text)
        chunk.append(unit)
        size += added
    if chunk:
        yield chunk


def _units(pieces: Sequence[Line], max_chars: int, glue: str = " ") -> list[_Unit]:
    """Lines joined into one unit if short enough, else runs of whole sentences of up to max_chars each."""
    numbers = [line.number for line in pieces]
    texts = [line.text.strip() for line in pieces]
    joined = " ".join(texts)
    if len(joined) <= max_chars:
        return [_Unit(joined, min(numbers), max(numbers), glue)]
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 1

    def unit(begin: int, end: int) -> _Unit:
        first, last = (numbers[bisect_right(starts, at) - 1] for at in (begin, end - 1))
        return _Unit(joined[begin:end], first, last, glue if not units else " ")

    # Pack sentence spans here rather than as separate units: a pathological paragraph can hold a
    # million "sentences", and slicing the joined text keeps its spacing exactly.
    units: list[_Unit] = []
    chunk: tuple[int, int] | None = None
    for begin, end in _wrap(joined, _sentence_spans(joined), max_chars):
        if chunk and end - chunk[0] > max_chars:
            units.append(unit(*chunk))
            chunk = None
        chunk = (chunk[0] if chunk else begin, end)
    if chunk:
        units.append(unit(*chunk))
    return units


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, begin = [], 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end() - len(match.group()) + len(match.group().rstrip())
        spans.append((begin, end))
        begin = match.end()
    if begin < len(text):
        spans.append((begin, len(text)))
    return [(b, e) for b, e in spans if e > b]


def _wrap(text: str, spans: Iterable[tuple[int, int]], max_chars: int) -> Iterable[tuple[int, int]]:
    """Cut spans longer than max_chars at the last space that fits (or hard, inside a very long word)."""
    for begin, end in spans:
        while end - begin > max_chars:
            cut = text.rfind(" ", begin + 1, begin + max_chars + 1)
            if cut <= begin:
                cut = begin + max_chars
                yield begin, cut
                begin = cut
            else:
                yield begin, cut
                begin = cut + 1
            while begin < end and text[begin] == " ":
                begin += 1
        if end > begin:
            yield begin, end


def _is_lead(lines: Sequence[Line]) -> bool:
    """A paragraph that only introduces what follows: ends in ':' or is one all-bold line."""
    last = lines[-1].text.rstrip()
    return last.endswith(":") or _is_bold_lead(lines)


def _is_bold_lead(lines: Sequence[Line]) -> bool:
    return len(lines) == 1 and bool(_BOLD_LEAD.fullmatch(lines[0].text.rstrip()))


def _ordered(line: Line) -> bool:
    return line.text.lstrip()[:1].isdigit()


def _transcript_groups(lines: Sequence[Line], max_chars: int) -> list[tuple[str | None, list[_Unit]]]:
    """Runs of consecutive lines by one speaker; blank lines neither end nor join a run."""
    groups: list[tuple[str | None, list[_Unit]]] = []
    for line in lines:
        if not line.text.strip():
            continue
        if not groups or groups[-1][0] != line.speaker:
            groups.append((line.speaker, []))
        groups[-1][1].extend(_units([line], max_chars))
    return groups


def _narrative_groups(
    lines: Sequence[Line], max_chars: int, *, word_paragraphs: bool
) -> list[tuple[str | None, list[_Unit]]]:
    """Paragraphs and bullet groups, each as a list of units, in reading order."""
    blocks: list[tuple[str, list[list[Line]]]] = []  # ("para", [lines]) or ("list", [item lines, ...])
    after_blank = True
    for line in lines:
        text = line.text
        current = blocks[-1] if blocks else None
        if not text.strip() and current and current[0] == "para" and _is_bold_lead(current[1][0]):
            continue  # a blank line after a bold lead-in keeps it attached to what follows
        if not text.strip() or _RULE.fullmatch(text) or _HEADING.fullmatch(text):
            if text.strip() or (current and current[0] == "para"):  # a heading or rule ends any block
                blocks.append(("end", []))
            after_blank = True
            continue
        if _BULLET.fullmatch(text):
            if current and current[0] == "list" and (not after_blank or _ordered(current[1][-1][0]) == _ordered(line)):
                current[1].append([line])  # a blank line between items of one kind keeps the list going
            elif current and current[0] == "para" and not after_blank and _is_lead(current[1][0]):
                blocks[-1] = ("list", [current[1][0], [line]])  # a lead-in ending in ':' belongs to its list
            else:
                blocks.append(("list", [[line]]))
        elif current and current[0] == "list" and not word_paragraphs and (not after_blank or text[:1].isspace()):
            current[1][-1].append(line)  # continuation of the last item
        elif (
            current
            and current[0] == "para"
            and (not after_blank or _is_bold_lead(current[1][0]))
            and not word_paragraphs
        ):
            current[1][0].append(line)
        else:
            blocks.append(("para", [[line]]))
        after_blank = False
    groups: list[tuple[str | None, list[_Unit]]] = []
    for kind, items in blocks:
        if kind == "para":
            groups.append((None, _units(items[0], max_chars)))
        elif kind == "list":
            groups.append((None, [unit for item in items for unit in _units(item, max_chars, glue="\n")]))
    return groups
