"""A synthetic mentoring corpus of any size, made by recombining the built-in demo notes.

Every generated note starts from one demo Markdown note (so lengths, note types, tags and visibility follow the
demo's mix), re-casts its people onto other roster members with the same seniority relation (a traditional
mentor stays more senior than the mentee, a reverse one more junior), gives it a new date, and varies the text:
paragraphs from another note on a shared tag are mixed in, some sentences and list items are swapped for ones from
notes on the same tag, and figures are jittered. The output is `.md` files with YAML front matter under
`OUT/notes/YYYY/` plus the demo roster as `OUT/people.csv`; the same seed always writes the same bytes.

    python -m benchmarks.gen_corpus /tmp/corpus-10k --notes 10000 --seed 0

The demo's transcripts (.txt, .vtt) are not used as templates: every generated note is narrative Markdown.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import frontmatter
import yaml

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.roster import read_roster  # noqa: E402
from models import Person  # noqa: E402

DEMO_DIR = Path(__file__).resolve().parent.parent / "mentorkb" / "demo"
ROSTER_FILE = "people.csv"
NOTES_DIR = "notes"
FORMATS = ("md", "jsonl")
JSONL_PER_FILE = 1000
# Passages per generated note, measured on 2,000-note corpora (seeds 0 and 1) with the default passage_max_chars.
PASSAGES_PER_NOTE = 5.1
FIRST_DAY = date(2021, 1, 4)
LAST_DAY = date(2026, 11, 27)

# Chances of each variation, per note (or per paragraph where it says so); tuned so that a 10k corpus has almost
# no byte-identical passages while each note still reads like one conversation.
P_EXTRA_BLOCK = 0.5  # append a paragraph from another note on a shared tag
P_DROP_BLOCK = 0.3  # drop one paragraph after the first (notes with three or more paragraphs)
P_SWAP_UNIT = 0.35  # per paragraph: swap one sentence or list item for one from a note on the same tag
P_JITTER = 0.5  # per figure in the text
P_NAME_IN_FRONT_MATTER = 0.1  # refer to a person by full name instead of roster id
TITLE_SUFFIXES = ("", "", "", "", " (follow-up)", " - part 2", " - second session", " (notes)", " revisited")

_BULLET = re.compile(r"\s*(?:[-*+]|\d{1,3}[.)])\s+\S")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(*])")
_NUMBER = re.compile(r"(?<![\w.+-])(\d{1,4})(?![\w+]|\.\d)")


@dataclass(frozen=True)
class Template:
    """One demo note, split into what generation recombines."""

    source: str
    title: str
    type: str
    tags: tuple[str, ...]
    roles: Mapping[str, tuple[str, ...]]  # mentors / mentees / participants -> roster ids
    visibility: str
    blocks: tuple[str, ...]  # paragraphs of the body, as written (blank-line separated)


@dataclass(frozen=True)
class GeneratedNote:
    """One generated note: its path relative to the output folder, its front matter and its body."""

    path: str
    meta: Mapping[str, object]
    body: str

    @property
    def text(self) -> str:
        """The file's full text: YAML front matter, then the body."""
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 10x faster at 50k notes
        front = yaml.dump(
            dict(self.meta), Dumper=dumper, sort_keys=False, default_flow_style=None, allow_unicode=True, width=1000
        )
        return "---\n" + front + "---\n" + self.body + "\n"

    def record(self) -> dict[str, object]:
        """The note as one JSON Lines record (the file name's stem becomes its session id)."""
        meta = {k: v.isoformat() if isinstance(v, date) else v for k, v in self.meta.items()}
        return {"id": Path(self.path).stem, **meta, "text": self.body}


@dataclass
class CorpusSummary:
    """What write_corpus produced."""

    folder: Path
    notes: int = 0
    words: int = 0
    bytes: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def mean_words(self) -> float:
        """Mean words per note body."""
        return self.words / self.notes if self.notes else 0.0


