"""The ingest pipeline: a plain function over component objects.

files -> read_note -> resolve people -> segment -> topics -> embed -> store (one transaction per session)
-> vector index. A file that fails any step is reported and skipped; nothing stored before is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.embedder import Embedder
from index.store import Store
from index.vectors import VectorIndex
from ingest.canon import TopicCanon
from ingest.readers import SUPPORTED_SUFFIXES, read_note
from ingest.roster import read_roster
from ingest.segment import segment
from ingest.topics import TopicExtractor
from mentorkb.errors import DuplicateSessionError, MentorKBError, NoteFormatError
from mentorkb.settings import Settings
from models import IngestReport, ParsedNote, Passage, Person, Session

Progress = Callable[[str, int, int], None]  # (source, done, total)

_TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".vtt"}


@dataclass
class Components:
    """The parts the pipeline runs over; tests pass fakes, the service passes the real ones."""

    store: Store
    embedder: Embedder
    extractor: TopicExtractor
    canon: TopicCanon
    index: VectorIndex
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest: its bytes, the name shown in citations, and its modification time."""

    source: str
    data: bytes
    mtime: float | None = None


def slug(text: str) -> str:
    """A lower-case id made of letters, digits, dots and dashes."""
    s = re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")
    return s or "x"


def person_id_for(ref: str) -> str:
    """Roster-style id for someone named in a note but not in the roster ("Ana Ruiz" -> "ana.ruiz")."""
    ref = ref.strip()
    if "@" in ref:
        ref = ref.split("@", 1)[0]
    return re.sub(r"[^a-z0-9]+", ".", ref.lower()).strip(".") or "unknown"


def search_texts(session: Session, passages: Sequence[Passage], *, context_chars: int = 300) -> list[str]:
    """What is embedded and BM25-indexed per passage: the passage in its context.

    The session title gives every passage its subject. A transcript turn is often too short to stand alone
    ("Yes, and the budget?"), so the turns around it, with their speakers, are added up to `context_chars` on
    each side. What is shown and cited stays the passage itself.
    """
    head = f"{session.title}. " if session.title else ""
    if not session.is_transcript:
        return [head + p.text for p in passages]

    def turn(p: Passage) -> str:
        return f"{p.speaker}: {p.text}" if p.speaker else p.text

    out = []
    for i, p in enumerate(passages):
        before: list[str] = []
        budget = context_chars
        for q in reversed(passages[max(0, i - 4) : i]):
            if budget <= 0:
                break
            before.insert(0, turn(q)[-budget:])
            budget -= len(q.text)
        after: list[str] = []
        budget = context_chars
        for q in passages[i + 1 : i + 5]:
            if budget <= 0:
                break
            after.append(turn(q)[:budget])
            budget -= len(q.text)
        out.append(head + " ".join([*before, turn(p), *after]))
    return out


def collect_files(paths: Sequence[Path | str], *, max_bytes: int) -> Iterator[SourceFile | tuple[str, str]]:
    """Walk files and folders; yield SourceFile, or (source, error) for paths that cannot be read."""
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            yield str(raw), f"{raw}: no such file or folder. Fix: check the path."
            continue
        files = (
            [root]
            if root.is_file()
            else sorted(
                p
                for p in root.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
            )
        )
        base = root.parent if root.is_dir() else root.parent
        for f in files:
            if root.is_dir() and f.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue  # a folder may hold images, rosters and the like: only notes are ingested from folders
            source = f.relative_to(base).as_posix()
            try:
                size = f.stat().st_size
                if size > max_bytes:
                    yield (
                        source,
                        (
                            f"{source}: file is {size:,} bytes, over the limit of {max_bytes:,}. "
                            "Fix: split the file, or raise MENTORKB_MAX_FILE_BYTES."
                        ),
                    )
                    continue
                yield SourceFile(source, f.read_bytes(), f.stat().st_mtime)
            except OSError as exc:
                yield source, f"{source}: cannot read the file ({exc.strerror}). Fix: check its permissions."


def load_roster(comps: Components, roster: Path, report: IngestReport) -> None:
    """Read people.csv into the store (roster entries replace people created from notes)."""
    try:
        people = read_roster(str(roster), roster.read_bytes())
    except OSError as exc:
        raise NoteFormatError(
            f"cannot read the roster ({exc.strerror})", source=str(roster), fix="check the path given to --roster"
        ) from exc
    report.new_people.extend(comps.store.upsert_people(people, from_roster=True))


class _People:
    """Resolves references written in notes to roster ids, creating unknown people on the way."""

    def __init__(self, store: Store, report: IngestReport) -> None:
        self.store = store
        self.report = report
        self.cache: dict[str, str] = {}

    def resolve(self, ref: str, *, source: str) -> str:
        key = ref.strip().lower()
        if key in self.cache:
            return self.cache[key]
        person = self.store.find_person(ref)
        if person is None:
            pid = person_id_for(ref)
            existing = self.store.person(pid)
            if existing is None:
                name = ref.strip() if "@" not in ref else pid.replace(".", " ").title()
                email = ref.strip() if "@" in ref else ""
                self.store.upsert_people([Person(id=pid, name=name, email=email)], from_roster=False)
                self.report.new_people.append(pid)
                self.report.notices.append(
                    f"{source}: '{ref}' is not in the roster; created person '{pid}' with unknown level "
                    "(add them to people.csv to set their level)."
                )
            person_id = pid
        else:
            person_id = person.id
        self.cache[key] = person_id
        return person_id


