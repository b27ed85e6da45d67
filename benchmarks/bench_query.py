"""Question latency through the KnowledgeBase facade at 10k, 100k and 1M passages, and ANN recall.

For each size a knowledge base is built once under --work and reused:
- sizes up to --real-up-to passages (default 0, i.e. none): generated Markdown notes ingested with the real
  models (spaCy + MiniLM);
- larger sizes: generated notes (JSON Lines) ingested through the same pipeline with the dependency-free topic
  extractor and vectors drawn from `benchmarks._synthetic.embedding_like` (MiniLM-shaped: anisotropic, low-rank,
  clustered), recorded under the real embedder's name so the facade opens it with the real model. The passages,
  sessions, people and BM25 index are real; only the stored vectors are synthetic. The vector index is then
  built the way the facade rebuilds it (exact below `ann_threshold`, IVF above).

With the embedder loaded, the 20 demo questions are asked through `kb.ask` (each as its demo asker, so the
viewer changes from one question to the next, as on a shared app) and `kb.insights`, after a warm-up; the
table gives p50/p95/max and where the time went. Recall@10 compares the facade's index with exact search
(FAISS flat over the same stored vectors) on queries drawn from the same distribution as the stored vectors.

    python -m benchmarks.bench_query --sizes 10k,100k,1M --work /tmp/mentorkb-bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._metrics import percentile  # noqa: E402
from benchmarks._synthetic import embedding_like  # noqa: E402
from benchmarks.bench_ingest import (  # noqa: E402
    DEFAULT_WORK,
    VARIANTS,
    VECTOR_WORLD,
    StageTimer,
    bulk_ingest,
    load_line,
    open_real_kb,
    variant,
)
from benchmarks.gen_corpus import (  # noqa: E402
    DEMO_DIR,
    NOTES_DIR,
    PASSAGES_PER_NOTE,
    ROSTER_FILE,
    ensure_corpus,
    print_table,
)

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
QUESTIONS = DEMO_DIR / "questions.jsonl"
RECALL_QUERIES = 200
RECALL_K = 10
QUERY_SEED = 10_001
BUILT = ".built"
# Every size is bulk-built by default: a real-model ingest of 2,000 notes takes most of an hour on a busy
# 2-core machine, and question latency does not depend on how the stored vectors were made.
REAL_UP_TO = 0


def kb_dir_for(work: Path, passages: int, seed: int, real: bool) -> Path:
    """Where the knowledge base of this size lives."""
    return work / f"kb-query-{passages}-s{seed}-{'real' if real else 'synthetic'}"


def build_real(kb_dir: Path, work: Path, passages: int, seed: int) -> None:
    """Ingest enough generated Markdown notes for ~passages passages with the real models."""
    notes = round(passages / PASSAGES_PER_NOTE)
    corpus = ensure_corpus(work / f"corpus-{notes}-s{seed}", notes, seed=seed)
    kb = open_real_kb(kb_dir)
    try:
        report = kb.ingest([corpus / NOTES_DIR], roster=corpus / ROSTER_FILE)
        if report.rejected:
            raise RuntimeError(f"{len(report.rejected)} notes rejected: {report.rejected[0][1]}")
        kb.index()
    finally:
        kb.close()


def build_synthetic(kb_dir: Path, work: Path, passages: int, seed: int, embedder: Any) -> None:
    """Ingest generated JSON Lines notes with synthetic vectors and the simple topic extractor, then index."""
    notes = round(passages / PASSAGES_PER_NOTE)
    corpus = ensure_corpus(work / f"corpus-{notes}-s{seed}-jsonl", notes, seed=seed, fmt="jsonl")
    bulk_ingest(kb_dir, corpus, embedder, seed=seed)


def ensure_kb(work: Path, passages: int, *, seed: int, real_up_to: int, embedder: Any) -> tuple[Path, float]:
    """(knowledge-base folder, seconds spent building it now: 0 when it was already there)."""
    real = passages <= real_up_to
    kb_dir = kb_dir_for(work, passages, seed, real)
    if (kb_dir / BUILT).exists():
        return kb_dir, 0.0
    shutil.rmtree(kb_dir, ignore_errors=True)
    start = time.perf_counter()
    if real:
        build_real(kb_dir, work, passages, seed)
    else:
        build_synthetic(kb_dir, work, passages, seed, embedder)
    (kb_dir / BUILT).touch()
    return kb_dir, time.perf_counter() - start


def load_questions(path: Path = QUESTIONS) -> list[tuple[str, str | None]]:
    """(question, asker id) pairs of the demo question set."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            out.append((record["question"], record.get("as")))
    return out