def load_templates(folders: Sequence[Path]) -> list[Template]:
    """Every Markdown note under the given folders, in path order, as a Template."""
    out = []
    for folder in folders:
        for path in sorted(folder.rglob("*.md")):
            post = frontmatter.loads(path.read_text(encoding="utf-8"))
            blocks = tuple(b.strip("\n") for b in re.split(r"\n\s*\n", post.content) if b.strip())
            roles = {k: tuple(str(v) for v in post.get(k) or ()) for k in ("mentors", "mentees", "participants")}
            out.append(
                Template(
                    source=path.as_posix(),
                    title=str(post.get("title") or path.stem),
                    type=str(post.get("type") or "peer"),
                    tags=tuple(str(t) for t in post.get("tags") or ()),
                    roles=roles,
                    visibility=str(post.get("visibility") or "program"),
                    blocks=blocks,
                )
            )
    return out


def load_roster(path: Path = DEMO_DIR / ROSTER_FILE) -> list[Person]:
    """The demo roster (or another people.csv)."""
    return read_roster(str(path), path.read_bytes())


def recast(template: Template, people: Sequence[Person], rng: random.Random) -> dict[str, str]:
    """A permutation of the roster ids that re-casts the template's people, keeping who is senior to whom.

    Traditional and flash mentors stay more senior than their mentees, reverse mentors more junior; everyone
    else named in the text is mapped to someone not in the session, so a quote never names the wrong role.
    """
    level = {p.id: p.level or 0 for p in people}
    ids = [p.id for p in people]
    ref_to_id = {r.lower(): p.id for p in people for r in (p.id, p.name, p.email) if r}
    taken: dict[str, str] = {}
    used: set[str] = set()

    def pick(old: str, allowed: Sequence[str]) -> None:
        free = [i for i in allowed if i not in used] or [i for i in ids if i not in used]
        taken[old] = rng.choice(free)
        used.add(taken[old])

    def known(role: str) -> list[str]:
        return [ref_to_id[r.lower()] for r in template.roles[role] if r.lower() in ref_to_id]

    mentees, mentors = known("mentees"), known("mentors")
    top, bottom = max(level.values()), min(level.values())
    # Mentees first, from those for whom a mentor of the right seniority exists.
    if template.type in ("traditional", "flash") and mentors:
        mentee_pool = [i for i in ids if level[i] < top]
    elif template.type == "reverse" and mentors:
        mentee_pool = [i for i in ids if level[i] > bottom]
    else:
        mentee_pool = ids
    for old in mentees:
        pick(old, mentee_pool)
    new_levels = [level[taken[m]] for m in mentees]
    for old in mentors:
        if template.type in ("traditional", "flash") and new_levels:
            allowed = [i for i in ids if level[i] > max(new_levels)]
        elif template.type == "reverse" and new_levels:
            allowed = [i for i in ids if level[i] < min(new_levels)]
        else:
            allowed = ids
        pick(old, allowed)
    for old in known("participants"):
        if old not in taken:
            pick(old, ids)
    rest = [i for i in ids if i not in taken]
    free = [i for i in ids if i not in used]
    rng.shuffle(free)
    taken.update(zip(rest, free))
    return taken


@dataclass(frozen=True)
class NameTable:
    """Every way the roster is written in notes (id, full name, first name), compiled once."""

    people: Mapping[str, Person]
    forms: Mapping[str, tuple[str, str]]  # written form -> (person id, "id" | "name" | "first")
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, people: Sequence[Person]) -> NameTable:
        """The table for a roster (first names are assumed unique, as in the demo roster)."""
        forms: dict[str, tuple[str, str]] = {}
        for p in people:
            forms[p.id], forms[p.name], forms[p.name.split()[0]] = (p.id, "id"), (p.id, "name"), (p.id, "first")
        alternatives = "|".join(re.escape(w) for w in sorted(forms, key=len, reverse=True))
        return cls({p.id: p for p in people}, forms, re.compile(r"\b(" + alternatives + r")\b"))


