"""The metadata store: sessions, people, passages (with their vectors) and the BM25 index.

SQLite is the source of truth. Every write is one transaction, so a crash leaves either the
old or the new version of a session, never half of one. Passage vectors live here too, which
lets the FAISS index (a derived cache) be rebuilt at any time without re-embedding. The
lexical side is SQLite FTS5 with its built-in BM25 ranking, updated in the same transaction; a large store
answers BM25 from an in-memory copy of the FTS5 postings once one is built (index/lexical.py), with the same scores.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from index import lexical
from mentorkb.errors import StoreError
from models import Passage, Person, Role, Session, SessionType, Topic, Visibility

SCHEMA_VERSION = 1
DB_NAME = "mentorkb.sqlite3"
_LOG = logging.getLogger("mentorkb.store")
# A phrase in this many passages or fewer is scored by FTS5 itself (~2 us each) when BM25 runs in memory; past it,
# its occurrences are estimated from its words' (see lexical.MemoryBM25.search).
_EXACT_PHRASE_PASSAGES = 2_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
    level INTEGER, department TEXT NOT NULL DEFAULT '', joined TEXT, capacity INTEGER,
    from_roster INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS people_email ON people(lower(email));
CREATE INDEX IF NOT EXISTS people_name ON people(lower(name));
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, date TEXT NOT NULL, title TEXT NOT NULL, type TEXT NOT NULL, visibility TEXT NOT NULL,
    tags TEXT NOT NULL, source TEXT NOT NULL, content_hash TEXT NOT NULL, text TEXT NOT NULL,
    first_line INTEGER NOT NULL, is_transcript INTEGER NOT NULL, ingested_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS sessions_source ON sessions(source);
CREATE TABLE IF NOT EXISTS session_people (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL, role TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (session_id, person_id, role)
);
CREATE INDEX IF NOT EXISTS session_people_person ON session_people(person_id);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, speaker TEXT, text TEXT NOT NULL,
    line_start INTEGER NOT NULL, line_end INTEGER NOT NULL, topics TEXT NOT NULL, vector BLOB,
    search_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS passages_session ON passages(session_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    search_text, content='passages', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
CREATE TABLE IF NOT EXISTS topics (id TEXT PRIMARY KEY, label TEXT NOT NULL, aliases TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS query_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, kind TEXT NOT NULL, question TEXT NOT NULL,
    topics TEXT NOT NULL, asker TEXT
);
CREATE TABLE IF NOT EXISTS kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (namespace, key));
"""

# English words that carry no topical weight; kept out of FTS queries so "how do I ..." does not match everything.
_STOP = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "teach",
        "learn",
        "someone",
        "anyone",
        "somebody",
        "help",
        "me",
        "know",
        "get",
        "got",
        "want",
        "wants",
        "need",
        "needs",
        "like",
        "one",
        "ever",
        "earlier",
        "already",
        "worked",
    ]
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#.\-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
# What the unicode61 tokenizer keeps of a query word: "node.js" is the phrase "node" "js" to FTS5.
_TOKEN = re.compile(r"[a-z0-9]+")


def fts_terms(text: str) -> list[str]:
    """The content words of free text as quoted FTS5 strings (no syntax injection), first occurrence first."""
    terms = []
    for w in _WORD.findall(text.lower()):
        if w in _STOP or len(w) < 2:
            continue
        terms.append('"' + w.replace('"', "") + '"')
    return list(dict.fromkeys(terms))


def fts_query(text: str) -> str:
    """Turn free text into a safe FTS5 OR-query of its content words."""
    return " OR ".join(fts_terms(text))