@contextmanager
def query_stages(kb: Any, timer: StageTimer) -> Iterator[None]:
    """Time the parts of a question: embed, dense, BM25, spaCy, person stats, store reads, ranking."""
    from mentorkb import service

    with ExitStack() as stack:
        timer.patch(stack, type(kb.embedder), "encode", "embed")
        if hasattr(type(kb.embedder), "encode_query"):  # a question's own path (it may not call encode)
            timer.patch(stack, type(kb.embedder), "encode_query", "embed")
        timer.patch(stack, type(kb.index()), "search", "dense")
        timer.patch(stack, type(kb.store), "lexical_search", "bm25")
        timer.patch(stack, type(kb.extractor), "extract", "spaCy")
        timer.patch(stack, type(kb), "person_stats", "person stats")
        for method in (
            "passages",
            "session",
            "sessions",
            "people",
            "person",
            "find_person",
            "topics",
            "session_passages",
            "vectors_for",
            "generation",
            "kv_get",
        ):
            timer.patch(stack, type(kb.store), method, "store reads")
        timer.patch(stack, type(kb.store), "log_query", "log")
        timer.patch(stack, service, "rank_experts", "rank")
        timer.patch(stack, service, "search_insights", "rank")
        yield


@dataclass
class Latency:
    """Latency figures of one kind of question at one size."""

    kind: str
    samples_ms: list[float]
    cpu_ms: list[float]  # process CPU per question: the machine's other load does not inflate it
    stages: dict[str, float]  # mean CPU ms per question and stage

    def pct(self, q: float, *, cpu: bool = False) -> float:
        """The q-th percentile in ms (nearest-rank), of wall time or of CPU time."""
        return percentile(self.cpu_ms if cpu else self.samples_ms, q)


def measure(kb: Any, questions: Sequence[tuple[str, str | None]], kind: str, *, repeats: int, warmup: int) -> Latency:
    """Ask every question `repeats` times (after `warmup` unrecorded ones); per-question wall ms and stages."""
    viewers = {who: kb.viewer(who) for _, who in questions}

    def one(question: str, who: str | None) -> None:
        if kind == "ask":
            kb.ask(question, viewer=viewers[who], asker=who)
        else:
            kb.insights(question, viewer=viewers[who])

    for question, who in list(questions)[:warmup]:
        one(question, who)
    timer = StageTimer()
    samples, cpu = [], []
    with query_stages(kb, timer):
        for _ in range(repeats):
            for question, who in questions:
                start, cpu_start = time.perf_counter(), time.process_time()
                one(question, who)
                samples.append(1000 * (time.perf_counter() - start))
                cpu.append(1000 * (time.process_time() - cpu_start))
    n = len(samples)
    stages = {k: 1000 * v / n for k, v in timer.cpu.items()}
    stages["other"] = max(0.0, statistics.fmean(cpu) - sum(stages.values()))
    return Latency(kind, samples, cpu, stages)


@dataclass
class Recall:
    """Approximate vs exact top-k over the stored vectors (times are CPU ms per single query)."""

    kind: str
    recall: float
    approx_ms: float
    exact_ms: float


def measure_recall(kb: Any, *, n_queries: int = RECALL_QUERIES, k: int = RECALL_K) -> Recall:
    """Recall@k of the facade's index against FAISS exact search on the same stored vectors (one query at a time)."""
    from index.vectors import NumpyIndex

    index = kb.index()
    kind = getattr(index, "kind", "exact")
    ids, vectors = kb.store.vectors()
    try:
        import faiss

        exact: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        exact.add_with_ids(vectors, ids)
    except ImportError:  # a machine without faiss: the facade runs on NumpyIndex, exact as well
        exact = NumpyIndex(vectors.shape[1])
        exact.add(ids, vectors)
    del vectors
    queries = embedding_like(n_queries, index.dim, seed=QUERY_SEED, world=VECTOR_WORLD)
    hits, approx_s, exact_s = 0, 0.0, 0.0
    for q in queries:
        start = time.process_time()
        _, got = index.search(q[None, :], k)
        approx_s += time.process_time() - start
        start = time.process_time()
        _, truth = exact.search(q[None, :], k)
        exact_s += time.process_time() - start
        hits += len(set(got[0].tolist()) & set(truth[0].tolist()))
    return Recall(kind, hits / (k * n_queries), 1000 * approx_s / n_queries, 1000 * exact_s / n_queries)


