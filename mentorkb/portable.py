"""Export a knowledge base to one JSON Lines file, and import such a file into another knowledge base.

The export is complete: people (with levels and whether they came from the roster), sessions with all
their metadata, full text and passages (text, lines, speaker, canonical topics), the canonical-topic
table, key-value settings (cluster names, calibrated weights) and the logged questions. Vectors are
not exported: the importing knowledge base embeds the passages with its own embedder, so an export
moves between embedders, and the passages come back exactly as they were (no re-reading, no
re-segmentation). Line 1 is a header record that `is_export` recognises, so `mentorkb ingest` can tell
an export from a JSON Lines file of notes.

The file holds private sessions in full: it is written readable by its owner only (mode 0600).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from mentorkb.errors import DuplicateSessionError, LockedError, NoteFormatError
from models import IngestReport, Passage, Person, Session, SessionType, Topic, Visibility

if TYPE_CHECKING:
    from mentorkb.service import KnowledgeBase

FORMAT = "mentorkb-export"
VERSION = 1
KINDS: tuple[str, ...] = ("person", "session", "topic", "setting", "question")
# Settings that describe the exporting knowledge base itself, never copied into another one.
_LOCAL_SETTINGS: frozenset[tuple[str, str]] = frozenset({("index", "embedder")})
_CANON = ("topics", "canon")
_EMBED_BATCH = 256  # passages embedded per call on import, as the ingest pipeline does


# ------------------------------------------------------------------------------------------------ export


def export_kb(kb: KnowledgeBase, path: Path | str) -> int:
    """Write every person, session (with passages), topic, setting and logged question; returns the line count."""
    store = kb.store
    roster = store.roster_ids()
    records: list[dict[str, Any]] = [
        {
            "kind": FORMAT,
            "version": VERSION,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedder": store.kv_get("index", "embedder"),
            "counts": store.counts(),
        }
    ]
    records += [person_record(p, from_roster=p.id in roster) for p in store.people()]
    records += [session_record(s, passages) for s, passages in _sessions_in_store_order(kb)]
    records += [{"kind": "topic", "id": t.id, "label": t.label, "aliases": list(t.aliases)} for t in store.topics()]
    records += [{"kind": "setting", "namespace": ns, "key": k, "value": v} for ns, k, v in kv_items(store)]
    records += [
        {
            "kind": "question",
            "ts": q["ts"],
            "asked": q["kind"],
            "question": q["question"],
            "topics": list(q["topics"]),
            "asker": q["asker"],
        }
        for q in store.query_log()
    ]
    _write_private(Path(path), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return len(records)


def person_record(p: Person, *, from_roster: bool) -> dict[str, Any]:
    """One person as an export record."""
    return {
        "kind": "person",
        "id": p.id,
        "name": p.name,
        "email": p.email,
        "title": p.title,
        "level": p.level,
        "department": p.department,
        "joined": p.joined.isoformat() if p.joined else None,
        "capacity": p.capacity,
        "from_roster": from_roster,
    }


def session_record(s: Session, passages: Sequence[Passage]) -> dict[str, Any]:
    """One session, its full text and its passages as an export record."""
    return {
        "kind": "session",
        "id": s.id,
        "date": s.date.isoformat(),
        "title": s.title,
        "type": s.type.value,
        "mentors": list(s.mentors),
        "mentees": list(s.mentees),
        "participants": list(s.participants),
        "visibility": s.visibility.value,
        "tags": list(s.tags),
        "source": s.source,
        "content_hash": s.content_hash,
        "first_line": s.first_line,
        "is_transcript": s.is_transcript,
        "text": s.text,
        "passages": [
            {
                "ordinal": p.ordinal,
                "text": p.text,
                "line_start": p.line_start,
                "line_end": p.line_end,
                "speaker": p.speaker,
                "topics": list(p.topics),
            }
            for p in passages
        ],
    }


def _sessions_in_store_order(kb: KnowledgeBase) -> list[tuple[Session, list[Passage]]]:
    # Ingest order (the first passage id) is kept so that the importing store numbers passages in the same
    # relative order, which keeps ties in search results broken the same way.
    out = [(s, kb.store.session_passages(s.id)) for s in kb.store.sessions()]
    return sorted(out, key=lambda sp: (min((p.id or 0 for p in sp[1]), default=2**62), sp[0].id))


def kv_items(store: Any) -> list[tuple[str, str, str]]:
    """Every (namespace, key, value) setting, sorted: Store.kv_items where the store has it, else an SQLite read."""
    if hasattr(store, "kv_items"):
        return sorted(store.kv_items())
    # The Store seam has no listing yet: read the kv table of an SQLite store through a read-only connection.
    db = sqlite3.connect(f"file:{Path(store.path).resolve().as_posix()}?mode=ro", uri=True)
    try:
        return sorted((str(a), str(b), str(c)) for a, b, c in db.execute("SELECT namespace, key, value FROM kv"))
    finally:
        db.close()


def _write_private(path: Path, text: str) -> None:
    """Atomically write text to path, readable by its owner only (the export holds private notes)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