def prune_terms(terms: Sequence[str], postings: Sequence[int], budget: int, *, at_least: int = 1) -> list[str]:
    """The rarest terms whose posting lists together fit `budget`, in query order.

    All terms are kept when they fit together; past the budget the most frequent terms, which add the least to a
    BM25 score and cost the most to score, are dropped first. The rarest terms are kept regardless until their
    lists hold `at_least` postings (a word found nowhere must not leave the question without candidates).
    Ties keep the earlier term.
    """
    if sum(postings) <= budget:
        return list(terms)
    kept: set[int] = set()
    total = 0
    for i in sorted(range(len(terms)), key=lambda i: postings[i]):
        if total >= at_least and total + postings[i] > budget:
            break
        kept.add(i)
        total += postings[i]
    return [t for i, t in enumerate(terms) if i in kept]


def _bm25(db: sqlite3.Connection, fts: str, k: int) -> list[tuple[int, float]]:
    """The k best passages for an FTS5 query by BM25, sign flipped so higher is better."""
    rows = db.execute(
        "SELECT rowid, bm25(passages_fts) AS s FROM passages_fts WHERE passages_fts MATCH ? ORDER BY s LIMIT ?",
        (fts, k),
    ).fetchall()
    return [(int(r[0]), -float(r[1])) for r in rows]


def _postings(db: sqlite3.Connection, terms: Sequence[str], budget: int, at_least: int) -> list[int]:
    """Posting-list length of each quoted term (a phrase: the sum over its words), counted only as far as
    `prune_terms` needs: past `budget`, a term cannot fit.

    Counting through FTS5 itself stems each word exactly as the index did. The counts stop at budget + 1;
    only when the terms below that hold fewer than `at_least` postings is the limit doubled, until they do.
    (An fts5vocab table would count each word's whole list: 36 ms for one demo question at 1M passages.)
    """
    words = [_TOKEN.findall(t) for t in terms]
    cap = budget + 1
    counts: dict[str, int] = {}
    todo = {w for ws in words for w in ws}
    while True:
        for w in todo:
            counts[w] = db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM passages_fts WHERE passages_fts MATCH ? LIMIT ?)",
                (f'"{w}"', cap),
            ).fetchone()[0]
        postings = [sum(counts[w] for w in ws) for ws in words]
        todo = {w for w, n in counts.items() if n == cap}  # stopped at the limit: longer than counted
        if not todo or sum(n for n in postings if n < cap) >= at_least:
            return postings
        cap *= 2


class Store(Protocol):
    """What the service needs from a metadata store (SQLite today; another database could follow)."""

    def close(self) -> None: ...
    def generation(self) -> int: ...
    def upsert_people(self, people: Iterable[Person], *, from_roster: bool = True) -> list[str]: ...
    def person(self, person_id: str) -> Person | None: ...
    def people(self) -> list[Person]: ...
    def roster_ids(self) -> set[str]: ...
    def find_person(self, ref: str) -> Person | None: ...
    def session(self, session_id: str) -> Session | None: ...
    def session_by_source(self, source: str) -> Session | None: ...
    def sessions(self, *, with_text: bool = True) -> list[Session]: ...
    def iter_passage_topics(self, normalise: Callable[[str], str] | None = None) -> Iterator[tuple[str, set[str]]]: ...
    def replace_session(
        self,
        session: Session,
        passages: Sequence[Passage],
        vectors: np.ndarray | None,
        search_texts: Sequence[str] | None = None,
    ) -> list[int]: ...
    def remove_session(self, session_id: str) -> list[int]: ...
    def passages(self, ids: Sequence[int]) -> list[Passage]: ...
    def session_passages(self, session_id: str) -> list[Passage]: ...
    def vectors(self) -> tuple[np.ndarray, np.ndarray]: ...
    def vectors_for(self, ids: Sequence[int]) -> dict[int, np.ndarray]: ...
    def all_passages(self) -> list[Passage]: ...
    def set_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def lexical_search(self, query: str, k: int, *, posting_budget: int = 0) -> list[tuple[int, float]]: ...
    def upsert_topics(self, topics: Iterable[Topic]) -> None: ...
    def topics(self) -> list[Topic]: ...
    def topics_version(self) -> int: ...
    def log_query(self, kind: str, question: str, topics: Sequence[str], asker: str | None) -> None: ...
    def query_log(self) -> list[dict]: ...
    def kv_get(self, namespace: str, key: str) -> str | None: ...
    def kv_set(self, namespace: str, key: str, value: str) -> None: ...
    def kv_items(self) -> list[tuple[str, str, str]]: ...
    def counts(self) -> dict[str, int]: ...


