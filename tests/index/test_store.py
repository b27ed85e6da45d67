"""The SQLite store: atomic session replacement, people resolution, BM25 and schema checks."""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pytest

from index.store import SQLiteStore, fts_query, prune_terms
from mentorkb.errors import StoreError
from models import Passage, Person, Session, SessionType, Visibility


def _session(sid: str = "s1", source: str = "notes/s1.md", text: str = "Budgeting tips") -> Session:
    return Session(
        id=sid,
        date=date(2025, 3, 14),
        title="Budget basics",
        type=SessionType.TRADITIONAL,
        mentors=("ana",),
        mentees=("ben",),
        participants=(),
        visibility=Visibility.PROGRAM,
        tags=("budgeting",),
        source=source,
        content_hash="h1",
        text=text,
    )


def _passages(sid: str, texts: list[str]) -> list[Passage]:
    return [Passage(session_id=sid, ordinal=i, text=t, line_start=i + 5, line_end=i + 6) for i, t in enumerate(texts)]


@pytest.fixture
def store(tmp_path):
    s = SQLiteStore(tmp_path / "kb.sqlite3")
    s.upsert_people([Person("ana", "Ana Ruiz", "ana@x.example", level=7), Person("ben", "Ben Okafor", level=2)])
    yield s
    s.close()


def test_people_resolve_by_id_email_and_name(store):
    assert store.find_person("ana").name == "Ana Ruiz"
    assert store.find_person("ANA@x.example").id == "ana"
    assert store.find_person("ben okafor").id == "ben"
    assert store.find_person("Nobody") is None


def test_roster_entry_is_not_overwritten_by_a_name_from_a_note(store):
    store.upsert_people([Person("ana", "ana")], from_roster=False)
    assert store.person("ana").level == 7
    assert store.roster_ids() == {"ana", "ben"}


def test_replace_session_is_atomic_and_replaces_passages(store):
    vecs = np.eye(2, 4, dtype=np.float32)
    ids1 = store.replace_session(_session(), _passages("s1", ["Zero-based budgeting", "Forecast monthly"]), vecs)
    ids2 = store.replace_session(_session(text="v2"), _passages("s1", ["Rolling forecast"]), vecs[:1])
    assert not set(ids1) & set(ids2)
    assert [p.text for p in store.session_passages("s1")] == ["Rolling forecast"]
    assert store.session("s1").text == "v2"
    assert store.session("s1").mentors == ("ana",)
    ids, matrix = store.vectors()
    assert list(ids) == ids2 and matrix.shape == (1, 4)


def test_failed_write_leaves_the_previous_version(store):
    store.replace_session(_session(), _passages("s1", ["Keep this"]), None)
    with pytest.raises(ValueError):
        store.replace_session(_session(text="broken"), _passages("s1", ["a", "b"]), np.zeros((1, 4), np.float32))
    assert [p.text for p in store.session_passages("s1")] == ["Keep this"]


def test_generation_bumps_on_every_passage_write(store):
    g0 = store.generation()
    store.replace_session(_session(), _passages("s1", ["x"]), None)
    store.remove_session("s1")
    assert store.generation() == g0 + 2
    assert store.session("s1") is None and store.session_passages("s1") == []


def test_bm25_finds_stemmed_words_and_follows_deletes(store):
    store.replace_session(_session(), _passages("s1", ["We built budgets with rolling forecasts", "Lunch plans"]), None)
    hits = store.lexical_search("How do I build a budget?", 5)
    assert len(hits) == 1
    assert store.passages([hits[0][0]])[0].text.startswith("We built budgets")
    store.remove_session("s1")
    assert store.lexical_search("budget", 5) == []


@pytest.mark.parametrize("text", ['"unbalanced', "AND OR NOT", "col:umn*", "NEAR(a b)", "", "???"])
def test_fts_query_never_breaks_on_user_text(store, text):
    store.replace_session(_session(), _passages("s1", ["anything at all"]), None)
    assert isinstance(store.lexical_search(text, 5), list)
    assert '"' not in fts_query(text).replace('" OR "', "").strip('"')


