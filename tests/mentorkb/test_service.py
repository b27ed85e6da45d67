"""The KnowledgeBase facade over fast fakes: ingest, idempotence, update, remove, consistency, visibility, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from index.embedder import HashingEmbedder
from ingest.topics import SimpleTopicExtractor
from mentorkb.cli import main
from mentorkb.errors import IndexMismatchError, UnknownSessionError
from mentorkb.service import INDEX_DIR, KnowledgeBase
from mentorkb.settings import Settings
from models import Viewer

DATA = Path(__file__).resolve().parents[1] / "data" / "kb"


def open_kb(kb_dir: Path) -> KnowledgeBase:
    return KnowledgeBase(
        Settings.load(kb_dir), embedder=HashingEmbedder(), extractor=SimpleTopicExtractor(), index_backend="numpy"
    )


@pytest.fixture
def notes(tmp_path) -> Path:
    dst = tmp_path / "notes"
    shutil.copytree(DATA / "notes", dst)
    return dst


@pytest.fixture
def kb(tmp_path, notes):
    k = open_kb(tmp_path / "kb")
    report = k.ingest([notes], roster=DATA / "people.csv")
    assert report.ok, report.rejected
    yield k
    k.close()


def test_ingest_reports_every_session_and_person(kb):
    stats = kb.stats()
    assert stats["sessions"] == 4 and stats["people"] == 4
    assert stats["passages"] >= 5


def test_reingest_of_unchanged_files_is_a_noop(kb, notes):
    gen = kb.store.generation()
    report = kb.ingest([notes])
    assert len(report.unchanged) == 4 and not report.ingested and not report.updated
    assert kb.store.generation() == gen


def test_changed_file_replaces_its_session(kb, notes):
    f = notes / "2025-03-14-budget-basics.md"
    f.write_text(f.read_text().replace("5% contingency", "10% contingency"))
    report = kb.ingest([notes])
    assert report.updated == ["2025-03-14-budget-basics"]
    texts = " ".join(p.text for p in kb.store.session_passages("2025-03-14-budget-basics"))
    assert "10% contingency" in texts and "5% contingency" not in texts
    assert kb.check()["ok"]


def test_remove_deletes_session_and_its_vectors(kb):
    before = len(kb.index())
    n = len(kb.store.session_passages("2025-06-02-prompting"))
    kb.remove("2025-06-02-prompting")
    assert kb.store.session("2025-06-02-prompting") is None
    assert len(kb.index()) == before - n
    with pytest.raises(UnknownSessionError, match="mentorkb sessions"):
        kb.remove("2025-06-02-prompting")


def test_bad_file_is_rejected_and_stored_sessions_stay(kb, notes):
    (notes / "broken.md").write_text("---\ndate: 31/02/2025\n---\nhello\n")
    report = kb.ingest([notes])
    assert len(report.rejected) == 1
    source, message = report.rejected[0]
    assert "broken.md" in message and "date" in message
    assert kb.stats()["sessions"] == 4


def test_same_id_from_two_files_is_rejected_naming_both(kb, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "2025-03-14-budget-basics.md").write_text("---\ndate: 2025-03-15\n---\nSomething else entirely.\n")
    report = kb.ingest([other])
    assert len(report.rejected) == 1
    assert "already belongs to notes/2025-03-14-budget-basics.md" in report.rejected[0][1]
    assert kb.store.session("2025-03-14-budget-basics").title == "Budget basics"


def test_unknown_person_is_created_with_unknown_level(kb, tmp_path):
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "n.md").write_text(
        "---\ndate: 2025-09-01\nmentors: [Zoe Quinn]\nmentees: [ben.okafor]\n---\nExcel tips.\n"
    )
    report = kb.ingest([extra])
    assert report.new_people == ["zoe.quinn"]
    assert any("Zoe Quinn" in n and "unknown level" in n for n in report.notices)
    assert kb.store.person("zoe.quinn").level is None


def test_stale_index_after_a_crash_is_rebuilt_from_stored_vectors(kb, tmp_path):
    manifest = kb.kb_dir / INDEX_DIR / "manifest.json"
    data = json.loads(manifest.read_text())
    data["generation"] -= 1  # as if the process died after committing the store, before saving the index
    manifest.write_text(json.dumps(data))
    fresh = open_kb(kb.kb_dir)
    assert fresh.check()["ok"]
    assert len(fresh.index()) == kb.stats()["passages"]


def test_corrupted_index_is_a_clear_error_and_reindex_heals_it(kb):
    files = [p for p in (kb.kb_dir / INDEX_DIR).iterdir() if p.name != "manifest.json"]
    for f in files:
        f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    fresh = open_kb(kb.kb_dir)
    with pytest.raises(IndexMismatchError, match="mentorkb reindex"):
        fresh.index()
    assert fresh.reindex() == kb.stats()["passages"]
    assert fresh.check()["ok"]


def test_private_session_is_invisible_to_others(kb):
    sid = "2025-07-01-private"
    assert sid not in {s.id for s in kb.sessions(Viewer(None))}
    assert sid not in {s.id for s in kb.sessions(Viewer("lena.park"))}
    assert sid in {s.id for s in kb.sessions(Viewer("ben.okafor"))}
    with pytest.raises(UnknownSessionError):
        kb.session(sid, Viewer("lena.park"))


def test_topics_only_session_is_listed_without_text(kb):
    s = kb.session("2025-08-09-coaching", Viewer("ben.okafor"))
    assert s.text == "" and s.title == "Salary negotiation coaching"
    assert "anchoring" in kb.session("2025-08-09-coaching", Viewer("lena.park")).text


def test_insights_never_quote_private_or_topics_only_text(kb):
    for who in (None, "lena.park", "margaret.hale"):
        for q in ("Project Nightjar finance team", "anchoring salary negotiation market data"):
            for i in kb.insights(q, viewer=Viewer(who), log_question=False):
                assert "Nightjar" not in i.text
                if who != "lena.park" and who != "margaret.hale":
                    assert "anchoring" not in i.text


def test_citations_point_at_the_right_source_lines(kb):
    res = kb.insights("zero-based budgeting justify every line", viewer=Viewer(None), log_question=False)
    top = res[0]
    lines = kb.session(top.session_id, Viewer(None)).text.splitlines()
    cited = " ".join(lines[top.lines[0] - 1 : top.lines[1]])
    assert "zero-based budgeting" in cited


# -- CLI -------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_env(monkeypatch):
    monkeypatch.setenv("MENTORKB_EMBEDDER_MODEL", "hashing")
    monkeypatch.setenv("MENTORKB_SPACY_MODEL", "simple")


def test_cli_ingest_exit_codes_and_summary(tmp_path, notes, fake_env):
    kb_dir = tmp_path / "clikb"
    r = CliRunner().invoke(main, ["ingest", str(notes), "--roster", str(DATA / "people.csv"), "--kb", str(kb_dir)])
    assert r.exit_code == 0, r.output
    assert "Ingest summary" in r.output
    (notes / "empty.md").write_text("")
    r = CliRunner().invoke(main, ["ingest", str(notes), "--kb", str(kb_dir)])
    assert r.exit_code == 1
    assert "empty.md" in r.output
    r = CliRunner().invoke(main, ["stats", "--json", "--kb", str(kb_dir)])
    assert json.loads(r.output)["sessions"] == 4


def test_cli_unknown_viewer_is_a_clear_error(tmp_path, notes, fake_env):
    kb_dir = tmp_path / "clikb"
    CliRunner().invoke(main, ["ingest", str(notes), "--roster", str(DATA / "people.csv"), "--kb", str(kb_dir)])
    r = CliRunner().invoke(main, ["sessions", "--as", "Nobody Here", "--kb", str(kb_dir)])
    assert r.exit_code == 2
    assert "Nobody Here" in r.output and "Fix:" in r.output


def test_unchanged_reingest_loads_no_model(kb, notes):
    # A model that cannot load proves nothing tried to: unchanged files need neither embedder nor spaCy.
    settings = Settings.load(kb.kb_dir, embedder_model="/no/such/model", spacy_model="/no/such/pipeline")
    again = KnowledgeBase(settings)
    report = again.ingest([notes])
    assert len(report.unchanged) == 4 and report.ok
    again.close()


DEMO_NOTES = Path(__file__).resolve().parents[2] / "mentorkb" / "demo" / "notes"


def _stored(kb: KnowledgeBase) -> list[tuple]:
    passages = sorted(kb.store.all_passages(), key=lambda p: (p.session_id, p.ordinal))
    vectors = kb.store.vectors_for([p.id for p in passages])
    return [
        (p.session_id, p.ordinal, p.text, p.topics, p.line_start, p.line_end, vectors[p.id].round(5).tobytes())
        for p in passages
    ]


def test_embedding_in_the_background_stores_exactly_what_one_stage_at_a_time_stores(tmp_path):
    stored = {}
    for overlap in (False, True):
        kb_dir = tmp_path / f"kb-{overlap}"
        kb = KnowledgeBase(
            Settings.load(kb_dir, ingest_overlap=overlap),
            embedder=HashingEmbedder(),
            extractor=SimpleTopicExtractor(),
            index_backend="numpy",
        )
        report = kb.ingest([DEMO_NOTES], roster=DEMO_NOTES.parent / "people.csv")
        assert report.ok and report.passages > 3 * 256  # several batches, so embedding overlaps the next one
        stored[overlap] = _stored(kb)
        hits = kb.insights("variance commentary for month-end", viewer=Viewer(None), log_question=False)
        stored[overlap].append(tuple((i.session_id, i.lines) for i in hits))
        kb.close()
    assert stored[True] == stored[False]


def test_shared_statistics_equal_a_full_count_for_every_viewer_of_the_demo(tmp_path):
    from datetime import date

    from recommend.experts import build_stats

    kb = KnowledgeBase(
        Settings.load(tmp_path / "kb"),
        embedder=HashingEmbedder(),
        extractor=SimpleTopicExtractor(),
        index_backend="numpy",
    )
    assert kb.ingest([DEMO_NOTES], roster=DEMO_NOTES.parent / "people.csv").ok
    canon = kb._canon_cache()
    topics: dict[str, set[str]] = {}
    for p in kb.store.all_passages():
        topics.setdefault(p.session_id, set()).update(canon.canonical(t) for t in p.topics)
    for s in kb.store.sessions():
        topics.setdefault(s.id, set()).update(canon.canonical(t) for t in s.tags)
        topics[s.id].discard("")
    sessions = kb.store.sessions()
    viewers = [Viewer(None), Viewer(None, operator=True)] + [Viewer(p.id) for p in kb.store.people()]
    assert any(s.visibility.value != "program" for s in sessions)
    for v in viewers:
        full = build_stats(sessions, v, lambda s: topics.get(s.id, set()), today=date.today())
        assert kb.person_stats(v) == full, v
    kb.close()


def test_an_ingest_that_only_adds_notes_updates_statistics_and_labels_without_a_full_pass(tmp_path, monkeypatch):
    notes, later = tmp_path / "notes", tmp_path / "later"
    shutil.copytree(DEMO_NOTES, notes)
    shutil.move(notes / "2026", later)  # this year's notes include private and topics-only sessions
    kb = open_kb(tmp_path / "kb")
    assert kb.ingest([notes], roster=DEMO_NOTES.parent / "people.csv").ok
    members = [Viewer(None)] + [Viewer(p.id) for p in kb.store.people()]
    for v in members:  # the caches a running app holds
        kb.person_stats(v)
    kb.topic_label("budgeting")
    report = kb.ingest([later])
    assert report.ok and report.ingested and not report.updated
    added = [kb.store.session(sid) for sid in report.ingested]
    assert {s.visibility.value for s in added} >= {"private", "topics-only"}
    passes: list[str] = []
    for name in ("sessions", "iter_passage_topics", "topics"):
        original = getattr(kb.store, name)
        monkeypatch.setattr(kb.store, name, lambda *a, _f=original, _n=name, **k: (passes.append(_n), _f(*a, **k))[1])
    carried = {v: dict(kb.person_stats(v)) for v in members}
    hits = {h.session.id for h in kb.retrieve("stepping back from the team", Viewer(None))}
    labels = dict(kb._labels())
    assert passes == []  # at 1M passages these passes took 33 s after every upload
    monkeypatch.undo()
    full = open_kb(tmp_path / "kb")  # a fresh process: everything counted in full
    for v in members:
        assert carried[v] == dict(full.person_stats(v)), v
    assert hits == {h.session.id for h in full.retrieve("stepping back from the team", Viewer(None))}
    assert labels == full._labels() and len(labels) > 100
    assert kb.person_stats(Viewer(None, operator=True)) == full.person_stats(Viewer(None, operator=True))
    full.close()
    kb.close()


@pytest.mark.parametrize("question", ["budget contingency", "how do I plan a budget?", "nothing like this"])
def test_work_beside_the_embedding_answers_exactly_what_one_after_the_other_does(kb, tmp_path, question):
    sequential = KnowledgeBase(
        Settings.load(tmp_path / "kb", query_overlap=False),
        embedder=HashingEmbedder(),
        extractor=SimpleTopicExtractor(),
        index_backend="numpy",
    )
    try:
        viewer = Viewer(None)
        assert kb.settings.query_overlap and not sequential.settings.query_overlap
        assert kb.retrieve(question, viewer) == sequential.retrieve(question, viewer)
        # BM25, the read of its passages and the question's topics all run in background threads
        for who in (None, "ben.okafor"):
            asked = [kb.ask(question, viewer=k.viewer(who), asker=who, log_question=False) for k in (kb, sequential)]
            assert asked[0] == asked[1] and (asked[0] or question == "nothing like this")
        found = [k.insights(question, viewer=viewer, log_question=False) for k in (kb, sequential)]
        assert found[0] == found[1]
    finally:
        sequential.close()


def test_a_question_after_an_ingest_finds_the_new_note(kb, notes):
    viewer = Viewer(None)
    assert not any("zeppelin" in h.passage.text.lower() for h in kb.retrieve("zeppelin mooring", viewer))
    (notes / "2025-06-01-zeppelin.md").write_text(
        "---\ndate: 2025-06-01\ntitle: Zeppelin mooring\ntype: flash\nmentors: [ana.ruiz]\n---\n"
        "Zeppelin mooring masts need a wind survey first.\n"
    )
    assert kb.ingest([notes]).ok
    assert any("zeppelin" in h.passage.text.lower() for h in kb.retrieve("zeppelin mooring", viewer))


@pytest.mark.parametrize("process", ["the same process", "a fresh process"])
def test_adding_a_note_updates_the_saved_index_without_rebuilding_it_from_every_vector(kb, notes, monkeypatch, process):
    target = kb if process == "the same process" else open_kb(kb.kb_dir)
    rebuilds: list[int] = []
    vectors = target.store.vectors
    monkeypatch.setattr(target.store, "vectors", lambda: (rebuilds.append(1), vectors())[1])
    (notes / "2025-06-01-zeppelin.md").write_text(
        "---\ndate: 2025-06-01\ntitle: Zeppelin mooring\ntype: flash\nmentors: [ana.ruiz]\n---\n"
        "Zeppelin mooring masts need a wind survey first.\n"
    )
    assert target.ingest([notes]).ok
    assert rebuilds == []  # at 1M passages a rebuild read 1.5 GB of vectors and retrained the IVF index
    assert any("zeppelin" in h.passage.text.lower() for h in target.retrieve("zeppelin mooring", Viewer(None)))
    reopened = open_kb(kb.kb_dir)
    monkeypatch.setattr(reopened.store, "vectors", lambda: (rebuilds.append(1), vectors())[1])
    assert len(reopened.index()) == reopened.stats()["passages"] and rebuilds == []  # the saved index is current
    for k in {id(target): target, id(reopened): reopened}.values():
        if k is not kb:
            k.close()


def test_changing_the_vector_precision_rebuilds_the_index_from_stored_vectors(tmp_path, notes):
    def opened(precision: str) -> KnowledgeBase:
        settings = Settings.load(tmp_path / "kb", vector_precision=precision)
        return KnowledgeBase(settings, embedder=HashingEmbedder(), extractor=SimpleTopicExtractor())

    kb = opened("fp32")
    assert kb.ingest([notes], roster=DATA / "people.csv").ok
    before = [h.passage.id for h in kb.retrieve("budget contingency", Viewer(None))]
    kb.close()
    manifest = kb.kb_dir / INDEX_DIR / "manifest.json"
    assert json.loads(manifest.read_text())["vectors"] == "fp32"
    kb = opened("fp16")
    assert [h.passage.id for h in kb.retrieve("budget contingency", Viewer(None))] == before
    assert json.loads(manifest.read_text())["vectors"] == "fp16"  # rebuilt once, saved, no embedding needed
    kb.close()


def _flash_notes(folder: Path, first: int, last: int) -> Path:
    folder.mkdir(exist_ok=True)
    for i in range(first, last):
        (folder / f"2025-05-{i:03d}.md").write_text(
            f"---\ndate: 2025-05-01\ntitle: Topic {i}\ntype: flash\nmentors: [ana.ruiz]\n---\n"
            f"Session {i} covered widget {i} calibration and gadget {i * 7} tolerances in depth.\n",
            encoding="utf-8",
        )
    return folder


def test_a_knowledge_base_that_uploads_take_past_the_ann_threshold_switches_to_ivf(tmp_path):
    def opened(ann_threshold: int = 40, **overrides: int) -> KnowledgeBase:
        settings = Settings.load(tmp_path / "kb", ann_threshold=ann_threshold, **overrides)
        return KnowledgeBase(settings, embedder=HashingEmbedder(), extractor=SimpleTopicExtractor())

    manifest = tmp_path / "kb" / INDEX_DIR / "manifest.json"
    kb = opened()
    assert kb.ingest([_flash_notes(tmp_path / "notes", 0, 30)], roster=DATA / "people.csv").ok
    assert kb.index().kind == "flat" and json.loads(manifest.read_text())["kind"] == "flat"
    assert kb.ingest([_flash_notes(tmp_path / "notes", 30, 60)]).ok  # one upload at a time, past 40 passages
    assert kb.index().kind == "ivf" and len(kb.index()) == 60
    assert json.loads(manifest.read_text())["kind"] == "ivf"
    assert kb.retrieve("widget 57 calibration", Viewer(None))[0].session.id == "2025-05-057"
    kb.close()
    kb = opened(ivf_nprobe=3, ivf_probe_vectors=60)  # search settings apply to the saved index too
    assert kb.index().kind == "ivf" and (kb.index().nprobe, kb.index().probe_vectors) == (3, 60)
    assert kb.index().lists_probed() == kb.index().nlist  # 60 vectors: every list
    assert kb.retrieve("widget 12 calibration", Viewer(None))[0].session.id == "2025-05-012"
    kb.close()
    shutil.rmtree(tmp_path / "kb" / INDEX_DIR)
    kb = opened(ann_threshold=1000)  # rebuilt exact: under this threshold
    assert kb.index().kind == "flat" and json.loads(manifest.read_text())["kind"] == "flat"
    kb.close()
    kb = opened()  # the saved exact index is past this one's threshold: rebuilt as IVF once, and saved
    assert kb.index().kind == "ivf" and json.loads(manifest.read_text())["kind"] == "ivf"
    kb.close()


def test_an_unknown_vector_precision_is_a_settings_error_naming_the_choices(tmp_path):
    from mentorkb.errors import SettingsError

    (tmp_path / "settings.toml").write_text('vector_precision = "fp8"\n')
    with pytest.raises(SettingsError) as err:
        Settings.load(tmp_path)
    assert err.value.field == "vector_precision" and "fp16, fp32" in (err.value.fix or "")
    assert err.value.source == str(tmp_path / "settings.toml")


def test_closing_waits_for_a_background_search_and_releases_the_database(kb):
    kb.retrieve("budget", Viewer(None))  # starts the background thread and the search connection
    kb.close()
    with pytest.raises(Exception, match="closed"):
        kb.store.lexical_search("budget", 5)