def bm25_source(kb: Any) -> str:
    """Make the knowledge base answer BM25 the way a long-running process does (from memory, once copied, where
    the settings say so), and say which it is."""
    warm = getattr(kb.store, "warm_bm25", None)
    if warm is None or not warm(timeout=None):
        return "BM25 from SQLite FTS5"
    mem = kb.store._mem
    return f"BM25 in memory (copied in {kb.store.memory_bm25_build_s:.1f} s, {mem.nbytes / 2**20:.0f} MiB of arrays)"


def _fmt(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}"


def parse_sizes(text: str) -> list[int]:
    """ "10k,100k,1M" (or plain numbers) -> passage counts."""
    out = []
    for part in text.split(","):
        part = part.strip()
        out.append(SIZES[part] if part in SIZES else int(part))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build (or reuse) each size, then measure latency and recall."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10k,100k,1M", help="passage counts: 10k,100k,1M or numbers")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--real-up-to",
        type=int,
        default=REAL_UP_TO,
        help=f"largest size built with the real models (default {REAL_UP_TO}: every size bulk-built)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="passes over the 20 demo questions per kind")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--questions", type=int, default=0, help="use only the first N demo questions (0 = all 20)")
    ap.add_argument("--variant", default="baseline", help=f"a settings variant: {', '.join(VARIANTS)}")
    args = ap.parse_args(argv)
    with variant(args.variant):
        return run(args)


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) each size, then measure latency and recall (inside the chosen variant)."""
    print(f"variant {args.variant}; {load_line()}", flush=True)
    questions = load_questions()[: args.questions or None]
    probe = open_real_kb(args.work / "kb-probe")  # also applies $MENTORKB_BENCH_INDEX_BACKEND
    embedder, extractor = probe.embedder, probe.extractor  # loaded once, shared by every size
    probe.close()
    from mentorkb.service import KnowledgeBase
    from mentorkb.settings import Settings

    for size in parse_sizes(args.sizes):
        kb_dir, build_s = ensure_kb(args.work, size, seed=args.seed, real_up_to=args.real_up_to, embedder=embedder)
        kb = KnowledgeBase(Settings.load(kb_dir), embedder=embedder, extractor=extractor)
        start = time.perf_counter()
        index = kb.index()
        load_s = time.perf_counter() - start
        passages = kb.store.counts()["passages"]
        label = f"{passages:,} ({'real' if size <= args.real_up_to else 'synthetic vectors'})"
        print(f"{label}: {bm25_source(kb)}", flush=True)
        summary, stage_rows = [], []
        for kind in ("ask", "insights"):
            lat = measure(kb, questions, kind, repeats=args.repeats, warmup=args.warmup)
            summary.append(
                [
                    label,
                    kind,
                    getattr(index, "kind", "exact"),
                    _fmt(lat.pct(50)),
                    _fmt(lat.pct(95)),
                    _fmt(max(lat.samples_ms)),
                    _fmt(lat.pct(50, cpu=True)),
                    _fmt(lat.pct(95, cpu=True)),
                    len(lat.samples_ms),
                ]
            )
            stage_rows.append([label, kind] + [_fmt(lat.stages.get(s, 0.0)) for s in QUERY_STAGES])
        print_table(
            f"Question latency, ms ({load_line()})",
            ["passages", "kind", "index", "p50", "p95", "max", "CPU p50", "CPU p95", "n"],
            summary,
        )
        print_table("Where a question's time goes (mean CPU ms)", ["passages", "kind", *QUERY_STAGES], stage_rows)
        rec = measure_recall(kb)
        print_table(
            f"Recall@{RECALL_K} of the facade's index vs exact ({RECALL_QUERIES} queries from the vector distribution)",
            ["passages", "index", "recall", "index CPU ms/query", "exact CPU ms/query", "build s", "open index s"],
            [
                [
                    label,
                    rec.kind,
                    f"{rec.recall:.3f}",
                    _fmt(rec.approx_ms),
                    _fmt(rec.exact_ms),
                    f"{build_s:.0f}" if build_s else "cached",
                    f"{load_s:.1f}",
                ]
            ],
        )
        kb.close()
    return 0


QUERY_STAGES = ("embed", "spaCy", "dense", "bm25", "store reads", "person stats", "rank", "log", "other")

if __name__ == "__main__":
    raise SystemExit(main())
