"""App test fixtures: the demo knowledge base, built once per test session, and an AppTest on app.py.

Most tests use the dependency-free fakes (hashing embedder, simple topic extractor); the few marked
`real` build a second demo knowledge base with the real models.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
DEMO = ROOT / "mentorkb" / "demo"
FAKES = {"MENTORKB_EMBEDDER_MODEL": "hashing", "MENTORKB_SPACY_MODEL": "simple"}
REAL = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
TIMEOUT = 60  # seconds per AppTest run: the first run of a session opens the knowledge base and loads models


def build_demo_kb(kb_dir: Path, env: dict[str, str], notes: Path = DEMO / "notes") -> Path:
    """Ingest demo notes and the roster into kb_dir with the given model settings."""
    from mentorkb.service import KnowledgeBase

    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        kb = KnowledgeBase.open(kb_dir)
        try:
            report = kb.ingest([notes], roster=DEMO / "people.csv")
        finally:
            kb.close()
    assert report.ok, report.rejected
    return kb_dir


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo knowledge base built with the fakes (read-only for tests: copy it to change it)."""
    return build_demo_kb(tmp_path_factory.mktemp("demo-kb"), FAKES)


@pytest.fixture(scope="session")
def real_demo_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's 2025 notes ingested with the real embedder and spaCy pipeline (a third of the time of all)."""
    return build_demo_kb(tmp_path_factory.mktemp("demo-kb-real"), REAL, DEMO / "notes" / "2025")


@pytest.fixture
def writable_kb(demo_kb: Path, tmp_path: Path) -> Path:
    """A private copy of the demo knowledge base, for tests that upload notes."""
    dst = tmp_path / "kb"
    shutil.copytree(demo_kb, dst, ignore=shutil.ignore_patterns(".write.lock"))
    return dst


AppFactory = Callable[..., AppTest]


@pytest.fixture(scope="session")
def component_registry() -> Any:
    """One scan for custom components, shared by every AppTest.

    Each new AppTest scans the metadata of every installed package for Streamlit components (about 1.5 s
    here); the app uses none, so one scan per test session is enough.
    """
    from streamlit.components.v2.component_manager import BidiComponentManager

    registry = BidiComponentManager()
    registry.discover_and_register_components(start_file_watching=False)
    return registry


@pytest.fixture
def app_factory(monkeypatch: pytest.MonkeyPatch, component_registry: Any) -> AppFactory:
    """Make an AppTest of app.py serving a knowledge base, with optional secrets and signed-in user; first run done."""

    def make(
        kb_dir: Path,
        env: dict[str, str] = FAKES,
        *,
        secrets: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
    ) -> AppTest:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("MENTORKB_KB", str(kb_dir))
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at._bidi_component_manager = component_registry
        for k, v in (secrets or {}).items():
            at.secrets[k] = v
        if user is not None:
            at.user = user
        at.run()
        assert not at.exception, at.exception
        return at

    return make


@pytest.fixture
def app(app_factory: AppFactory, demo_kb: Path) -> AppTest:
    """The app on the shared demo knowledge base (fakes), in local mode."""
    return app_factory(demo_kb)


@pytest.fixture
def writable_app(app_factory: AppFactory, writable_kb: Path) -> AppTest:
    """The app on a private copy of the demo knowledge base (fakes), for uploads."""
    return app_factory(writable_kb)


@pytest.fixture
def real_app(app_factory: AppFactory, real_demo_kb: Path) -> AppTest:
    """The app on the demo knowledge base built with the real models."""
    return app_factory(real_demo_kb, REAL)