def rename(text: str, mapping: Mapping[str, str], names: NameTable) -> str:
    """Replace every roster id, full name and first name in text by the mapped person's, in the same form."""

    def sub(m: re.Match[str]) -> str:
        pid, kind = names.forms[m.group(1)]
        new = names.people[mapping.get(pid, pid)]
        return new.id if kind == "id" else new.name if kind == "name" else new.name.split()[0]

    return names.pattern.sub(sub, text)


def jitter(text: str, rng: random.Random) -> str:
    """Scale about half of the small figures in text by 0.5-1.5 (years and list numbers are left alone)."""

    def sub(m: re.Match[str]) -> str:
        value = int(m.group(1))
        if 1990 <= value <= 2035 or value < 2 or rng.random() >= P_JITTER:
            return m.group(1)
        return str(max(2, round(value * rng.uniform(0.5, 1.5))))

    return _NUMBER.sub(sub, text)


def _units(block: str) -> tuple[list[str], str]:
    """A paragraph as swappable units (list items with their continuation lines, or sentences) and its joiner."""
    lines = block.split("\n")
    if any(_BULLET.match(ln) for ln in lines):
        items: list[str] = []
        for ln in lines:
            if _BULLET.match(ln) or not items:
                items.append(ln)
            else:
                items[-1] += "\n" + ln
        return items, "\n"
    return _SENTENCE.split(block), " "


def _is_list_item(unit: str) -> bool:
    return bool(_BULLET.match(unit))


def _swap_unit(block: str, pool: Sequence[str], rng: random.Random) -> str:
    """Replace one unit (not a list's lead-in line) by a unit of the same kind drawn from the pool."""
    units, joiner = _units(block)
    listy = joiner == "\n"
    slots = [i for i, u in enumerate(units) if _is_list_item(u) == listy]
    candidates = [u for u in pool if _is_list_item(u) == listy]
    if len(slots) < 2 or not candidates:
        return block
    units[rng.choice(slots)] = rng.choice(candidates)
    return joiner.join(units)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48].rstrip("-") or "note"


def generate(
    n: int,
    *,
    seed: int = 0,
    start: int = 0,
    templates: Sequence[Template] | None = None,
    people: Sequence[Person] | None = None,
) -> Iterator[GeneratedNote]:
    """Yield n notes, the same for the same seed; dates grow with the note number, which starts at `start`.

    Give a later batch `start` = the size of the earlier one so file names (and session ids) never collide.
    """
    templates = list(templates) if templates is not None else load_templates([DEMO_DIR / NOTES_DIR])
    people = list(people) if people is not None else load_roster()
    if not templates:
        raise ValueError("no Markdown templates to generate from")
    rng = random.Random(seed)
    names = NameTable.of(people)
    ref_to_id = {r.lower(): p.id for p in people for r in (p.id, p.name, p.email) if r}
    by_tag: dict[str, list[Template]] = defaultdict(list)
    units_by_tag: dict[str, list[str]] = defaultdict(list)
    for t in templates:
        for tag in t.tags:
            by_tag[tag].append(t)
            units_by_tag[tag].extend(u for b in t.blocks for u in _units(b)[0])
    span = (LAST_DAY - FIRST_DAY).days
    for i in range(n):
        t = rng.choice(templates)
        mapping = recast(t, people, rng)
        blocks = list(t.blocks)
        if len(blocks) >= 3 and rng.random() < P_DROP_BLOCK:
            del blocks[rng.randrange(1, len(blocks))]
        if t.tags and rng.random() < P_EXTRA_BLOCK:
            other = rng.choice(by_tag[rng.choice(t.tags)])
            if other.blocks:
                blocks.append(rng.choice(other.blocks))
        pool = units_by_tag[rng.choice(t.tags)] if t.tags else []
        blocks = [_swap_unit(b, pool, rng) if rng.random() < P_SWAP_UNIT else b for b in blocks]
        body = jitter(rename("\n\n".join(blocks), mapping, names), rng)
        day = FIRST_DAY + timedelta(days=min(span, int(span * (i + rng.random()) / max(n, 1))))
        title = rename(t.title, mapping, names) + rng.choice(TITLE_SUFFIXES)

        def ref(old: str, mapping: Mapping[str, str] = mapping) -> str:
            pid = ref_to_id.get(old.lower())
            if pid is None:
                return old
            new = names.people[mapping[pid]]
            return new.name if rng.random() < P_NAME_IN_FRONT_MATTER else new.id

        meta: dict[str, object] = {"date": day, "title": title, "type": t.type}
        for role, refs in t.roles.items():
            if refs:
                meta[role] = [ref(r) for r in refs]
        if t.visibility != "program":
            meta["visibility"] = t.visibility
        if t.tags:
            meta["tags"] = list(t.tags)
        path = f"{NOTES_DIR}/{day.year}/{day.isoformat()}-{_slug(title)}-{start + i:06d}.md"
        yield GeneratedNote(path, meta, body)