# ------------------------------------------------------------------------------------------------ import


def is_export(path: Path | str) -> bool:
    """True when the file starts with a mentorkb export header (so it is imported, not read as notes)."""
    try:
        with Path(path).open("rb") as f:
            first = f.readline(64_000)
    except OSError:
        return False
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("kind") == FORMAT


@dataclass
class ExportContent:
    """What an export file holds, validated; bad records are listed in `rejected` as (file:line, message)."""

    people: list[tuple[Person, bool]] = field(default_factory=list)  # (person, from_roster)
    sessions: list[tuple[Session, list[Passage]]] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    settings: list[tuple[str, str, str]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def read_export(source: str, lines: Sequence[str]) -> ExportContent:
    """Parse and validate the lines of an export file (pure: no store involved)."""
    out = ExportContent()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise NoteFormatError("export file is empty", source=source, fix="export again with `mentorkb export FILE`")
    n, first = numbered[0]
    header = _json_object(source, n, first)
    if header.get("kind") != FORMAT:
        raise NoteFormatError(
            f"first record is not a {FORMAT} header",
            source=source,
            line=n,
            fix="import a file written by `mentorkb export`; for JSON Lines notes, ingest them as notes",
        )
    if header.get("version") != VERSION:
        raise NoteFormatError(
            f"export format version {header.get('version')!r}, this mentorkb reads version {VERSION}",
            source=source,
            line=n,
            field="version",
            fix="export again with this version of mentorkb",
        )
    for n, line in numbered[1:]:
        try:
            rec = _json_object(source, n, line)
            kind = rec.get("kind")
            if kind == "person":
                out.people.append(_person(rec, _Where(source, n)))
            elif kind == "session":
                out.sessions.append(_session(rec, _Where(source, n)))
            elif kind == "topic":
                w = _Where(source, n)
                out.topics.append(Topic(w.text(rec, "id"), w.text(rec, "label"), tuple(w.texts(rec, "aliases"))))
            elif kind == "setting":
                w = _Where(source, n)
                out.settings.append((w.text(rec, "namespace"), w.text(rec, "key"), w.text(rec, "value")))
            elif kind == "question":
                w = _Where(source, n)
                asker = rec.get("asker")
                if asker is not None:
                    asker = w.text(rec, "asker")
                out.questions.append(
                    {
                        "asked": w.text(rec, "asked"),
                        "question": w.text(rec, "question"),
                        "topics": w.texts(rec, "topics"),
                        "asker": asker,
                    }
                )
            else:
                raise NoteFormatError(
                    f"unknown record kind {kind!r}",
                    source=source,
                    line=n,
                    field="kind",
                    fix=f"use one of: {', '.join(KINDS)}",
                )
        except NoteFormatError as exc:
            out.rejected.append((f"{source}:{n}", str(exc)))
    return out


def import_kb(kb: KnowledgeBase, path: Path | str) -> IngestReport:
    """Import an export file: people, sessions (re-embedded by this knowledge base), topics, settings, questions.

    Sessions already stored with the same content are reported unchanged; a different session under an id
    or source already taken is rejected (nothing stored is replaced). Settings already set here are kept.
    """
    started = time.perf_counter()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NoteFormatError(
            f"cannot read the export file ({exc})", source=str(path), fix="give the file `mentorkb export` wrote"
        ) from exc
    content = read_export(str(path), text.split("\n"))
    report = IngestReport(rejected=list(content.rejected))
    store = kb.store
    with _write_lock(kb):
        was_empty = store.counts()["sessions"] == 0
        roster = [p for p, from_roster in content.people if from_roster]
        others = [p for p, from_roster in content.people if not from_roster]
        report.new_people += store.upsert_people(roster, from_roster=True)
        report.new_people += store.upsert_people(others, from_roster=False)
        todo = [(s, ps) for s, ps in content.sessions if _admit(store, s, report)]
        _store_sessions(kb, todo, report)
        _import_topics(kb, content, todo, fresh=was_empty)
        for ns, key, value in content.settings:
            if (ns, key) in _LOCAL_SETTINGS or (ns, key) == _CANON:
                continue
            if store.kv_get(ns, key) is None:
                store.kv_set(ns, key, value)
            elif store.kv_get(ns, key) != value:
                report.notices.append(f"{path}: setting {ns}/{key} is already set here; kept this knowledge base's")
        _import_questions(store, content.questions)
        if store.kv_get("index", "embedder") is None:
            store.kv_set("index", "embedder", kb.embedder.name)
        kb.index()  # the store moved on: rebuild and save the derived vector index from the stored vectors
    report.seconds = time.perf_counter() - started
    return report


def _import_questions(store: Any, questions: Sequence[Mapping[str, Any]]) -> None:
    """Log the exported questions this knowledge base does not hold yet (so importing twice adds nothing)."""
    key = lambda kind, q, topics, asker: (kind, q, tuple(topics), asker)  # noqa: E731
    have = Counter(key(r["kind"], r["question"], r["topics"], r["asker"]) for r in store.query_log())
    for q in questions:
        k = key(q["asked"], q["question"], q["topics"], q["asker"])
        if have[k]:
            have[k] -= 1
        else:
            store.log_query(q["asked"], q["question"], q["topics"], q["asker"])


def _admit(store: Any, s: Session, report: IngestReport) -> bool:
    existing = store.session(s.id)
    by_source = store.session_by_source(s.source)
    if existing is None and by_source is None:
        return True
    if existing is not None and existing.content_hash == s.content_hash and existing.source == s.source:
        report.unchanged.append(s.id)
        return False
    taken = existing or by_source
    exc = DuplicateSessionError(
        f"session '{s.id}' ({s.source}) clashes with the stored session '{taken.id}' ({taken.source})",
        source=s.source,
        field="id",
        fix=f"`mentorkb remove {taken.id}` first if the export should replace it, or import into an empty --kb",
    )
    report.rejected.append((s.source, str(exc)))
    return False


def _store_sessions(kb: KnowledgeBase, todo: Sequence[tuple[Session, list[Passage]]], report: IngestReport) -> None:
    """Embed and store sessions as the ingest pipeline does: the same search texts, one transaction each."""
    from mentorkb.pipeline import search_texts

    batch: list[tuple[Session, list[Passage], list[str]]] = []
    size = 0
    for item in [*todo, None]:
        if item is not None:
            batch.append((*item, search_texts(*item)))
            size += len(item[1])
        if batch and (item is None or size >= _EMBED_BATCH):
            texts = [t for _, _, ts in batch for t in ts]
            vectors = kb.embedder.encode(texts) if texts else np.zeros((0, kb.embedder.dim), np.float32)
            offset = 0
            for s, ps, ts in batch:
                kb.store.replace_session(s, ps, vectors[offset : offset + len(ps)], ts)
                offset += len(ps)
                report.ingested.append(s.id)
                report.passages += len(ps)
            batch, size = [], 0


def _import_topics(
    kb: KnowledgeBase, content: ExportContent, stored: Sequence[tuple[Session, list[Passage]]], *, fresh: bool
) -> None:
    """An empty knowledge base takes the exported topic table as is; a used one learns the stored sessions' topics."""
    from ingest.canon import TopicCanon

    exported = next((v for ns, k, v in content.settings if (ns, k) == _CANON), None)
    store = kb.store
    if fresh and exported is not None:
        canon = TopicCanon.from_json(exported)  # validates it before it is stored
        store.kv_set(*_CANON, canon.to_json())
        store.upsert_topics(content.topics or canon.topics())
        return
    if not stored:
        return
    raw = store.kv_get(*_CANON)
    canon = TopicCanon.from_json(raw) if raw else TopicCanon()
    canon.fit(t for _, ps in stored for p in ps for t in p.topics)
    store.kv_set(*_CANON, canon.to_json())
    store.upsert_topics(canon.topics())


@contextmanager
def _write_lock(kb: KnowledgeBase) -> Iterator[None]:
    """The knowledge base's writer lock (the same file the ingest takes), with its LockedError."""
    from filelock import FileLock, Timeout

    from mentorkb.service import LOCK_NAME

    kb.kb_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(kb.kb_dir / LOCK_NAME), timeout=kb.settings.lock_timeout_s)
    try:
        lock.acquire()
    except Timeout as exc:
        raise LockedError(
            "another mentorkb process is writing to this knowledge base",
            source=str(kb.kb_dir),
            fix="wait for the other ingest to finish, then run this command again",
        ) from exc
    try:
        yield
    finally:
        lock.release()