@dataclass
class _Prepared:
    session: Session
    passages: list[Passage]
    texts: list[str]
    replaces: bool


def _session_text(src: SourceFile, note: ParsedNote) -> str:
    """The text a reader sees, such that its line N is the note's Line N."""
    if "#" not in note.source and Path(src.source).suffix.lower() in _TEXT_SUFFIXES:
        text = src.data.decode("utf-8", errors="replace").removeprefix("\ufeff")
        return "\n".join(re.split(r"\r\n|\r|\n", text))
    lines: list[str] = []
    for ln in note.lines:
        while len(lines) < ln.number - 1:
            lines.append("")
        lines.append(f"{ln.speaker}: {ln.text}" if ln.speaker and note.is_transcript else ln.text)
    return "\n".join(lines)


def _prepare(
    src: SourceFile,
    note: ParsedNote,
    comps: Components,
    people: _People,
    batch_ids: dict[str, str],
    report: IngestReport,
) -> _Prepared | None:
    store = comps.store
    sid = note.id or slug(
        Path(note.source.split("#")[0]).stem + ("-" + note.source.split("#")[1] if "#" in note.source else "")
    )
    content_hash = note.content_hash or hashlib.sha256(src.data).hexdigest()
    if sid in batch_ids and batch_ids[sid] != note.source:
        raise DuplicateSessionError(
            f"session id '{sid}' is also used by {batch_ids[sid]} in this batch",
            source=note.source,
            field="id",
            fix="give one of the notes a different `id:` in its front matter (or rename the file)",
        )
    existing = store.session(sid)
    if existing is not None and existing.source != note.source:
        if existing.content_hash == content_hash:
            report.unchanged.append(sid)
            return None
        raise DuplicateSessionError(
            f"session id '{sid}' already belongs to {existing.source}",
            source=note.source,
            field="id",
            fix="give this note a different `id:` in its front matter, or `mentorkb remove "
            f"{sid}` first if it replaces that file",
        )
    batch_ids[sid] = note.source
    if existing is not None and existing.content_hash == content_hash:
        report.unchanged.append(sid)
        return None
    report.notices.extend(f"{note.source}: {n}" for n in note.notices)
    resolve = lambda refs: tuple(dict.fromkeys(people.resolve(r, source=note.source) for r in refs))  # noqa: E731
    mentors, mentees = resolve(note.mentors), resolve(note.mentees)
    participants = tuple(p for p in resolve(note.participants) if p not in mentors and p not in mentees)
    session = Session(
        id=sid,
        date=note.date,
        title=note.title or Path(note.source.split("#")[0]).stem.replace("-", " "),
        type=note.type,
        mentors=mentors,
        mentees=mentees,
        participants=participants,
        visibility=note.visibility,
        tags=note.tags,
        source=note.source,
        content_hash=content_hash,
        text=_session_text(src, note),
        first_line=1,
        is_transcript=note.is_transcript,
    )
    passages = segment(note, sid, max_chars=comps.settings.passage_max_chars)
    teachers = {pid: pp for pid in (mentors + participants) if (pp := store.person(pid))}
    resolved = []
    for p in passages:
        speaker = people.resolve(p.speaker, source=note.source) if p.speaker else None
        if speaker is None and len(teachers) > 1:
            speaker = attributed_teacher(p.text, teachers.values())
        resolved.append(replace(p, speaker=speaker))
    names = {n for pid in session.people if (pp := store.person(pid)) for n in _name_parts(pp)}
    phrase_lists = comps.extractor.extract([p.text for p in resolved], exclude=names)
    # Raw phrases for now: the batch's canonical-topic table is fitted on all of them before storing (see _before_embedding).
    with_topics = [replace(p, topics=tuple(ph for ph in phrases if ph)) for p, phrases in zip(resolved, phrase_lists)]
    return _Prepared(session, with_topics, search_texts(session, with_topics), replaces=existing is not None)


def attributed_teacher(text: str, candidates: Iterable[Person]) -> str | None:
    """In a narrative note with several possible teachers, the one a passage names (by full or first name).

    Skill-swap, peer and group notes say who taught what ("Sam showed that ..."); a passage that names exactly
    one of the session's teachers is credited to that person. None when it names none or several.
    """
    named = []
    for person in candidates:
        first = person.name.split()[0] if person.name.split() else person.name
        names = {person.name, first} if len(first) > 2 else {person.name}
        if any(re.search(rf"\b{re.escape(n)}\b", text) for n in names):
            named.append(person.id)
    return named[0] if len(named) == 1 else None


def _name_parts(p: Person) -> set[str]:
    parts = {p.name.lower(), p.id.lower()}
    parts.update(w.lower() for w in p.name.split() if len(w) > 1)
    return parts