def write_corpus(
    out: Path, n: int, *, seed: int = 0, start: int = 0, fmt: str = "md", demo_dir: Path = DEMO_DIR
) -> CorpusSummary:
    """Write n generated notes and the roster into out (which must not hold an earlier corpus).

    fmt "md" writes one Markdown file per note under notes/YYYY/; "jsonl" writes JSON Lines files of
    JSONL_PER_FILE notes each under notes/ (much faster to write and to parse at hundreds of thousands of notes).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown corpus format {fmt!r}; use one of {', '.join(FORMATS)}")
    notes_dir = out / NOTES_DIR
    if notes_dir.exists() and any(notes_dir.iterdir()):
        raise FileExistsError(f"{notes_dir} already holds notes; pick an empty folder or delete it first")
    templates = load_templates([demo_dir / NOTES_DIR, demo_dir / "extra"])
    people = load_roster(demo_dir / ROSTER_FILE)
    notes_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(demo_dir / ROSTER_FILE, out / ROSTER_FILE)
    summary = CorpusSummary(folder=out)
    shard: list[str] = []

    def flush_shard() -> None:
        data = "".join(shard).encode("utf-8")
        (notes_dir / f"notes-{start + summary.notes - len(shard):07d}.jsonl").write_bytes(data)
        summary.bytes += len(data)
        shard.clear()

    for note in generate(n, seed=seed, start=start, templates=templates, people=people):
        summary.words += len(note.body.split())
        kind = str(note.meta["type"])
        summary.by_type[kind] = summary.by_type.get(kind, 0) + 1
        if fmt == "jsonl":
            shard.append(json.dumps(note.record(), ensure_ascii=False) + "\n")
            summary.notes += 1
            if len(shard) == JSONL_PER_FILE:
                flush_shard()
            continue
        path = out / note.path
        path.parent.mkdir(parents=True, exist_ok=True)
        data = note.text.encode("utf-8")
        path.write_bytes(data)
        summary.notes += 1
        summary.bytes += len(data)
    if shard:
        flush_shard()
    return summary


def ensure_corpus(out: Path, n: int, *, seed: int = 0, start: int = 0, fmt: str = "md") -> Path:
    """The folder of an n-note corpus for seed, generated on first use and reused afterwards."""
    marker = out / f".complete-{n}-{seed}-{start}-{fmt}"
    if not marker.exists():
        shutil.rmtree(out / NOTES_DIR, ignore_errors=True)
        write_corpus(out, n, seed=seed, start=start, fmt=fmt)
        marker.touch()
    return out


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain-text table (used by every scale benchmark, so their output pastes into BENCHMARKS.md)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console(width=160).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a corpus and print what it holds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write notes/ and people.csv into (must hold no notes yet)")
    ap.add_argument("--notes", type=int, default=1000, help="how many notes (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--format", choices=FORMATS, default="md", help="md files (default) or JSON Lines shards")
    args = ap.parse_args(argv)
    s = write_corpus(args.out, args.notes, seed=args.seed, fmt=args.format)
    print_table(
        f"Corpus in {s.folder}",
        ["notes", "words", "words/note", "MB", "types"],
        [
            [
                s.notes,
                s.words,
                f"{s.mean_words:.0f}",
                f"{s.bytes / 1e6:.1f}",
                ", ".join(f"{k} {v}" for k, v in sorted(s.by_type.items())),
            ]
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
