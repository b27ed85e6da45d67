"""Export / import round trip: a knowledge base rebuilt from its export answers exactly as the original."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mentorkb.cli import main, to_jsonable
from mentorkb.errors import NoteFormatError
from mentorkb.portable import FORMAT, export_kb, import_kb, is_export, kv_items
from mentorkb.service import KnowledgeBase
from models import Viewer

DATA = Path(__file__).resolve().parents[1] / "data"
MALFORMED = DATA / "malformed"
KB_DATA = DATA / "kb"
QUESTIONS = [
    "Who can teach me budgeting and forecasting?",
    "How do I write good prompts for ChatGPT?",
    "short video for LinkedIn",
    "python automation for reconciliations",
    "screen reader accessibility testing",
    "salary negotiation",
    "due diligence quality of earnings",
    "incoterms DAP vs DDP",
]
VIEWERS = [Viewer(None), Viewer("rajiv.menon"), Viewer("diego.ramos"), Viewer(None, operator=True)]


@pytest.fixture(scope="module")
def source_kb(tmp_path_factory: pytest.TempPathFactory, demo_kb_dir: Path, open_kb) -> Iterator[KnowledgeBase]:
    """The demo knowledge base with a cluster name, a calibrated weight and two logged questions."""
    dst = tmp_path_factory.mktemp("source") / "kb"
    shutil.copytree(demo_kb_dir, dst)
    kb = open_kb(dst)
    kb.store.kv_set("clusters", "names", json.dumps({"c3": "Budget season"}))
    kb.store.kv_set("weights", "calibrated", json.dumps({"weight_topic": 0.4}))
    kb.ask("Who knows Rust?", viewer=Viewer("sam.patel"))
    kb.ask("carbon accounting", viewer=Viewer("helena.marsh"), opt_in=True)
    yield kb
    kb.close()


@pytest.fixture(scope="module")
def exported(source_kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "export.jsonl"
    n = export_kb(source_kb, out)
    assert n == len(out.read_text(encoding="utf-8").splitlines())
    return out


@pytest.fixture(scope="module")
def copy_kb(exported: Path, tmp_path_factory: pytest.TempPathFactory, open_kb) -> Iterator[KnowledgeBase]:
    """A knowledge base imported from the export (tests must not change it)."""
    kb = open_kb(tmp_path_factory.mktemp("copy") / "kb")
    report = import_kb(kb, exported)
    assert report.ok, report.rejected
    yield kb
    kb.close()


@pytest.fixture(scope="module")
def small_export(tmp_path_factory: pytest.TempPathFactory, open_kb) -> Path:
    """The export of the four-session knowledge base of tests/data/kb: cheap to import many times."""
    kb = open_kb(tmp_path_factory.mktemp("small") / "kb")
    try:
        assert kb.ingest([KB_DATA / "notes"], roster=KB_DATA / "people.csv").ok
        out = kb.kb_dir.parent / "small.jsonl"
        export_kb(kb, out)
    finally:
        kb.close()
    return out


def _passages(kb: KnowledgeBase) -> dict[str, list[tuple]]:
    return {
        s.id: [
            (p.ordinal, p.text, p.line_start, p.line_end, p.speaker, p.topics) for p in kb.store.session_passages(s.id)
        ]
        for s in kb.store.sessions()
    }


def _kv(kb: KnowledgeBase) -> dict[tuple[str, str], str]:
    return {(ns, k): v for ns, k, v in kv_items(kb.store)}


def test_round_trip_keeps_people_sessions_passages_topics_and_settings(
    source_kb: KnowledgeBase, copy_kb: KnowledgeBase
) -> None:
    assert copy_kb.store.people() == source_kb.store.people()
    assert copy_kb.store.roster_ids() == source_kb.store.roster_ids()
    assert copy_kb.store.sessions() == source_kb.store.sessions()  # every field, full text included
    assert _passages(copy_kb) == _passages(source_kb)
    assert sorted(copy_kb.store.topics(), key=lambda t: t.id) == sorted(source_kb.store.topics(), key=lambda t: t.id)
    assert _kv(copy_kb) == _kv(source_kb)
    strip = lambda log: [(q["kind"], q["question"], q["topics"], q["asker"]) for q in log]  # noqa: E731
    assert strip(copy_kb.store.query_log()) == strip(source_kb.store.query_log())
    assert copy_kb.check()["ok"]


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: "operator" if v.operator else str(v.person_id))
def test_round_trip_answers_every_question_the_same(
    source_kb: KnowledgeBase, copy_kb: KnowledgeBase, viewer: Viewer
) -> None:
    for q in QUESTIONS:
        want = to_jsonable(source_kb.ask(q, viewer=viewer, log_question=False, top=5))
        assert to_jsonable(copy_kb.ask(q, viewer=viewer, log_question=False, top=5)) == want, q
        want = to_jsonable(source_kb.insights(q, viewer=viewer, log_question=False, top=8))
        assert to_jsonable(copy_kb.insights(q, viewer=viewer, log_question=False, top=8)) == want, q


def test_export_of_the_copy_equals_the_export(copy_kb: KnowledgeBase, exported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.jsonl"
    export_kb(copy_kb, again)

    def stable(path: Path) -> list[dict]:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for r in rows:
            r.pop("exported_at", None)
            r.pop("ts", None)
        return rows

    assert stable(again) == stable(exported)


def test_export_is_readable_by_its_owner_only_and_is_recognised(exported: Path) -> None:
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    assert json.loads(exported.read_text(encoding="utf-8").splitlines()[0])["kind"] == FORMAT
    assert is_export(exported)
    assert not is_export(MALFORMED / "good-records.jsonl")
    assert not is_export(MALFORMED / "bin-png.md")
    assert not is_export(exported.parent / "missing.jsonl")


def test_private_sessions_stay_private_after_import(copy_kb: KnowledgeBase) -> None:
    ids = {s.id for s in copy_kb.sessions(Viewer(None))}
    assert not any("due-diligence" in i for i in ids)
    mine = {s.id for s in copy_kb.sessions(Viewer("rajiv.menon"))}
    assert any("due-diligence" in i for i in mine)


def test_importing_again_changes_nothing(
    small_export: Path, tmp_path: Path, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(tmp_path / "kb")
    assert import_kb(kb, small_export).ok
    kb.ask("budgeting", viewer=Viewer(None))
    before = (kb.store.generation(), kb.stats(), kb.store.query_log(), _kv(kb))
    report = import_kb(kb, small_export)
    assert report.ok and not report.ingested and not report.new_people
    assert len(report.unchanged) == 4
    assert (kb.store.generation(), kb.stats(), kb.store.query_log(), _kv(kb)) == before


def test_a_clashing_session_is_rejected_and_the_stored_one_kept(
    small_kb: KnowledgeBase, small_export: Path, tmp_path: Path
) -> None:
    lines = small_export.read_text(encoding="utf-8").splitlines()
    rec = next(json.loads(line) for line in lines if '"kind": "session"' in line)
    rec["id"], rec["source"], rec["content_hash"] = "2025-03-14-budget-basics", "elsewhere/b.md", "other"
    clash = tmp_path / "clash.jsonl"
    clash.write_text(lines[0] + "\n" + json.dumps(rec) + "\n", encoding="utf-8")
    report = import_kb(small_kb, clash)
    [(_, message)] = report.rejected
    assert "2025-03-14-budget-basics" in message and "mentorkb remove" in message
    assert small_kb.store.session("2025-03-14-budget-basics").title == "Budget basics"


BAD_RECORDS = [
    ("not json {", "not JSON"),
    ('{"kind": "planet"}', "unknown record kind"),
    ('["kind", "person"]', "not a JSON object"),
    (
        '{"kind": "person", "id": "x", "name": "X", "email": "", "title": "", "department": "", "level": "high"}',
        "level",
    ),
    ('{"kind": "person", "id": "", "name": "X"}', "'id'"),
]


@pytest.mark.parametrize(("line", "phrase"), BAD_RECORDS)
def test_a_bad_record_is_reported_with_its_line_and_the_rest_imported(
    small_export: Path, tmp_path: Path, make_kb: Callable[..., KnowledgeBase], line: str, phrase: str
) -> None:
    lines = small_export.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], line, *lines[1:]]) + "\n", encoding="utf-8")
    kb = make_kb(tmp_path / "kb")
    report = import_kb(kb, bad)
    [(where, message)] = report.rejected
    assert where == f"{bad}:2" and f"{bad}:2" in message and phrase in message and "Fix:" in message
    assert kb.stats()["sessions"] == sum('"kind": "session"' in x for x in lines)


@pytest.mark.parametrize(
    ("field", "value", "phrase"),
    [
        ("visibility", "everyone", "unknown value 'everyone'"),
        ("type", None, "field 'type'"),
        ("date", "2025-02-30", "field 'date'"),
        ("source", "../../etc/passwd.md", "not a relative path"),
        ("source", "/etc/passwd.md", "not a relative path"),
        ("passages", [], "field 'passages'"),
        ("mentors", "ana", "field 'mentors'"),
        ("is_transcript", "yes", "field 'is_transcript'"),
    ],
)
def test_a_bad_session_record_is_rejected_naming_the_field(
    small_export: Path, tmp_path: Path, make_kb: Callable[..., KnowledgeBase], field: str, value: object, phrase: str
) -> None:
    lines = small_export.read_text(encoding="utf-8").splitlines()
    n, rec = next((i, json.loads(x)) for i, x in enumerate(lines, start=1) if '"kind": "session"' in x)
    rec[field] = value
    lines[n - 1] = json.dumps(rec)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kb = make_kb(tmp_path / "kb")
    report = import_kb(kb, bad)
    [(where, message)] = report.rejected
    assert where == f"{bad}:{n}" and phrase in message
    assert kb.store.session(rec["id"]) is None


@pytest.mark.parametrize(
    ("first", "phrase"),
    [
        ('{"kind": "person", "id": "a", "name": "A"}', "header"),
        ('{"kind": "mentorkb-export", "version": 99}', "version 99"),
        ("", "empty"),
    ],
)
def test_a_file_without_a_valid_header_is_refused(
    tmp_path: Path, make_kb: Callable[..., KnowledgeBase], first: str, phrase: str
) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text(first + "\n", encoding="utf-8")
    with pytest.raises(NoteFormatError, match=phrase):
        import_kb(make_kb(tmp_path / "kb"), bad)


def test_cli_export_then_ingest_rebuilds_the_knowledge_base(small_kb: KnowledgeBase, tmp_path: Path, fake_env) -> None:
    out = tmp_path / "kb.jsonl"
    runner = CliRunner()
    assert runner.invoke(main, ["export", str(out), "--kb", str(small_kb.kb_dir)]).exit_code == 0
    assert is_export(out)
    result = runner.invoke(main, ["ingest", str(out), "--kb", str(tmp_path / "copy"), "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["ingested"]) == sorted(s.id for s in small_kb.store.sessions())


def test_an_export_inside_a_notes_folder_is_rejected_with_a_pointer(
    small_kb: KnowledgeBase, small_export: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "backup.jsonl").write_bytes(small_export.read_bytes())
    [(_, message)] = small_kb.ingest([folder]).rejected
    assert "backup.jsonl:1" in message and "mentorkb export" in message and "mentorkb ingest FILE" in message