def _before_embedding(buffer: list[_Prepared], comps: Components) -> None:
    comps.canon.fit(
        [ph for item in buffer for p in item.passages for ph in p.topics]
        + [t for item in buffer for t in item.session.tags]
    )
    for item in buffer:
        item.passages = [
            replace(p, topics=tuple(dict.fromkeys(t for ph in p.topics if (t := comps.canon.canonical(ph)))))
            for p in item.passages
        ]


def _write(buffer: list[_Prepared], vectors: np.ndarray, comps: Components, report: IngestReport) -> None:
    # Load the vector index before the first write: a store write moves the store's generation past the saved
    # index's, and an index first loaded after it would be rebuilt from every stored vector (at 1M passages
    # that retrained the IVF index and held it four times over, for every ingest).
    len(comps.index)
    offset = 0
    for item in buffer:
        n = len(item.passages)
        vecs = vectors[offset : offset + n]
        offset += n
        old = [p.id for p in comps.store.session_passages(item.session.id) if p.id is not None]
        ids = comps.store.replace_session(item.session, item.passages, vecs, item.texts)
        if old:
            comps.index.remove(np.asarray(old, dtype=np.int64))
        if ids:
            comps.index.add(np.asarray(ids, dtype=np.int64), vecs)
        report.passages += n
        (report.updated if item.replaces else report.ingested).append(item.session.id)


class _Batches:
    """Embeds one batch in a worker thread while the caller prepares the next; writes happen in the caller.

    torch releases the GIL while it computes, so on a small machine the embedding of batch k overlaps
    reading, segmenting and spaCy of batch k+1. The store, the index and the topic table are only touched
    from the calling thread, in batch order, so transactions never interleave.
    """

    def __init__(self, comps: Components, report: IngestReport, pool: ThreadPoolExecutor | None) -> None:
        self.comps, self.report, self.pool = comps, report, pool
        self.pending: tuple[list[_Prepared], Future[np.ndarray]] | None = None

    def submit(self, batch: list[_Prepared]) -> None:
        """Write the batch submitted before (waiting for its vectors), then start embedding this one.

        Without a pool (setting `ingest_overlap = false`) the batch is embedded and written at once.
        """
        self.drain()
        if batch:
            _before_embedding(batch, self.comps)
            texts = [t for item in batch for t in item.texts]
            if self.pool is None:
                done: Future[np.ndarray] = Future()
                done.set_result(self.comps.embedder.encode(texts))
                self.pending = (batch, done)
                self.drain()
            else:
                self.pending = (batch, self.pool.submit(self.comps.embedder.encode, texts))

    def drain(self) -> None:
        """Write the batch being embedded, if any."""
        if self.pending is not None:
            batch, vectors = self.pending
            self.pending = None
            _write(batch, vectors.result(), self.comps, self.report)


def ingest_files(
    files: Iterable[SourceFile | tuple[str, str]],
    comps: Components,
    *,
    defaults: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    total: int = 0,
    report: IngestReport | None = None,
) -> IngestReport:
    """Ingest files into the store and index; bad files are reported in the result and skipped."""
    report = report or IngestReport()
    started = time.perf_counter()
    people = _People(comps.store, report)
    batch_ids: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        pool = None
        if comps.settings.ingest_overlap:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="mentorkb-embed"))
        batches = _Batches(comps, report, pool)
        _ingest_loop(files, comps, defaults, progress, total, report, people, batch_ids, batches)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_loop(
    files: Iterable[SourceFile | tuple[str, str]],
    comps: Components,
    defaults: Mapping[str, Any] | None,
    progress: Progress | None,
    total: int,
    report: IngestReport,
    people: _People,
    batch_ids: dict[str, str],
    batches: _Batches,
) -> None:
    buffer: list[_Prepared] = []
    buffered = 0
    for done, item in enumerate(files, start=1):
        if isinstance(item, tuple):
            report.rejected.append(item)
        else:
            try:
                notes = read_note(
                    item.source, item.data, max_bytes=comps.settings.max_file_bytes, mtime=item.mtime, defaults=defaults
                )
                prepared = [p for n in notes if (p := _prepare(item, n, comps, people, batch_ids, report))]
            except MentorKBError as exc:
                report.rejected.append((item.source, str(exc)))
            else:
                buffer.extend(prepared)
                buffered += sum(len(p.passages) for p in prepared)
                if buffered >= 256:
                    batches.submit(buffer)
                    buffer, buffered = [], 0
        if progress:
            progress(item[0] if isinstance(item, tuple) else item.source, done, total)
    batches.submit(buffer)
    batches.drain()


def count_files(paths: Sequence[Path | str]) -> int:
    """How many files a folder walk will visit (for the progress bar)."""
    n = 0
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            n += 1
        elif p.is_dir():
            n += sum(
                1
                for f in p.rglob("*")
                if f.is_file()
                and f.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        else:
            n += 1
    return n


def environ_flag(name: str) -> bool:
    """True when an environment variable is set to a truthy value."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
