"""The benchmark corpus generator: deterministic by seed, roster-consistent, and ingestible as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.gen_corpus import ROSTER_FILE, generate, load_roster, write_corpus
from index.embedder import HashingEmbedder
from ingest.topics import SimpleTopicExtractor
from mentorkb.service import KnowledgeBase
from mentorkb.settings import Settings

N = 40


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, N, seed=7)
    return out


def test_same_seed_writes_the_same_bytes(corpus, tmp_path):
    write_corpus(tmp_path, N, seed=7)
    assert _files(tmp_path) == _files(corpus)


def test_another_seed_writes_another_corpus(corpus, tmp_path):
    write_corpus(tmp_path, N, seed=8)
    assert set(_files(tmp_path).values()) & set(_files(corpus).values()) == {(corpus / ROSTER_FILE).read_bytes()}


def test_refuses_to_mix_into_an_earlier_corpus(corpus):
    with pytest.raises(FileExistsError, match="already holds notes"):
        write_corpus(corpus, 5, seed=1)


@pytest.mark.parametrize(
    ("kind", "senior"),
    [("traditional", "mentors"), ("flash", "mentors"), ("reverse", "mentees")],
)
def test_recast_people_keep_who_is_senior(kind, senior):
    level = {p.id: p.level for p in load_roster()}
    notes = [n for n in generate(400, seed=3) if n.meta["type"] == kind]
    junior = "mentees" if senior == "mentors" else "mentors"
    checked = 0
    for n in notes:
        seniors = [level.get(r) for r in n.meta.get(senior, ())]
        juniors = [level.get(r) for r in n.meta.get(junior, ())]
        if seniors and juniors and None not in seniors + juniors:  # full names in front matter are skipped here
            assert min(seniors) > max(juniors), n.path
            checked += 1
    assert checked >= 5


def test_notes_ingest_cleanly_with_every_person_in_the_roster(corpus, tmp_path):
    kb = KnowledgeBase(
        Settings.load(tmp_path / "kb"),
        embedder=HashingEmbedder(),
        extractor=SimpleTopicExtractor(),
        index_backend="numpy",
    )
    try:
        report = kb.ingest([corpus / "notes"], roster=corpus / ROSTER_FILE)
        assert report.ok, report.rejected[:3]
        assert len(report.ingested) == N
        assert set(report.new_people) == {p.id for p in load_roster()}  # only roster people, no strangers
        assert report.passages >= 3 * N
        assert kb.check()["ok"]
    finally:
        kb.close()
