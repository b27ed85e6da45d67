"""BM25 in memory: FTS5's own postings held as arrays, scored with FTS5's formula in numpy.

At a million passages SQLite FTS5 spends ~0.8 us per passage it scores, and a question's words occur in tens of
thousands of passages: 45-65 ms per question even with the posting budget. This is a read-only copy of the FTS5
index of one store generation, made from FTS5 itself (its fts5vocab tables), so every word is tokenised and
stemmed exactly as FTS5 did it, and a question gets the very scores FTS5's `bm25()` would give (k1 = 1.2,
b = 0.75, idf = ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6), over every passage that holds any of its words.
A phrase (a word FTS5 splits, such as "node.js") needs word positions, which this copy does not keep: FTS5 lists
the passages holding it, and scores them itself when they are few (SQLiteStore._memory_search).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

K1 = 1.2  # FTS5's bm25() defaults
B = 0.75
_IDF_FLOOR = 1e-6


class BuildStopped(Exception):
    """The store was closed (or a newer generation written) while a copy was being built."""


@dataclass(frozen=True, eq=False)
class MemoryBM25:
    """The FTS5 postings of one store generation: word -> (rows, term frequencies), CSR by word."""

    generation: int
    ids: np.ndarray  # int64, sorted: row -> passage id
    norm: np.ndarray  # float64 per row: K1 * (1 - B + B * length / average length)
    vocab: dict[str, int]  # stemmed word -> index into ptr
    ptr: np.ndarray  # int64, len(vocab) + 1
    rows: np.ndarray  # int32 rows of each word's postings, word by word
    tf: np.ndarray  # uint16 occurrences of the word in the row
    _buffer: np.ndarray = field(init=False, repr=False)
    _buffer_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_buffer", np.zeros(len(self.ids)))

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the vocabulary dict aside)."""
        return sum(a.nbytes for a in (self.ids, self.norm, self.ptr, self.rows, self.tf))

    def search(
        self,
        words: Sequence[str],
        k: int,
        *,
        phrases: Sequence[tuple[Sequence[str], Sequence[int]]] = (),
        scored: Sequence[Sequence[tuple[int, float]]] = (),
    ) -> list[tuple[int, float]]:
        """The k best passages for the OR of these stemmed words and phrases by BM25, best first (ties by id).

        A word given twice counts twice, as a repeated term does in FTS5. A phrase is (its stemmed words, the
        passages FTS5 found it in): FTS5 knows word positions, this copy does not. The phrase's occurrences in a
        passage are taken as the fewest of any of its words (at least one); that is FTS5's count unless every
        word of the phrase also stands elsewhere in the same passage. `scored` adds terms FTS5 scored itself,
        [(passage id, score)]: an OR query's BM25 is the sum of its terms' own.
        """
        n_docs = len(self.ids)
        if n_docs == 0 or k <= 0:
            return []
        terms: list[tuple[np.ndarray, np.ndarray]] = []  # (rows, BM25 of the term in each), rows distinct per term
        for pairs in scored:
            if pairs:
                got = np.array(pairs, dtype=np.float64).reshape(-1, 2)
                rows, known = self._locate(got[:, 0].astype(np.int64))
                terms.append((rows[known], got[known, 1]))
        for tokens, pids in phrases:
            rows, known = self._locate(np.unique(np.asarray(pids, dtype=np.int64)))
            rows = rows[known]  # ascending, as _tf_in needs
            if len(rows):
                tf = np.full(len(rows), np.iinfo(np.int64).max)
                for token, times in Counter(tokens).items():
                    tf = np.minimum(tf, self._tf_in(token, rows) // times)
                terms.append((rows, self._weights(rows, np.maximum(tf, 1).astype(np.float64))))
        for word in words:
            t = self.vocab.get(word)
            if t is None:
                continue
            lo, hi = int(self.ptr[t]), int(self.ptr[t + 1])
            terms.append((self.rows[lo:hi], self._weights(self.rows[lo:hi], self.tf[lo:hi].astype(np.float64))))
        if not terms:
            return []
        acc, shared = self._accumulator()
        try:
            for rows, weights in terms:
                acc[rows] += weights
            # The k-th best score among the passages of any one term is a floor for the k-th best overall, so
            # only passages at or above it need sorting (at 1M passages: thousands instead of ~600k).
            fewest = min((rows for rows, _ in terms), key=len)
            if len(fewest) >= k:
                floor = np.partition(acc[fewest], len(fewest) - k)[len(fewest) - k]
                cand = np.flatnonzero(acc >= floor)
            else:
                cand = np.flatnonzero(acc)
            if len(cand) > k:  # every passage tied with the k-th best stays, so that ties go by id, as in FTS5
                scores = acc[cand]
                cand = cand[scores >= np.partition(scores, len(cand) - k)[len(cand) - k]]
            order = np.lexsort((self.ids[cand], -acc[cand]))[:k]  # score descending, then id ascending
            return [(int(self.ids[r]), float(acc[r])) for r in cand[order]]
        finally:
            if shared:
                acc.fill(0.0)
                self._buffer_lock.release()

    def _weights(self, rows: np.ndarray, tf: np.ndarray) -> np.ndarray:
        """A term's BM25 in each of its rows, given its occurrences there (FTS5's formula)."""
        n_docs, n = len(self.ids), len(rows)
        idf = math.log((n_docs - n + 0.5) / (n + 0.5))
        idf = idf if idf > 0 else _IDF_FLOOR
        return idf * (K1 + 1.0) * tf / (tf + self.norm[rows])

    def _locate(self, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each passage id's row, and whether this copy holds it (a write after the copy may have added it)."""
        rows = np.searchsorted(self.ids, pids)
        known = (rows < len(self.ids)) & (self.ids[np.minimum(rows, len(self.ids) - 1)] == pids)
        return rows, known

    def _tf_in(self, word: str, rows: np.ndarray) -> np.ndarray:
        """Occurrences of a stemmed word in each of these rows (0 where it does not occur)."""
        t = self.vocab.get(word)
        if t is None:  # a word in the vocabulary has at least one posting
            return np.zeros(len(rows), dtype=np.int64)
        lo, hi = int(self.ptr[t]), int(self.ptr[t + 1])
        mine = self.rows[lo:hi]  # ascending
        at = np.minimum(np.searchsorted(mine, rows), hi - lo - 1)
        return np.where(mine[at] == rows, self.tf[lo:hi][at], 0).astype(np.int64)

    def _accumulator(self) -> tuple[np.ndarray, bool]:
        """A zeroed score per row: the shared one (zeroed again after use), or a new one while it is in use."""
        if self._buffer_lock.acquire(blocking=False):
            return self._buffer, True
        return np.zeros(len(self.ids)), False


def build(db: sqlite3.Connection, *, fts: str = "passages_fts", stop: threading.Event | None = None) -> MemoryBM25:
    """Copy the FTS5 index of the passages table into memory, from one consistent snapshot of `db`.

    `db` must be a connection of its own (it runs a read transaction). Raises BuildStopped when `stop` is set
    before the copy is complete.
    """
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.mkb_vocab_row USING fts5vocab(main, {fts}, row)")
    db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.mkb_vocab_inst USING fts5vocab(main, {fts}, instance)")
    db.execute("BEGIN")  # one snapshot: the generation, the passages and the postings agree
    try:
        generation = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        ids = np.fromiter((r[0] for r in db.execute("SELECT id FROM passages ORDER BY id")), dtype=np.int64)
        words = db.execute("SELECT term, doc FROM temp.mkb_vocab_row ORDER BY term").fetchall()
        total = sum(int(n) for _, n in words)
        rows = np.empty(total, dtype=np.int32)
        tf = np.empty(total, dtype=np.uint16)
        ptr = np.zeros(len(words) + 1, dtype=np.int64)
        vocab: dict[str, int] = {}
        length = np.zeros(len(ids), dtype=np.int64)  # tokens per passage, FTS5's document length
        at = 0
        for t, (word, expected) in enumerate(words):
            if stop is not None and stop.is_set():
                raise BuildStopped
            # One row per occurrence; counted in numpy (SQL's GROUP BY sorted them again, with twice the memory).
            found = db.execute("SELECT doc FROM temp.mkb_vocab_inst WHERE term = ?", (word,))
            passages, counts = np.unique(np.fromiter((r[0] for r in found), dtype=np.int64), return_counts=True)
            n = len(passages)
            if n != expected:  # FTS5's two vocabulary tables disagree: an index to rebuild, not to copy
                raise sqlite3.DatabaseError(f"FTS5 lists {expected} passages for {word!r} but {n} postings")
            r = np.searchsorted(ids, passages)  # ascending, as phrases need to look rows up
            rows[at : at + n] = r
            tf[at : at + n] = np.minimum(counts, np.iinfo(np.uint16).max)
            length[r] += counts
            vocab[word] = t
            at += n
            ptr[t + 1] = at
    finally:
        db.execute("ROLLBACK")
    rows, tf = rows[:at], tf[:at]
    average = float(length.sum()) / len(ids) if len(ids) else 1.0
    norm = K1 * (1.0 - B + B * length / (average or 1.0))
    return MemoryBM25(generation, ids, norm, vocab, ptr, rows, tf)


class Stemmer:
    """FTS5's own tokeniser (porter unicode61) applied to query words, through a private in-memory table."""

    def __init__(self, tokenize: str = "porter unicode61") -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE w USING fts5(x, tokenize='{tokenize}')")
        self._db.execute("CREATE VIRTUAL TABLE w_inst USING fts5vocab(w, instance)")
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, ...]] = {}

    def tokens(self, word: str) -> tuple[str, ...]:
        """The index terms FTS5 makes of one query word, in order ("node.js" -> ("node", "js"))."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        with self._lock:
            self._db.execute("INSERT INTO w(rowid, x) VALUES (1, ?)", (word,))
            got = tuple(r[0] for r in self._db.execute("SELECT term FROM w_inst ORDER BY offset"))
            self._db.execute("DELETE FROM w")
        if len(self._cache) < 100_000:
            self._cache[word] = got
        return got

    def close(self) -> None:
        """Close the private database."""
        self._db.close()
