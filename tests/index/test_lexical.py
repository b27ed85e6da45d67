"""BM25 in memory: the same passages and scores as SQLite FTS5, kept in step with writes."""

from __future__ import annotations

import random
import threading
from datetime import date

import numpy as np
import pytest

from index import lexical
from index import store as store_module
from index.store import SQLiteStore
from models import Passage, Session, SessionType, Visibility

WORDS = [
    "budget",
    "budgets",
    "budgeting",
    "forecast",
    "forecasts",
    "review",
    "reviews",
    "reviewing",
    "kubernetes",
    "pods",
    "probe",
    "liveness",
    "node.js",
    "salary",
    "negotiation",
    "negotiate",
    "feedback",
    "rubric",
    "interview",
    "interviews",
    "python",
    "typing",
    "postgres",
    "migration",
    "back-to-back",
    "meetings",
    "meeting",
    "stakeholder",
    "stakeholders",
    "cross-team",
    "project",
    "projects",
    "the",
    "a",
    "of",
    "to",
    "and",
]
QUESTIONS = [
    "How do I build a budget forecast?",
    "Who reviews interview rubrics?",
    "budget budgets budgeting",  # three words, one stem: each counts, as in FTS5
    "Kubernetes liveness probe keeps failing",
    "How do I use node.js for back-to-back meetings?",  # phrases: scored by FTS5 itself
    "cross-team stakeholder project",
    "salary",
    "zebra unicorn",  # no passage holds these
    "negotiation feedback python postgres migration typing",
]


def _session(sid: str) -> Session:
    return Session(
        id=sid,
        date=date(2025, 3, 14),
        title="t",
        type=SessionType.PEER,
        mentors=(),
        mentees=(),
        participants=("ana",),
        visibility=Visibility.PROGRAM,
        tags=(),
        source=f"notes/{sid}.md",
        content_hash=sid,
        text="",
    )


def _fill(store: SQLiteStore, sessions: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    for n in range(sessions):
        texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40))) for _ in range(rng.randint(1, 5))]
        if n == 0:
            texts.append("")  # an empty passage still counts as a row of FTS5
        passages = [
            Passage(session_id=f"s{n}", ordinal=i, text=t, line_start=i, line_end=i) for i, t in enumerate(texts)
        ]
        store.replace_session(_session(f"s{n}"), passages, None)


@pytest.fixture
def stores(tmp_path):
    """The same file opened twice: BM25 in memory (from 1 passage on) and SQLite FTS5 only."""
    path = tmp_path / "kb.sqlite3"
    fts = SQLiteStore(path)
    _fill(fts, 120)
    mem = SQLiteStore(path, memory_bm25_min=1)
    yield mem, fts
    mem.close()
    fts.close()


def _same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-9)
    # Ties may come in another order; above the last score the passages are the same ones.
    last = want[-1][1] if want else 0.0
    assert {i for i, s in got if s > last + 1e-9} == {i for i, s in want if s > last + 1e-9}


@pytest.mark.parametrize("exact_phrases", [2_000, 0])  # a phrase scored by FTS5, or estimated from its words
def test_memory_bm25_gives_fts5_passages_and_scores(stores, monkeypatch, exact_phrases):
    monkeypatch.setattr(store_module, "_EXACT_PHRASE_PASSAGES", exact_phrases)
    mem, fts = stores
    assert mem.warm_bm25(timeout=60)
    for question in QUESTIONS:
        for k in (1, 10, 500):
            _same(mem.lexical_search(question, k), fts.lexical_search(question, k))
    assert mem.lexical_search("zebra unicorn", 10) == []
    assert len(mem.lexical_search("budget", 10_000)) == len(fts.lexical_search("budget", 10_000)) > 50


def test_memory_bm25_scores_every_passage_where_fts5_uses_its_posting_budget(stores):
    mem, fts = stores
    mem.warm_bm25(timeout=60)
    question = "budget review for the project stakeholders"
    exact = fts.lexical_search(question, 50, posting_budget=0)
    _same(mem.lexical_search(question, 50, posting_budget=20), exact)
    assert fts.lexical_search(question, 50, posting_budget=20) != exact  # the budget changes FTS5's answer


def test_a_write_is_searchable_at_once_and_the_copy_follows_it(stores):
    mem, fts = stores
    mem.warm_bm25(timeout=60)
    assert mem.lexical_search("quokka", 5) == []
    text = "quokka budget"
    mem.replace_session(
        _session("new"), [Passage(session_id="new", ordinal=0, text=text, line_start=1, line_end=1)], None
    )
    hits = mem.lexical_search("quokka budget", 5)  # the copy is stale: FTS5 answers
    assert mem.passages([hits[0][0]])[0].text == text
    assert mem.warm_bm25(timeout=60)  # a copy of the new generation
    _same(mem.lexical_search("quokka budget", 5), fts.lexical_search("quokka budget", 5))
    mem.remove_session("new")
    assert all(mem.passages([i])[0].session_id != "new" for i, _ in mem.lexical_search("quokka budget", 50))


def test_the_copy_is_built_in_the_background_after_two_searches(stores):
    mem, _ = stores
    mem.lexical_search("budget", 5)
    assert mem._mem_thread is None and mem._mem is None  # one question (a CLI ask) copies nothing
    mem.lexical_search("budget", 5)
    thread = mem._mem_thread
    assert thread is not None or mem._mem is not None
    if thread is not None:
        thread.join(60)
    assert mem._mem is not None and mem.memory_bm25_build_s > 0