class SQLiteStore:
    """SQLite implementation of Store: WAL mode so readers never block on (or see half of) a write."""

    def __init__(self, path: Path | str, *, readonly: bool = False, memory_bm25_min: int = 0) -> None:
        """Open (creating if needed) the database at path.

        Args:
            path: the SQLite file, or ":memory:".
            readonly: refuse to create a missing file.
            memory_bm25_min: from this many passages on, BM25 is answered from an in-memory copy of the FTS5
                postings, built in a background thread once a generation has been searched twice; 0 = never.
        """
        self.path = Path(path)
        self.memory_bm25_min = memory_bm25_min
        self._mem: lexical.MemoryBM25 | None = None  # see _memory_bm25
        self._mem_lock = threading.Lock()
        self._mem_thread: threading.Thread | None = None
        self._mem_stop = threading.Event()
        self._mem_searches = (-1, 0)  # (generation, FTS5 searches at it)
        self._mem_skip = -1  # a generation too small (or failing) to copy
        self._stemmer: lexical.Stemmer | None = None
        self.memory_bm25_build_s = 0.0  # how long the latest copy took
        self._topics_memo: dict[str, tuple[str, ...]] = {}  # a passage's topics column (JSON) -> parsed
        if str(path) != ":memory:":
            if readonly and not self.path.exists():
                raise StoreError(
                    "no knowledge base here yet",
                    source=str(self.path),
                    fix="run `mentorkb ingest PATH` first (or pass --kb DIR)",
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lexical: sqlite3.Connection | None = None  # opened on the first BM25 search, see _lexical_db
        self._closed = False
        self._lexical_lock = threading.Lock()
        deadline = time.monotonic() + 30.0
        try:
            while True:
                self._db = self._connect()
                try:
                    self._open()
                    break
                except sqlite3.OperationalError as exc:
                    # Two processes opening a brand-new file at once: switching it to WAL needs a moment alone,
                    # and SQLite answers "locked" at once instead of waiting. Try again; never for long.
                    self._db.close()
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the knowledge-base database: {exc}",
                source=str(self.path),
                fix="restore it from `mentorkb export` output, or move it away and re-ingest",
            ) from exc

    # -- housekeeping -------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """A connection in autocommit mode that waits up to 30 s for a writer and may serve any thread."""
        db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout = 30000")
        return db

    def _open(self) -> None:
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        if str(self.path) != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
        self._init_schema()

    def _init_schema(self) -> None:
        row = None
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row is not None and int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"database schema version {row[0]}, this mentorkb needs {SCHEMA_VERSION}",
                source=str(self.path),
                fix="export with the mentorkb that wrote it, then ingest the export into a new --kb",
            )
        self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")  # waits for a writer, never a stale snapshot
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', '0')")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front so writers queue, not fail."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")

    def close(self) -> None:
        """Close the connections (stopping a BM25 copy being built)."""
        self._mem_stop.set()
        thread = self._mem_thread
        if thread is not None:
            thread.join()
        with self._lexical_lock:
            self._closed = True
            if self._lexical is not None:
                self._lexical.close()
                self._lexical = None
            if self._stemmer is not None:
                self._stemmer.close()
                self._stemmer = None
        self._mem = None
        self._db.close()

    # -- BM25 in memory -----------------------------------------------------------------------------------------
    def _memory_bm25(self, db: sqlite3.Connection, *, start: bool = False) -> lexical.MemoryBM25 | None:
        """The in-memory BM25 copy when it matches the current generation; else None, and the copy of this
        generation is started in the background on its second search (or at once with `start`)."""
        if self.memory_bm25_min <= 0 or str(self.path) == ":memory:":
            return None
        gen = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        with self._mem_lock:
            mem = self._mem
            if mem is not None and mem.generation == gen:
                return mem
            self._mem = None  # stale: its memory is freed now, not when the next copy is done
            seen, count = self._mem_searches
            count = count + 1 if seen == gen else 1
            self._mem_searches = (gen, count)
            building = self._mem_thread is not None
            if count == 1 or start:  # once per generation: the largest id bounds the passage count, at no cost
                top = db.execute("SELECT max(id) FROM passages").fetchone()[0]
                if (top or 0) < self.memory_bm25_min:
                    self._mem_skip = gen  # too small to copy: no thread, no second connection
            if not building and gen != self._mem_skip and (start or count >= 2) and not self._mem_stop.is_set():
                self._mem_thread = threading.Thread(
                    target=self._build_memory_bm25, args=(gen,), name="mentorkb-bm25-copy", daemon=True
                )
                self._mem_thread.start()
        return None

    def _build_memory_bm25(self, gen: int) -> None:
        started = time.perf_counter()
        db = self._connect()
        try:
            if int(db.execute("SELECT count(*) FROM passages").fetchone()[0]) < self.memory_bm25_min:
                self._mem_skip = gen
                return
            mem = lexical.build(db, stop=self._mem_stop)
            with self._mem_lock:
                if not self._mem_stop.is_set():
                    self._mem = mem
                    self.memory_bm25_build_s = time.perf_counter() - started
        except lexical.BuildStopped:
            pass
        except sqlite3.Error as exc:  # FTS5 keeps answering; the copy is tried again at the next generation
            _LOG.warning("BM25 stays in SQLite: the in-memory copy failed (%s)", exc)
            self._mem_skip = gen
        finally:
            db.close()
            with self._mem_lock:
                self._mem_thread = None

    def warm_bm25(self, timeout: float | None = None) -> bool:
        """Start the in-memory BM25 copy now (if enabled and the store is large enough) and wait for it; True
        when searches are now answered from memory."""
        if self.memory_bm25_min <= 0 or str(self.path) == ":memory:":
            return False
        db = self._lexical_db()
        if self._memory_bm25(db, start=True) is not None:
            return True
        thread = self._mem_thread
        if thread is not None:
            thread.join(timeout)
        return self._memory_bm25(db) is not None

    def _memory_search(
        self, mem: lexical.MemoryBM25, db: sqlite3.Connection, terms: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """BM25 from the in-memory copy; FTS5 finds the passages holding a phrase (a word it splits, "node.js")."""
        with self._lexical_lock:
            if self._stemmer is None:
                self._stemmer = lexical.Stemmer()
            stemmer = self._stemmer
        words: list[str] = []
        phrases: list[tuple[tuple[str, ...], list[int]]] = []
        scored: list[list[tuple[int, float]]] = []
        for term in terms:
            tokens = stemmer.tokens(term[1:-1])
            if len(tokens) == 1:
                words.append(tokens[0])
            elif tokens:  # listing the passages is cheap; FTS5's bm25() on each of them is not (25 ms for 13k)
                found = [r[0] for r in db.execute("SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?", (term,))]
                if len(found) <= _EXACT_PHRASE_PASSAGES:
                    scored.append(_bm25(db, term, -1))  # LIMIT -1: all of them, FTS5's own score
                else:
                    phrases.append((tokens, found))
        return mem.search(words, k, phrases=phrases, scored=scored)

    def _lexical_db(self) -> sqlite3.Connection:
        """The connection BM25 searches run on: a second one to the same file, so that a search in another thread
        (the service runs it while the question is embedded) neither waits for nor holds up the main connection.
        WAL mode lets it read beside a writer; it sees every committed write. An in-memory database cannot be
        opened twice, so there the main connection searches."""
        if str(self.path) == ":memory:":
            return self._db
        with self._lexical_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._lexical is None:
                self._lexical = self._connect()
            return self._lexical

    def generation(self) -> int:
        """A counter bumped by every write that changes passages; the vector index records the one it matches."""
        return int(self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])

    # -- people -------------------------------------------------------------------------------------------------
    def upsert_people(self, people: Iterable[Person], *, from_roster: bool = True) -> list[str]:
        """Insert or update people; returns the ids that were new. A roster entry replaces an auto-created one."""
        new: list[str] = []
        with self._tx() as db:
            for p in people:
                existing = db.execute("SELECT from_roster FROM people WHERE id=?", (p.id,)).fetchone()
                if existing is None:
                    new.append(p.id)
                elif not from_roster:
                    continue  # never let a bare name from a note overwrite roster data
                db.execute(
                    "INSERT OR REPLACE INTO people VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        p.id,
                        p.name,
                        p.email,
                        p.title,
                        p.level,
                        p.department,
                        p.joined.isoformat() if p.joined else None,
                        p.capacity,
                        int(from_roster),
                    ),
                )
        return new

    @staticmethod
    def _person(row: sqlite3.Row) -> Person:
        return Person(
            id=row["id"],
            name=row["name"],
            email=row["email"],
            title=row["title"],
            level=row["level"],
            department=row["department"],
            joined=date.fromisoformat(row["joined"]) if row["joined"] else None,
            capacity=row["capacity"],
        )

    def person(self, person_id: str) -> Person | None:
        """One person by roster id."""
        row = self._db.execute("SELECT * FROM people WHERE id=?", (person_id,)).fetchone()
        return self._person(row) if row else None

    def people(self) -> list[Person]:
        """Everyone, sorted by name."""
        return [self._person(r) for r in self._db.execute("SELECT * FROM people ORDER BY name, id")]

    def roster_ids(self) -> set[str]:
        """Ids of people who came from a roster (not merely named in a note)."""
        return {r[0] for r in self._db.execute("SELECT id FROM people WHERE from_roster=1")}

    def find_person(self, ref: str) -> Person | None:
        """Resolve a reference written in a note: roster id, then email, then full name (case-insensitive)."""
        ref = ref.strip()
        for sql in (
            "SELECT * FROM people WHERE id=?",
            "SELECT * FROM people WHERE lower(email)=lower(?)",
            "SELECT * FROM people WHERE lower(name)=lower(?)",
        ):
            row = self._db.execute(sql, (ref,)).fetchone()
            if row:
                return self._person(row)
        return None

    # -- sessions -----------------------------------------------------------------------------------------------
    def _session(self, row: sqlite3.Row, roles: dict[str, list[str]] | None = None) -> Session:
        if roles is None:
            roles = {"mentor": [], "mentee": [], "participant": []}
            for r in self._db.execute(
                "SELECT person_id, role FROM session_people WHERE session_id=? ORDER BY position", (row["id"],)
            ):
                roles[r["role"]].append(r["person_id"])
        return Session(
            id=row["id"],
            date=date.fromisoformat(row["date"]),
            title=row["title"],
            type=SessionType(row["type"]),
            mentors=tuple(roles["mentor"]),
            mentees=tuple(roles["mentee"]),
            participants=tuple(roles["participant"]),
            visibility=Visibility(row["visibility"]),
            tags=tuple(json.loads(row["tags"])),
            source=row["source"],
            content_hash=row["content_hash"],
            text=row["text"] if "text" in row.keys() else "",  # noqa: SIM118 - `in row` tests values
            first_line=row["first_line"],
            is_transcript=bool(row["is_transcript"]),
        )

    def session(self, session_id: str) -> Session | None:
        """One session by id."""
        row = self._db.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
        return self._session(row) if row else None

    def session_by_source(self, source: str) -> Session | None:
        """The session ingested from this source path, if any."""
        row = self._db.execute("SELECT * FROM sessions WHERE source=?", (source,)).fetchone()
        return self._session(row) if row else None

    def sessions(self, *, with_text: bool = True) -> list[Session]:
        """All sessions, newest first, in two queries; `with_text=False` leaves each `text` empty (cheaper)."""
        roles: dict[str, dict[str, list[str]]] = {}
        for sid, pid, role in self._db.execute(
            "SELECT session_id, person_id, role FROM session_people ORDER BY session_id, position"
        ):
            roles.setdefault(sid, {"mentor": [], "mentee": [], "participant": []})[role].append(pid)
        cols = "*" if with_text else ", ".join(c for c in self._session_columns() if c != "text")
        empty: dict[str, list[str]] = {"mentor": [], "mentee": [], "participant": []}
        return [
            self._session(r, roles.get(r["id"], empty))
            for r in self._db.execute(f"SELECT {cols} FROM sessions ORDER BY date DESC, id")  # noqa: S608
        ]

    def iter_passage_topics(self, normalise: Callable[[str], str] | None = None) -> Iterator[tuple[str, set[str]]]:
        """(session id, its passages' topics) for one session at a time, so that all of them are never in memory
        at once; `normalise` is applied once per distinct phrase."""
        mapped: dict[str, str] = {}
        current: str | None = None
        topics: set[str] = set()
        for sid, raw in self._db.execute("SELECT session_id, topics FROM passages ORDER BY session_id"):
            if sid != current:
                if current is not None and topics:
                    yield current, topics
                current, topics = sid, set()
            if raw == "[]":
                continue
            for t in json.loads(raw):
                topics.add(t if normalise is None else mapped[t] if t in mapped else mapped.setdefault(t, normalise(t)))
        if current is not None and topics:
            yield current, topics

    def _session_columns(self) -> list[str]:
        return [r[1] for r in self._db.execute("PRAGMA table_info(sessions)")]

    def replace_session(
        self,
        session: Session,
        passages: Sequence[Passage],
        vectors: np.ndarray | None,
        search_texts: Sequence[str] | None = None,
    ) -> list[int]:
        """Atomically store a session with its passages (and their vectors), replacing any earlier version.

        `search_texts` is what BM25 indexes per passage (the passage with its context); default the passage text.
        Returns the new passage ids in order. Ids of the replaced version's passages are not reused.
        """
        if search_texts is not None and len(search_texts) != len(passages):
            raise ValueError("one search text per passage expected")
        if vectors is not None and len(vectors) != len(passages):
            raise ValueError("one vector per passage expected")
        ids: list[int] = []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._tx() as db:
            db.execute("DELETE FROM passages WHERE session_id=?", (session.id,))
            db.execute("DELETE FROM sessions WHERE id=?", (session.id,))
            db.execute(
                "INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    session.id,
                    session.date.isoformat(),
                    session.title,
                    session.type.value,
                    session.visibility.value,
                    json.dumps(list(session.tags)),
                    session.source,
                    session.content_hash,
                    session.text,
                    session.first_line,
                    int(session.is_transcript),
                    now,
                ),
            )
            pos = 0
            for role, members in (
                (Role.MENTOR, session.mentors),
                (Role.MENTEE, session.mentees),
                (Role.PARTICIPANT, session.participants),
            ):
                for pid in members:
                    db.execute(
                        "INSERT OR IGNORE INTO session_people VALUES (?,?,?,?)", (session.id, pid, role.value, pos)
                    )
                    pos += 1
            for i, p in enumerate(passages):
                blob = np.asarray(vectors[i], dtype=np.float32).tobytes() if vectors is not None else None
                cur = db.execute(
                    "INSERT INTO passages (session_id, ordinal, speaker, text, line_start, line_end, topics, vector,"
                    " search_text) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        session.id,
                        p.ordinal,
                        p.speaker,
                        p.text,
                        p.line_start,
                        p.line_end,
                        json.dumps(list(p.topics)),
                        blob,
                        search_texts[i] if search_texts is not None else p.text,
                    ),
                )
                ids.append(int(cur.lastrowid))
            self._bump(db)
        return ids

    def remove_session(self, session_id: str) -> list[int]:
        """Delete a session and its passages; returns the removed passage ids."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM passages WHERE session_id=?", (session_id,))]
            db.execute("DELETE FROM passages WHERE session_id=?", (session_id,))
            db.execute("DELETE FROM sessions WHERE id=?", (session_id,))
            self._bump(db)
        return ids

    # -- passages -----------------------------------------------------------------------------------------------
    _PCOLS = "id, session_id, ordinal, speaker, text, line_start, line_end, topics"

    def _passage(self, row: tuple) -> Passage:
        """A Passage from a row of _PCOLS (a plain tuple: a question reads hundreds of them)."""
        raw = row[7]
        topics = self._topics_memo.get(raw)
        if topics is None:  # passages share few distinct topic lists; parsing each again was a third of the time
            if len(self._topics_memo) >= 50_000:
                self._topics_memo.clear()
            topics = self._topics_memo[raw] = tuple(json.loads(raw))
        return Passage(
            session_id=row[1],
            ordinal=row[2],
            text=row[4],
            line_start=row[5],
            line_end=row[6],
            speaker=row[3],
            id=row[0],
            topics=topics,
        )

    def _rows(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Plain-tuple rows on the main connection (whose default rows are sqlite3.Row)."""
        cur = self._db.cursor()
        cur.row_factory = None
        return cur.execute(sql, params)

    def passages(self, ids: Sequence[int]) -> list[Passage]:
        """Passages by id, in the order asked (unknown ids are skipped)."""
        out: dict[int, Passage] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            q = f"SELECT {self._PCOLS} FROM passages WHERE id IN ({','.join('?' * len(chunk))})"
            for r in self._rows(q, chunk):
                out[r[0]] = self._passage(r)
        return [out[i] for i in ids if i in out]

    def session_passages(self, session_id: str) -> list[Passage]:
        """A session's passages in reading order."""
        q = f"SELECT {self._PCOLS} FROM passages WHERE session_id=? ORDER BY ordinal"
        return [self._passage(r) for r in self._rows(q, (session_id,))]

    def all_passages(self) -> list[Passage]:
        """Every passage (for clustering and re-indexing)."""
        return [self._passage(r) for r in self._rows(f"SELECT {self._PCOLS} FROM passages ORDER BY id")]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, vectors float32) of every passage that has a stored vector."""
        ids, rows = [], []
        for r in self._db.execute("SELECT id, vector FROM passages WHERE vector IS NOT NULL ORDER BY id"):
            ids.append(r[0])
            rows.append(np.frombuffer(r[1], dtype=np.float32))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(ids, dtype=np.int64), np.vstack(rows)

    def vectors_for(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors of some passages, by id."""
        out: dict[int, np.ndarray] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            q = f"SELECT id, vector FROM passages WHERE vector IS NOT NULL AND id IN ({','.join('?' * len(chunk))})"
            for r in self._db.execute(q, chunk):
                out[int(r[0])] = np.frombuffer(r[1], dtype=np.float32)
        return out

    def set_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace stored vectors (used by `reindex` after changing the embedder)."""
        with self._tx() as db:
            db.executemany(
                "UPDATE passages SET vector=? WHERE id=?",
                [(np.asarray(v, dtype=np.float32).tobytes(), int(i)) for i, v in zip(ids, vectors)],
            )
            self._bump(db)

    def lexical_search(self, query: str, k: int, *, posting_budget: int = 0) -> list[tuple[int, float]]:
        """BM25 (FTS5) over passage text: [(passage_id, score)], best first, higher is better.

        Once the in-memory copy of this generation is built (`memory_bm25_min`), it answers instead: every passage
        holding any word of the question is scored, with FTS5's scores, and the posting budget is not needed.

        FTS5 scores every passage that holds any word of the question, so its cost grows with the words' posting
        lists. Past `posting_budget` passages in total, only passages holding one of the rarest words (those that
        fit the budget, see `prune_terms`) are candidates, each still scored on every word of the question: the
        scores are exact, and only passages made of the frequent words alone are left out.

        Args:
            query: the question as typed.
            k: how many passages to return.
            posting_budget: summed posting-list length past which the rarest words choose the candidates;
                0 searches every passage.
        """
        terms = fts_terms(query)
        if not terms:
            return []
        db = self._lexical_db()
        mem = self._memory_bm25(db)
        if mem is not None:
            return self._memory_search(mem, db, terms, k)
        if posting_budget <= 0 or len(terms) == 1:
            return _bm25(db, " OR ".join(terms), k)
        rare = prune_terms(terms, _postings(db, terms, posting_budget, k), posting_budget, at_least=k)
        if len(rare) == len(terms):
            return _bm25(db, " OR ".join(terms), k)
        either = " OR ".join(rare)
        frequent = " OR ".join(t for t in terms if t not in rare)
        # Passages without a frequent word score the same on the rare words alone; the others are scored on all
        # words by the AND query, which names each word once, so FTS5 weighs it exactly as in the full query.
        scores = dict(_bm25(db, either, k))
        scores.update(_bm25(db, f"({either}) AND ({frequent})", k))
        return sorted(scores.items(), key=lambda hit: -hit[1])[:k]

    # -- topics, query log, key-value ---------------------------------------------------------------------------
    def upsert_topics(self, topics: Iterable[Topic]) -> None:
        """Insert or update canonical topics (and bump `topics_version`, so readers know their labels are stale)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta VALUES ('topics_version', '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
            )
            db.executemany(
                "INSERT OR REPLACE INTO topics VALUES (?,?,?)",
                [(t.id, t.label, json.dumps(list(t.aliases))) for t in topics],
            )

    def topics_version(self) -> int:
        """A counter bumped by every change to the topic table."""
        row = self._db.execute("SELECT value FROM meta WHERE key='topics_version'").fetchone()
        return int(row[0]) if row else 0

    def topics(self) -> list[Topic]:
        """All canonical topics."""
        return [Topic(r[0], r[1], tuple(json.loads(r[2]))) for r in self._db.execute("SELECT * FROM topics")]

    def log_query(self, kind: str, question: str, topics: Sequence[str], asker: str | None) -> None:
        """Record a question for demand statistics; asker is stored only when the user opted in."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO query_log (ts, kind, question, topics, asker) VALUES (?,?,?,?,?)",
                (datetime.now(UTC).isoformat(timespec="seconds"), kind, question, json.dumps(list(topics)), asker),
            )

    def query_log(self) -> list[dict]:
        """Every logged question, oldest first."""
        return [
            dict(r) | {"topics": json.loads(r["topics"])}
            for r in self._db.execute("SELECT * FROM query_log ORDER BY id")
        ]

    def kv_get(self, namespace: str, key: str) -> str | None:
        """Small persistent settings (cluster names, calibrated weights)."""
        row = self._db.execute("SELECT value FROM kv WHERE namespace=? AND key=?", (namespace, key)).fetchone()
        return row[0] if row else None

    def kv_set(self, namespace: str, key: str, value: str) -> None:
        """Store a small persistent value."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO kv VALUES (?,?,?)", (namespace, key, value))

    def kv_items(self) -> list[tuple[str, str, str]]:
        """Every (namespace, key, value), sorted (for `mentorkb export`)."""
        return [tuple(r) for r in self._db.execute("SELECT namespace, key, value FROM kv ORDER BY namespace, key")]

    def counts(self) -> dict[str, int]:
        """Row counts for `mentorkb stats`."""
        one = lambda sql: int(self._db.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "sessions": one("SELECT count(*) FROM sessions"),
            "people": one("SELECT count(*) FROM people"),
            "passages": one("SELECT count(*) FROM passages"),
            "topics": one("SELECT count(*) FROM topics"),
            "questions_logged": one("SELECT count(*) FROM query_log"),
        }
