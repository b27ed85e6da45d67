"""Fixtures for the reliability, privacy and security tests: knowledge bases on the fast fakes.

`FAKE_ENV` selects the dependency-free embedder and topic extractor by name, for subprocesses and the CLI;
in-process tests pass the fake objects directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from index.embedder import HashingEmbedder
from ingest.topics import SimpleTopicExtractor
from mentorkb.service import KnowledgeBase
from mentorkb.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "mentorkb" / "demo"
KB_DATA = ROOT / "tests" / "data" / "kb"
FAKE_ENV = {
    "MENTORKB_EMBEDDER_MODEL": "hashing",
    "MENTORKB_SPACY_MODEL": "simple",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def open_fake_kb(kb_dir: Path, **overrides: object) -> KnowledgeBase:
    """A knowledge base in kb_dir on the fakes (hashing embedder, simple extractor, NumPy index)."""
    return KnowledgeBase(
        Settings.load(kb_dir, **overrides),
        embedder=HashingEmbedder(),
        extractor=SimpleTopicExtractor(),
        index_backend="numpy",
    )


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, **FAKE_ENV, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _mentorkb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "mentorkb", *args]


@pytest.fixture
def child_env() -> Callable[..., dict[str, str]]:
    """Environment for a `python -m mentorkb` child: the fakes, this checkout first on the path, extra vars."""
    return _child_env


@pytest.fixture
def mentorkb_cmd() -> Callable[..., list[str]]:
    """argv that runs the mentorkb CLI with the given arguments in a child process."""
    return _mentorkb_cmd


@pytest.fixture(scope="session")
def open_kb() -> Callable[..., KnowledgeBase]:
    """open_fake_kb, for module-scoped fixtures (which must close what they open)."""
    return open_fake_kb


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Select the fakes by name for code that loads models itself (the CLI)."""
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    return FAKE_ENV


@pytest.fixture
def make_kb() -> Iterator[Callable[..., KnowledgeBase]]:
    """Factory for fake-model knowledge bases, closed at teardown."""
    opened: list[KnowledgeBase] = []

    def make(kb_dir: Path, **overrides: object) -> KnowledgeBase:
        kb = open_fake_kb(kb_dir, **overrides)
        opened.append(kb)
        return kb

    yield make
    for kb in opened:
        kb.close()


@pytest.fixture
def small_kb(tmp_path: Path, make_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    """The four sessions of tests/data/kb (one private, one topics-only) with their roster."""
    kb = make_kb(tmp_path / "kb")
    report = kb.ingest([KB_DATA / "notes"], roster=KB_DATA / "people.csv")
    assert report.ok, report.rejected
    return kb


@pytest.fixture(scope="session")
def demo_kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus ingested once on the fakes; tests must not write to it (copy it first)."""
    kb_dir = tmp_path_factory.mktemp("demo") / "kb"
    kb = open_fake_kb(kb_dir)
    try:
        report = kb.ingest([DEMO / "notes"], roster=DEMO / "people.csv")
    finally:
        kb.close()
    assert report.ok, report.rejected
    return kb_dir


@pytest.fixture
def demo_copy(tmp_path: Path, demo_kb_dir: Path) -> Path:
    """A private copy of the demo knowledge base that a test may change."""
    dst = tmp_path / "demo-kb"
    shutil.copytree(demo_kb_dir, dst)
    return dst


@pytest.fixture(scope="session")
def demo_kb_shared(tmp_path_factory: pytest.TempPathFactory, demo_kb_dir: Path) -> Iterator[KnowledgeBase]:
    """One open demo knowledge base for read-mostly tests (its own copy: topic views save cluster state)."""
    dst = tmp_path_factory.mktemp("demo-shared") / "kb"
    shutil.copytree(demo_kb_dir, dst)
    kb = open_fake_kb(dst)
    yield kb
    kb.close()
