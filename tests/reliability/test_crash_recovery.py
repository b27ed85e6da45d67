"""Kill -9 at random points of an ingest: the knowledge base stays consistent and the next ingest completes it.

Each seed starts `python -m mentorkb ingest` on the demo corpus (fake models), SIGKILLs it after a random delay,
then checks: `check()` is ok (opening heals a stale vector index from stored vectors), every stored session has
exactly the passages a clean ingest gives it, and re-running the ingest stores the whole batch without
re-ingesting (or losing) what was committed before the kill.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from mentorkb.service import KnowledgeBase

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "mentorkb" / "demo"
SEEDS = 12


def passages_by_session(kb: KnowledgeBase) -> dict[str, list[tuple]]:
    """Every stored session's passages as (ordinal, text, line range, speaker): what a reader cites."""
    return {
        s.id: [(p.ordinal, p.text, p.line_start, p.line_end, p.speaker) for p in kb.store.session_passages(s.id)]
        for s in kb.store.sessions()
    }


@pytest.mark.slow
def test_kill_9_at_random_points_never_corrupts_and_the_rerun_completes(
    tmp_path: Path, make_kb: Callable[..., KnowledgeBase], child_env, mentorkb_cmd
) -> None:
    def ingest_cmd(kb_dir: Path) -> list[str]:
        return mentorkb_cmd(
            "ingest", str(DEMO / "notes"), "--roster", str(DEMO / "people.csv"), "--kb", str(kb_dir), "--json"
        )

    # A clean run in a child process: the reference contents, and how long a whole ingest takes.
    started = time.perf_counter()
    done = subprocess.run(ingest_cmd(tmp_path / "ref"), env=child_env(), capture_output=True, text=True, timeout=300)
    full = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    reference = passages_by_session(make_kb(tmp_path / "ref"))
    assert reference

    outcomes: Counter[str] = Counter()
    for seed in range(SEEDS):
        kb_dir = tmp_path / f"kb{seed}"
        delay = random.Random(seed).uniform(0.3, 1.0) * full  # start-up (imports, roster) takes the first third
        child = subprocess.Popen(
            ingest_cmd(kb_dir), env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        killed = child.poll() is None
        if killed:
            child.send_signal(signal.SIGKILL)
        child.wait()

        if not (kb_dir / "mentorkb.sqlite3").exists():
            outcomes["before the database existed"] += 1
            continue
        kb = make_kb(kb_dir)
        report = kb.check()
        assert report["ok"], f"seed {seed} (killed after {delay:.2f}s): {report['problems']}"
        committed = passages_by_session(kb)
        for sid, passages in committed.items():
            assert passages == reference[sid], f"seed {seed}: session {sid} is half-ingested"
        stored = len(committed)
        outcomes[
            "not killed (finished first)"
            if not killed
            else "before the first session"
            if stored == 0
            else "after the last session"
            if stored == len(reference)
            else "in the middle of the batch"
        ] += 1

        rerun = kb.ingest([DEMO / "notes"], roster=DEMO / "people.csv")
        assert rerun.ok, rerun.rejected
        assert set(rerun.unchanged) == set(committed), f"seed {seed}: committed sessions were re-ingested or lost"
        assert passages_by_session(kb) == reference, f"seed {seed}: the re-run did not complete the batch"
        assert kb.check()["ok"]
        kb.close()

    survived = sum(n for k, n in outcomes.items() if k != "not killed (finished first)")
    print(f"\nkill -9 points survived: {survived} of {SEEDS} (full ingest {full:.1f}s): {dict(outcomes)}")
    assert outcomes["in the middle of the batch"] >= 3, f"too few kills landed mid-batch: {dict(outcomes)}"
