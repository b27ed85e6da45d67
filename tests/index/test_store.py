"""The SQLite store: atomic session replacement, people resolution, BM25 and schema checks."""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pytest

from index.store import SQLiteStore, fts_query
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
