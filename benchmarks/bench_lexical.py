"""BM25 alone: latency and agreement with exact BM25 for several `bm25_posting_budget` values.

Past the budget, `SQLiteStore.lexical_search` lets the question's rarest words choose the candidate passages
and scores those on every word (see its docstring), so it can miss passages made of frequent words only. This
measures what that costs and saves on the benchmark knowledge bases that `bench_query` builds: p50/p95 of
`lexical_search` over the demo questions (3 passes after a warm-up), and overlap@10 / overlap@200 with the exact
result (the share of the exact top k that the budgeted search also returns). The last row per size is BM25 from
the in-memory copy of the FTS5 index (`bm25_memory_min_passages`; `--no-memory` leaves it out), with the time the
copy took.

    python -m benchmarks.bench_lexical --sizes 100k,1M --budgets 0,10000,20000,50000
    python -m benchmarks.bench_lexical --kb /tmp/qms/product-137/kb --questions QUERIES.jsonl --budgets 0

`--kb` measures any knowledge base instead (repeatable), with the "query" field of each line of `--questions`.
"same scores" is the share of questions whose k scores equal the exact search's (to 1e-9): where the scores agree
and the overlap does not, the difference is only the order among passages with equal scores.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._metrics import percentile  # noqa: E402
from benchmarks.bench_ingest import DEFAULT_WORK  # noqa: E402
from benchmarks.bench_query import SIZES, load_questions  # noqa: E402
from benchmarks.gen_corpus import print_table  # noqa: E402

DEPTH = 200  # retrieval_depth: what the facade asks lexical_search for
PASSES = 3


def overlap(got: Sequence[tuple[int, float]], exact: Sequence[tuple[int, float]], k: int) -> float:
    """Share of the exact top k found in the first k of `got` (1.0 when the exact search finds nothing)."""
    want = {i for i, _ in exact[:k]}
    return len(want & {i for i, _ in got[:k]}) / len(want) if want else 1.0


def same_scores(got: Sequence[tuple[int, float]], exact: Sequence[tuple[int, float]]) -> bool:
    """True when both return as many passages with the same scores, in order (to 1e-9 relative)."""
    return len(got) == len(exact) and all(math.isclose(a, b, rel_tol=1e-9) for (_, a), (_, b) in zip(got, exact))


def measure(store, questions: Sequence[str], budget: int) -> tuple[list[float], dict[str, list[tuple[int, float]]]]:
    """Wall ms per call over PASSES passes, and the last pass's results."""
    times: list[float] = []
    got: dict[str, list[tuple[int, float]]] = {}
    for _ in range(PASSES):
        for q in questions:
            t0 = time.perf_counter()
            got[q] = store.lexical_search(q, DEPTH, posting_budget=budget)
            times.append(1000 * (time.perf_counter() - t0))
    return times, got


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one table row per size and budget."""
    from index.store import SQLiteStore

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100k,1M", help=f"comma-separated, of {', '.join(SIZES)}")
    ap.add_argument("--budgets", default="0,10000,20000,50000", help="posting budgets to compare (0 = exact)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where bench_query keeps its knowledge bases")
    ap.add_argument("--no-memory", action="store_true", help="leave out the in-memory BM25 row")
    ap.add_argument("--kb", type=Path, action="append", help="a knowledge-base folder to measure instead (repeatable)")
    ap.add_argument("--questions", type=Path, help="with --kb: a JSONL file whose lines have a 'query' field")
    args = ap.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    targets: list[tuple[str, Path]] = []
    if args.kb:
        if args.questions is None:
            raise SystemExit("--kb needs --questions FILE.jsonl (lines with a 'query' field)")
        questions = [json.loads(line)["query"] for line in args.questions.open(encoding="utf-8") if line.strip()]
        targets = [(kb.name if kb.name != "kb" else kb.parent.name, kb) for kb in args.kb]
    else:
        questions = [q for q, _ in load_questions()]
        targets = [(size, args.work / f"kb-query-{SIZES[size]}-s0-synthetic") for size in args.sizes.split(",")]
    rows = []
    for label_kb, kb in targets:
        if not (kb / "mentorkb.sqlite3").is_file():
            raise SystemExit(f"{kb}: no knowledge base. Fix: run `python -m benchmarks.bench_query --sizes {label_kb}`")
        store = SQLiteStore(str(kb / "mentorkb.sqlite3"))
        exact = {q: store.lexical_search(q, DEPTH) for q in questions}
        measure(store, questions[:5], 0)  # warm the page cache
        runs = [("exact" if b == 0 else f"{b:,}", store, b) for b in budgets]
        if not args.no_memory:
            mem_store = SQLiteStore(str(kb / "mentorkb.sqlite3"), memory_bm25_min=1)
            mem_store.warm_bm25(timeout=None)
            runs.append((f"in memory (copied in {mem_store.memory_bm25_build_s:.1f} s)", mem_store, 10_000))
        for label, searcher, budget in runs:
            times, got = measure(searcher, questions, budget)
            rows.append(
                [
                    label_kb,
                    label,
                    f"{percentile(times, 50):.1f}",
                    f"{percentile(times, 95):.1f}",
                    f"{statistics.fmean(overlap(got[q], exact[q], 10) for q in questions):.3f}",
                    f"{statistics.fmean(overlap(got[q], exact[q], DEPTH) for q in questions):.3f}",
                    f"{statistics.fmean(same_scores(got[q], exact[q]) for q in questions):.3f}",
                ]
            )
        for searcher in {id(r[1]): r[1] for r in runs}.values():
            searcher.close()
    print_table(
        f"lexical_search, {len(questions)} questions x {PASSES}, k = {DEPTH}",
        ["passages", "budget", "p50 ms", "p95 ms", "overlap@10", f"overlap@{DEPTH}", "same scores"],
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