def test_newer_schema_is_refused_with_a_fix(tmp_path):
    path = tmp_path / "kb.sqlite3"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99.*Fix: export"):
        SQLiteStore(path)


def test_garbage_database_file_is_a_clear_error(tmp_path):
    path = tmp_path / "kb.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the knowledge-base database"):
        SQLiteStore(path)


def test_query_log_keeps_identity_only_when_given(store):
    store.log_query("ask", "who knows budgeting?", ["budgeting"], None)
    store.log_query("ask", "who knows excel?", ["excel"], "ben")
    log = store.query_log()
    assert [r["asker"] for r in log] == [None, "ben"]
    assert log[0]["topics"] == ["budgeting"]


def test_all_sessions_read_in_bulk_match_one_by_one_and_can_leave_text_out(store):
    from dataclasses import replace

    store.replace_session(_session(), _passages("s1", ["Zero-based budgeting"]), None)
    group = replace(_session("s2", "notes/s2.md"), mentors=(), mentees=(), participants=("ben", "ana"))
    store.replace_session(group, _passages("s2", ["Pairing"]), None)
    bulk = store.sessions()
    assert bulk == [store.session(s.id) for s in bulk] and len(bulk) == 2
    assert bulk[1].participants == ("ben", "ana")
    light = store.sessions(with_text=False)
    assert [s.text for s in light] == ["", ""]
    assert [replace(s, text="") for s in bulk] == light


def test_passage_topics_come_one_session_at_a_time(store):
    from dataclasses import replace

    passages = [
        replace(p, topics=t) for p, t in zip(_passages("s1", ["a", "b"]), [("budget", "forecast"), ("budget",)])
    ]
    store.replace_session(_session(), passages, None)
    store.replace_session(_session("s2", "notes/s2.md"), _passages("s2", ["c"]), None)
    assert list(store.iter_passage_topics()) == [("s1", {"budget", "forecast"})]


def test_every_change_to_the_topic_table_bumps_its_version(store):
    from models import Topic

    before = store.topics_version()
    store.upsert_topics([Topic("budget", "Budget", ("budget",))])
    store.upsert_topics([Topic("budget", "Budgeting", ("budget",))])
    assert store.topics_version() == before + 2
    assert [t.label for t in store.topics()] == ["Budgeting"]


def test_passage_topics_can_be_normalised_once_per_phrase(store):
    from dataclasses import replace

    passages = [
        replace(p, topics=t) for p, t in zip(_passages("s1", ["a", "b"]), [("Budgets", "forecast"), ("budgets",)])
    ]
    store.replace_session(_session(), passages, None)
    calls = []

    def lower(t: str) -> str:
        calls.append(t)
        return t.lower()

    assert dict(store.iter_passage_topics(lower)) == {"s1": {"budgets", "forecast"}}
    assert sorted(calls) == ["Budgets", "budgets", "forecast"]


# -- BM25 with a posting budget: the rarest words choose the candidates, every word scores them ------------------
_BUDGET_TEXTS = [
    "Budget, budget, budget: the budget",  # only "budget", but so often that it outranks "forecast" alone
    "Our budget review for the quarter",
    "Budgets are due on Friday",
    "We cut the travel budget",
    "A budget template in the team drive",
    "Rolling forecast against the budget",
    "A rolling forecast, kept up to date by the finance team every month of the year",
    *(f"Notes on topic number {n}" for n in range(30)),  # so that "budget" is frequent, not everywhere
]


@pytest.fixture
def budget_store(tmp_path):
    s = SQLiteStore(":memory:")
    s.replace_session(_session(), _passages("s1", _BUDGET_TEXTS), None)
    yield s
    s.close()


def _texts(store, hits):
    return [p.text for p in store.passages([i for i, _ in hits])]