def test_a_small_store_or_a_disabled_setting_stays_on_fts5(tmp_path):
    small = SQLiteStore(tmp_path / "a.sqlite3", memory_bm25_min=10_000)
    _fill(small, 5)
    assert not small.warm_bm25(timeout=60)
    small.close()
    off = SQLiteStore(tmp_path / "b.sqlite3")
    _fill(off, 5)
    assert not off.warm_bm25(timeout=60)
    off.close()


def test_closing_stops_a_copy_in_progress(tmp_path, monkeypatch):
    store = SQLiteStore(tmp_path / "kb.sqlite3", memory_bm25_min=1)
    _fill(store, 20)
    started, release = threading.Event(), threading.Event()
    real_build = lexical.build

    def slow_build(db, **kwargs):
        started.set()
        release.wait(10)
        return real_build(db, **kwargs)  # sees the stop flag at its first word

    monkeypatch.setattr(lexical, "build", slow_build)
    store._memory_bm25(store._lexical_db(), start=True)
    assert started.wait(10)
    closer = threading.Thread(target=store.close)
    closer.start()
    release.set()
    closer.join(10)
    assert not closer.is_alive() and store._mem is None


def test_stemmer_splits_and_stems_like_fts5():
    stemmer = lexical.Stemmer()
    assert stemmer.tokens("budgeting") == ("budget",)
    assert stemmer.tokens("node.js") == ("node", "js")
    assert stemmer.tokens("Reviews") == ("review",)
    stemmer.close()


def test_search_ranks_by_score_then_id():
    mem = lexical.MemoryBM25(
        generation=0,
        ids=np.array([5, 7, 9], dtype=np.int64),
        norm=np.full(3, lexical.K1),
        vocab={"a": 0},
        ptr=np.array([0, 2], dtype=np.int64),
        rows=np.array([0, 2], dtype=np.int32),
        tf=np.array([1, 1], dtype=np.uint16),
    )
    got = mem.search(["a"], 5)
    assert [i for i, _ in got] == [5, 9] and got[0][1] == got[1][1] > 0
    assert mem.search(["b"], 5) == [] and mem.search(["a"], 0) == []


@pytest.mark.parametrize("exact_phrases", [2_000, 0])
def test_a_phrase_counts_only_where_its_words_stand_together(tmp_path, monkeypatch, exact_phrases):
    monkeypatch.setattr(store_module, "_EXACT_PHRASE_PASSAGES", exact_phrases)
    store = SQLiteStore(tmp_path / "kb.sqlite3", memory_bm25_min=1)
    texts = ["my self-review draft", "review the draft yourself, self first", "unrelated budget talk"] * 4
    passages = [Passage(session_id="s0", ordinal=i, text=t, line_start=i, line_end=i) for i, t in enumerate(texts)]
    store.replace_session(_session("s0"), passages, None)
    assert store.warm_bm25(timeout=60)
    hits = store.lexical_search("self-review", 10)
    assert {store.passages([i])[0].text for i, _ in hits} == {"my self-review draft"}
    store.close()


def _random_copy(seed: int, n_docs: int = 3_000, n_words: int = 60) -> tuple[lexical.MemoryBM25, np.ndarray]:
    """A copy with Zipf-like word frequencies (a few words in most passages, many in few), and its dense
    (passages x words) occurrence matrix for brute-force scoring."""
    rng = np.random.default_rng(seed)
    share = np.minimum(0.9, 0.6 / np.arange(1, n_words + 1) ** 0.9)
    tf = (rng.random((n_docs, n_words)) < share) * rng.integers(1, 4, size=(n_docs, n_words))
    lengths = tf.sum(axis=1) + rng.integers(0, 20, size=n_docs)
    ptr, rows, counts = [0], [], []
    for w in range(n_words):
        (docs,) = np.nonzero(tf[:, w])
        rows.append(docs)
        counts.append(tf[docs, w])
        ptr.append(ptr[-1] + len(docs))
    copy = lexical.MemoryBM25(
        generation=0,
        ids=np.arange(10, 10 + n_docs, dtype=np.int64),
        norm=lexical.K1 * (1 - lexical.B + lexical.B * lengths / lengths.mean()),
        vocab={f"w{w}": w for w in range(n_words)},
        ptr=np.array(ptr, dtype=np.int64),
        rows=np.concatenate(rows).astype(np.int32),
        tf=np.concatenate(counts).astype(np.uint16),
    )
    return copy, tf


def _brute_force(copy: lexical.MemoryBM25, tf: np.ndarray, words: list[str], k: int) -> list[tuple[int, float]]:
    score = np.zeros(len(copy.ids))
    for word in words:
        w = copy.vocab[word]
        n = int(np.count_nonzero(tf[:, w]))
        idf = max(np.log((len(copy.ids) - n + 0.5) / (n + 0.5)), 1e-6)
        score += idf * (lexical.K1 + 1) * tf[:, w] / (tf[:, w] + copy.norm)
    ranked = sorted((-s, int(i)) for i, s in zip(copy.ids, score, strict=True) if s > 0)
    return [(i, -s) for s, i in ranked[:k]]


def test_search_returns_a_brute_force_counts_passages_and_scores_with_ties_by_id():
    copy, tf = _random_copy(seed=5)
    rng = np.random.default_rng(6)
    ties = 0
    for _ in range(60):
        words = [f"w{w}" for w in rng.choice(60, size=int(rng.integers(1, 7)), replace=False)]
        for k in (1, 10, 200):
            got, want = copy.search(words, k), _brute_force(copy, tf, words, k)
            assert [i for i, _ in got] == [i for i, _ in want], (words, k)
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-12)
            ties += (
                len(want) == k
                and len(_brute_force(copy, tf, words, k + 1)) > k
                and want[-1][1] == _brute_force(copy, tf, words, k + 1)[-1][1]
            )
    assert ties > 0  # some questions have a tie across the k-th place, which goes to the smaller id
