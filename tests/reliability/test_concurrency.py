"""Readers while a writer ingests, and two writers at once.

A reader (the app, another CLI call) must never fail or see a session without its passages while another
process ingests. A second writer waits for the lock or fails with LockedError's message and its fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mentorkb.cli import main
from mentorkb.errors import LockedError
from mentorkb.portable import export_kb, import_kb
from mentorkb.service import INDEX_DIR, LOCK_NAME, KnowledgeBase
from models import Viewer

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "mentorkb" / "demo"
KB_DATA = ROOT / "tests" / "data" / "kb"
LOCKED = "another mentorkb process is writing to this knowledge base"
HOLD_LOCK = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(60)
"""


@pytest.fixture
def lock_holder(small_kb: KnowledgeBase):
    """A child process holding the knowledge base's writer lock until the test ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(small_kb.kb_dir / LOCK_NAME)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_ingest_fails_with_a_clear_message(small_kb: KnowledgeBase, lock_holder, fake_env) -> None:
    result = CliRunner(env={"MENTORKB_LOCK_TIMEOUT_S": "0.3"}).invoke(
        main, ["ingest", str(DEMO / "notes"), "--kb", str(small_kb.kb_dir)]
    )
    assert result.exit_code == 2
    assert LOCKED in result.stderr and "Fix: wait for the other ingest to finish" in result.stderr
    assert small_kb.stats()["sessions"] == 4


@pytest.mark.parametrize("action", ["ingest", "ingest_bytes", "remove", "reindex", "import"])
def test_every_writer_respects_the_lock(
    small_kb: KnowledgeBase, lock_holder, tmp_path: Path, make_kb: Callable[..., KnowledgeBase], action: str
) -> None:
    export = tmp_path / "export.jsonl"
    export_kb(small_kb, export)
    kb = make_kb(small_kb.kb_dir, lock_timeout_s=0.2)
    calls = {
        "ingest": lambda: kb.ingest([KB_DATA / "notes"]),
        "ingest_bytes": lambda: kb.ingest_bytes("n.md", b"---\ndate: 2025-01-01\n---\nhello\n"),
        "remove": lambda: kb.remove("2025-03-14-budget-basics"),
        "reindex": kb.reindex,
        "import": lambda: import_kb(kb, export),
    }
    with pytest.raises(LockedError, match=LOCKED):
        calls[action]()
    assert kb.store.session("2025-03-14-budget-basics") is not None


def _split_demo(tmp_path: Path) -> tuple[Path, Path]:
    """The demo notes in two folders of about equal size (2024-2025 and 2026)."""
    a, b = tmp_path / "a", tmp_path / "b"
    for year in ("2024", "2025"):
        shutil.copytree(DEMO / "notes" / year, a / year)
    shutil.copytree(DEMO / "notes" / "2026", b / "2026")
    return a, b


@pytest.mark.parametrize("timeout", ["60", "0.05"])
def test_two_concurrent_ingests_wait_or_fail_cleanly(
    tmp_path: Path, make_kb: Callable[..., KnowledgeBase], child_env, mentorkb_cmd, timeout: str
) -> None:
    a, b = _split_demo(tmp_path)
    kb_dir = tmp_path / "kb"
    env = child_env(MENTORKB_LOCK_TIMEOUT_S=timeout)
    roster = ["--roster", str(DEMO / "people.csv")]
    procs = {
        folder: subprocess.Popen(
            mentorkb_cmd("ingest", str(folder), *roster, "--kb", str(kb_dir)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (a, b)
    }
    done = {folder: (p.wait(timeout=120), p.stderr.read()) for folder, p in procs.items()}
    for p in procs.values():
        p.stdout.close()
        p.stderr.close()
    kb = make_kb(kb_dir)
    sources = {s.source for s in kb.store.sessions()}
    for folder, (code, err) in done.items():
        expected = {f.relative_to(folder.parent).as_posix() for f in folder.rglob("*.*")}
        if code == 0:
            assert expected <= sources
        else:
            assert code == 2 and LOCKED in err, err
            assert not expected & sources
    if timeout == "60":
        assert [c for c, _ in done.values()] == [0, 0], "with a long lock timeout the second ingest must wait"
    assert kb.check()["ok"]


def test_a_reader_never_rewrites_the_index_while_another_process_writes(
    small_kb: KnowledgeBase, lock_holder, make_kb: Callable[..., KnowledgeBase]
) -> None:
    """A reader that finds the saved index stale rebuilds it in memory; saving it could pair its index file
    with the writer's manifest (or label old vectors with the writer's new generation)."""
    manifest = small_kb.kb_dir / INDEX_DIR / "manifest.json"
    stale = json.loads(manifest.read_text())
    stale["generation"] -= 1
    manifest.write_text(json.dumps(stale))
    reader = make_kb(small_kb.kb_dir)
    assert len(reader.index()) == small_kb.stats()["passages"]  # served from memory, rebuilt from the store
    assert json.loads(manifest.read_text()) == stale, "the reader saved the index while the lock was held"


def test_loading_the_index_while_a_save_replaces_it_waits_for_the_manifest(small_kb: KnowledgeBase, tmp_path: Path):
    """save_index replaces the index file, then its manifest: a reader in between must not call it corrupted."""
    from index.vectors import load_index, save_index

    folder = small_kb.kb_dir / INDEX_DIR
    newer = tmp_path / "newer"
    small_kb.index().remove(np.asarray([small_kb.store.all_passages()[0].id]))
    save_index(small_kb.index(), newer, {"embedder": small_kb.embedder.name, "generation": 99})
    manifest = json.loads((folder / "manifest.json").read_text())
    shutil.copy(newer / manifest["file"], folder / manifest["file"])  # the save is half-way: new file, old manifest

    def finish_save() -> None:  # as save_index writes a manifest: whole, by rename (a plain copy is briefly empty)
        shutil.copy(newer / "manifest.json", folder / ".manifest.json.tmp")
        os.replace(folder / ".manifest.json.tmp", folder / "manifest.json")

    later = threading.Timer(0.3, finish_save)
    later.start()
    try:
        _, loaded = load_index(folder, expect={"embedder": small_kb.embedder.name})
    finally:
        later.join()
    assert loaded["generation"] == 99


def test_readers_never_fail_nor_see_half_a_session_while_a_writer_ingests(
    small_kb: KnowledgeBase, make_kb: Callable[..., KnowledgeBase], child_env, mentorkb_cmd
) -> None:
    writer = subprocess.Popen(
        mentorkb_cmd("ingest", str(DEMO / "notes"), "--roster", str(DEMO / "people.csv"), "--kb", str(small_kb.kb_dir)),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    rounds = {"during": 0, "sessions seen": set()}

    def read_loop(kb: KnowledgeBase, viewer: Viewer) -> None:
        while writer.poll() is None:
            try:
                for s in kb.sessions(viewer):
                    rounds["sessions seen"].add(s.id)
                    if not kb.store.session_passages(s.id):
                        errors.append(f"session {s.id} listed without passages")
                for i in kb.insights("budget forecast variance", viewer=viewer, log_question=False):
                    if not i.text:
                        errors.append(f"empty insight from {i.session_id}")
                kb.ask("who can teach python automation", viewer=viewer, log_question=False)
                rounds["during"] += 1
            except Exception as exc:  # noqa: BLE001 - any exception at all is the failure this test looks for
                errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.05)

    readers = [
        threading.Thread(target=read_loop, args=(make_kb(small_kb.kb_dir), v))
        for v in (Viewer(None), Viewer("ben.okafor"))
    ]
    for t in readers:
        t.start()
    code = writer.wait(timeout=180)
    for t in readers:
        t.join(timeout=60)
    stderr = writer.stderr.read()
    writer.stderr.close()
    assert code == 0, stderr
    assert not errors, errors[:5]
    assert rounds["during"] >= 2, "the readers never ran while the writer was ingesting"
    print(f"\nreader rounds during the ingest: {rounds['during']}; sessions seen: {len(rounds['sessions seen'])}")
    kb = make_kb(small_kb.kb_dir)
    assert kb.check()["ok"] and kb.stats()["sessions"] == 4 + sum(1 for _ in (DEMO / "notes").rglob("*.*"))