@pytest.mark.parametrize("question", ["rolling forecast budget", "budgets", "forecast travel", "nothing matches"])
def test_within_the_budget_results_are_those_of_the_full_query(budget_store, question):
    assert budget_store.lexical_search(question, 5, posting_budget=100) == budget_store.lexical_search(question, 5)


def test_past_the_budget_the_frequent_word_is_dropped_and_the_scores_stay_exact(budget_store):
    exact = dict(budget_store.lexical_search("budget forecast", 10))
    assert _texts(budget_store, budget_store.lexical_search("budget forecast", 2))[1] == _BUDGET_TEXTS[0]
    hits = budget_store.lexical_search("budget forecast", 2, posting_budget=3)
    # "forecast" (2 passages) fits the budget, "budget" (6) does not: passages with only "budget" are skipped,
    assert _texts(budget_store, hits) == ["Rolling forecast against the budget", _BUDGET_TEXTS[6]]
    # and the passage with both words keeps its full score.
    assert [score for _, score in hits] == pytest.approx([exact[i] for i, _ in hits])


def test_a_word_stemmed_differently_in_the_question_still_counts_as_frequent(budget_store):
    # "budgeting" stems to "budget", found in 6 passages; counted as 0 it would look rare and be kept alone.
    hits = budget_store.lexical_search("budgeting forecasts", 2, posting_budget=3)
    assert _texts(budget_store, hits) == ["Rolling forecast against the budget", _BUDGET_TEXTS[6]]


def test_the_rarest_word_is_kept_even_past_the_budget(budget_store):
    hits = budget_store.lexical_search("budget forecast", 2, posting_budget=1)
    assert _texts(budget_store, hits) == ["Rolling forecast against the budget", _BUDGET_TEXTS[6]]


def test_a_word_found_nowhere_does_not_leave_the_question_without_candidates(budget_store):
    hits = budget_store.lexical_search("zeppelin budget forecast", 2, posting_budget=1)
    assert _texts(budget_store, hits) == ["Rolling forecast against the budget", _BUDGET_TEXTS[6]]


def test_rare_words_are_kept_until_they_can_fill_the_results(budget_store):
    # "travel" alone (1 passage) cannot give 3 results, so "forecast" (2) joins it although past the budget.
    hits = budget_store.lexical_search("budget forecast travel", 3, posting_budget=1)
    assert set(_texts(budget_store, hits)) == {
        "We cut the travel budget",
        "Rolling forecast against the budget",
        _BUDGET_TEXTS[6],
    }


@pytest.mark.parametrize(
    ("postings", "budget", "at_least", "kept"),
    [
        ([5, 1, 3], 9, 1, ["a", "b", "c"]),  # all fit: unchanged
        ([5, 1, 3], 4, 1, ["b", "c"]),  # the most frequent goes first
        ([5, 2, 3], 1, 1, ["b"]),  # the rarest stays even past the budget
        ([5, 0, 3], 1, 2, ["b", "c"]),  # and enough rare ones to reach at_least postings
        ([2, 9, 2], 3, 1, ["a"]),  # ties keep the earlier term
    ],
)
def test_prune_terms_keeps_the_rarest_in_query_order(postings, budget, at_least, kept):
    assert prune_terms(["a", "b", "c"], postings, budget, at_least=at_least) == kept


def test_searches_from_several_threads_agree_with_one_thread_and_see_later_writes(store):
    from concurrent.futures import ThreadPoolExecutor

    store.replace_session(_session(), _passages("s1", _BUDGET_TEXTS), None)
    questions = ["rolling forecast budget", "budgets", "forecast travel", "team drive", "topic number 7"] * 4
    alone = [store.lexical_search(q, 5, posting_budget=3) for q in questions]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda q: store.lexical_search(q, 5, posting_budget=3), questions))
    assert together == alone
    store.replace_session(_session("s2", "notes/s2.md"), _passages("s2", ["Zeppelin mooring masts"]), None)
    assert _texts(store, store.lexical_search("zeppelin", 5)) == ["Zeppelin mooring masts"]