# ------------------------------------------------------------------------------------------------ records


def _json_object(source: str, n: int, line: str) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except RecursionError as exc:
        raise NoteFormatError("record is nested too deeply", source=source, line=n, fix="one flat object") from exc
    except ValueError as exc:
        raise NoteFormatError(f"not JSON ({exc})", source=source, line=n, fix="one JSON object per line") from exc
    if not isinstance(rec, dict):
        raise NoteFormatError("record is not a JSON object", source=source, line=n, fix="one JSON object per line")
    return rec


@dataclass(frozen=True)
class _Where:
    """Typed field access that names the file, line and field on a wrong or missing value."""

    source: str
    line: int

    def fail(self, name: str, problem: str, fix: str) -> NoteFormatError:
        return NoteFormatError(problem, source=self.source, line=self.line, field=name, fix=fix)

    def text(self, rec: Mapping[str, Any], name: str, *, empty: bool = True) -> str:
        value = rec.get(name)
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(
                name, f"must be {'text' if empty else 'non-empty text'}, not {value!r:.40}", "give a string"
            )
        return value

    def texts(self, rec: Mapping[str, Any], name: str) -> list[str]:
        value = rec.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, f"must be a list of strings, not {value!r:.40}", 'write ["a", "b"]')
        return value

    def integer(self, rec: Mapping[str, Any], name: str, *, optional: bool = False, minimum: int = 0) -> int | None:
        value = rec.get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(name, f"must be a whole number >= {minimum}, not {value!r:.40}", "give a number")
        return value

    def day(self, rec: Mapping[str, Any], name: str, *, optional: bool = False) -> date | None:
        value = rec.get(name)
        if value is None and optional:
            return None
        problem, fix = f"must be a date YYYY-MM-DD, not {value!r:.40}", "write YYYY-MM-DD"
        if not isinstance(value, str):
            raise self.fail(name, problem, fix)
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise self.fail(name, problem, fix) from exc

    def flag(self, rec: Mapping[str, Any], name: str, *, default: bool = False) -> bool:
        value = rec.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, not {value!r:.40}", "write true or false")
        return value

    def choice(self, rec: Mapping[str, Any], name: str, enum: type[SessionType] | type[Visibility]) -> Any:
        value = rec.get(name)
        try:
            return enum(value)
        except ValueError as exc:
            allowed = ", ".join(m.value for m in enum)
            raise self.fail(name, f"unknown value {value!r:.40}", f"use one of: {allowed}") from exc


