"""Peak memory (RSS) of a loaded knowledge base and of an ingest into it, at 100k and 1M passages.

Each measurement is one fresh process that reports its resident set size after each step and its peak
(VmHWM from /proc/self/status) at the end:
- loaded: open the knowledge base, load both models, load the vector index, answer one `ask` and one
  `insights`, then (where the settings keep BM25 in memory) copy the BM25 index to memory and ask again: what
  the app holds once it has answered a few questions;
- ingest: the same, then ingest --add new notes into a copy of the knowledge base (the facade's full write
  path: embed, store, index, topic-table refit, index save), then ask once more (what the next question after
  an upload costs).
The knowledge bases are the ones bench_query builds (real passages, MiniLM-shaped synthetic vectors above
--real-up-to), reused from --work.

    python -m benchmarks.bench_memory --sizes 100k,1M --work /tmp/mentorkb-bench
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_ingest import DEFAULT_WORK, REPO, VARIANTS, load_line, open_real_kb, variant  # noqa: E402
from benchmarks.bench_query import REAL_UP_TO, ensure_kb, load_questions, parse_sizes  # noqa: E402
from benchmarks.gen_corpus import NOTES_DIR, ensure_corpus, print_table  # noqa: E402

MODES = ("loaded", "ingest")


def rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def child(mode: str, kb_dir: Path, extra: Path | None) -> dict[str, object]:
    """Run one measurement in this process; steps as (name, seconds, RSS MiB), and the peak."""
    steps: list[tuple[str, float, float]] = []
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps.append((name, now - mark, rss_mib()[0]))
        mark = now

    step("python started")
    kb = open_real_kb(kb_dir)
    _ = kb.embedder
    step("embedder loaded")
    _ = kb.extractor
    step("spaCy loaded")
    kb.index()
    step("vector index loaded")
    question, asker = load_questions()[0]
    kb.ask(question, viewer=kb.viewer(asker), asker=asker, log_question=False)
    step("one ask answered")
    kb.insights(question, viewer=kb.viewer(asker), log_question=False)
    step("one insights answered")
    warm = getattr(kb.store, "warm_bm25", None)
    if warm is not None and warm(timeout=None):  # what a long-running process holds (bm25_memory_min_passages)
        kb.ask(question, viewer=kb.viewer(asker), asker=asker, log_question=False)
        step("BM25 copied to memory, asked again")
    if mode == "ingest" and extra is not None:
        report = kb.ingest([extra / NOTES_DIR])
        if report.rejected:
            raise RuntimeError(f"{len(report.rejected)} notes rejected: {report.rejected[0][1]}")
        step(f"+{len(report.ingested)} notes ingested")
        kb.ask(question, viewer=kb.viewer(asker), asker=asker, log_question=False)
        step("the first ask after the ingest")
    kb.close()
    return {"steps": steps, "peak_mib": rss_mib()[1]}


def run_child(variant_name: str, mode: str, kb_dir: Path, extra: Path | None) -> dict:
    """One measurement in a fresh process."""
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_memory",
        "--child",
        variant_name,
        mode,
        str(kb_dir),
        str(extra or ""),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=os.environ, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build (or reuse) each knowledge base, measure each mode in a fresh process."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        extra = Path(argv[4]) if argv[4] else None
        with variant(argv[1]):
            print(json.dumps(child(argv[2], Path(argv[3]), extra)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100k,1M")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real-up-to", type=int, default=REAL_UP_TO, help="largest size built with the real models")
    ap.add_argument("--add", type=int, default=100, help="notes ingested in the ingest mode")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--variant", default="baseline", help=f"a settings variant: {', '.join(VARIANTS)}")
    args = ap.parse_args(argv)

    print(load_line())
    probe = open_real_kb(args.work / "kb-probe")
    embedder = probe.embedder
    probe.close()
    extra = ensure_corpus(
        args.work / f"add-{args.add}-s{args.seed + 2000}", args.add, seed=args.seed + 2000, start=10_000_000
    )
    peaks, detail = [], []
    for size in parse_sizes(args.sizes):
        kb_dir, _ = ensure_kb(args.work, size, seed=args.seed, real_up_to=args.real_up_to, embedder=embedder)
        size_mib = sum(f.stat().st_size for f in kb_dir.rglob("*") if f.is_file()) / 2**20
        for mode in args.modes.split(","):
            target = kb_dir
            if mode == "ingest":
                target = args.work / "kb-memory-copy"
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(kb_dir, target)
            result = run_child(args.variant, mode, target, extra if mode == "ingest" else None)
            peaks.append([f"{size:,}", mode, f"{result['peak_mib']:.0f}", f"{size_mib:.0f}"])
            for name, seconds, rss in result["steps"]:
                detail.append([f"{size:,}", mode, name, f"{seconds:.1f}", f"{rss:.0f}"])
            if mode == "ingest":
                shutil.rmtree(target, ignore_errors=True)
    print_table(f"Peak RSS, MiB ({args.variant}; {load_line()})", ["passages", "mode", "peak RSS", "on disk"], peaks)
    print_table("Step by step", ["passages", "mode", "step", "seconds", "RSS MiB"], detail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