def _person(rec: Mapping[str, Any], w: _Where) -> tuple[Person, bool]:
    from_roster = w.flag(rec, "from_roster", default=True)
    person = Person(
        id=w.text(rec, "id", empty=False),
        name=w.text(rec, "name", empty=False),
        email=w.text(rec, "email"),
        title=w.text(rec, "title"),
        level=w.integer(rec, "level", optional=True),
        department=w.text(rec, "department"),
        joined=w.day(rec, "joined", optional=True),
        capacity=w.integer(rec, "capacity", optional=True),
    )
    return person, from_roster


def _session(rec: Mapping[str, Any], w: _Where) -> tuple[Session, list[Passage]]:
    sid = w.text(rec, "id", empty=False)
    source = w.text(rec, "source", empty=False)
    pure = PurePosixPath(source.split("#", 1)[0])
    if pure.is_absolute() or ".." in pure.parts or "\\" in source:
        raise w.fail("source", f"'{source}' is not a relative path inside the notes", "give the path as exported")
    session = Session(
        id=sid,
        date=w.day(rec, "date"),
        title=w.text(rec, "title"),
        type=w.choice(rec, "type", SessionType),
        mentors=tuple(w.texts(rec, "mentors")),
        mentees=tuple(w.texts(rec, "mentees")),
        participants=tuple(w.texts(rec, "participants")),
        visibility=w.choice(rec, "visibility", Visibility),
        tags=tuple(w.texts(rec, "tags")),
        source=source,
        content_hash=w.text(rec, "content_hash"),
        text=w.text(rec, "text"),
        first_line=w.integer(rec, "first_line", minimum=1),
        is_transcript=w.flag(rec, "is_transcript"),
    )
    raw = rec.get("passages")
    if not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
        raise w.fail("passages", "must be a non-empty list of passage objects", "export the session again")
    passages = []
    for p in raw:
        speaker = p.get("speaker")
        passages.append(
            Passage(
                session_id=sid,
                ordinal=w.integer(p, "ordinal"),
                text=w.text(p, "text", empty=False),
                line_start=w.integer(p, "line_start", minimum=1),
                line_end=w.integer(p, "line_end", minimum=1),
                speaker=w.text(p, "speaker") if speaker is not None else None,
                topics=tuple(w.texts(p, "topics")),
            )
        )
    return session, passages
