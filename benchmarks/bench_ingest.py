"""End-to-end ingest speed with the real models, split by stage, on a generated corpus.

Three runs through the KnowledgeBase facade: a fresh ingest of --notes notes, a re-ingest of the same
unchanged folder, and an ingest of --add new notes into the result. Each reports notes/s, passages/s and where
the time went: parse (read + validate + segment), spaCy (topic extraction), topics (canonical ids), embed,
store (SQLite reads and writes), index (FAISS add/remove/save), finalise (the facade's after-write step: topic
table refit, index manifest) and other (the rest of the pipeline's Python). Stage times are exclusive: a
store call made inside the finalise step counts as store, not twice. `--cli` also times the unchanged re-ingest
and the +N ingest as fresh `mentorkb ingest` processes (model loading included), on a copy of the knowledge base.

    python -m benchmarks.bench_ingest --notes 10000 --work /tmp/mentorkb-bench --cli

`--variant sequential` runs the same measurement with `ingest_overlap = false` (embedding not overlapped with
reading and spaCy), the code before the producer/consumer change; see VARIANTS.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._synthetic import embedding_like  # noqa: E402
from benchmarks.gen_corpus import NOTES_DIR, ROSTER_FILE, ensure_corpus, print_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = Path("/tmp/mentorkb-bench")
VECTOR_WORLD = 0  # embedding_like's structure: stored vectors and recall queries share it, with different seeds
STAGES = ("parse", "spaCy", "topics", "embed", "store", "index", "finalise", "other")
STORE_METHODS = (
    "upsert_people",
    "person",
    "find_person",
    "session",
    "session_by_source",
    "sessions",
    "replace_session",
    "remove_session",
    "session_passages",
    "all_passages",
    "vectors",
    "upsert_topics",
    "kv_get",
    "kv_set",
    "generation",
    "counts",
)


class StageTimer:
    """Exclusive wall and CPU time per named stage: time in a nested stage is charged to it, not to its caller.

    CPU time is the whole process's (every thread), so it stays meaningful on a busy machine, where wall time
    mostly measures the other processes: on an idle machine a single-threaded stage takes about its CPU
    seconds of wall time, and torch's embedding about half its CPU seconds on two cores.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._local = threading.local()  # per thread: a stack of [stage, nested wall s, nested CPU s]
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Charge the time inside the block to `name` (stages in other threads overlap, so may sum past wall)."""
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append([name, 0.0, 0.0])
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            _, nested, nested_cpu = stack.pop()
            with self._lock:
                self.seconds[name] += elapsed - nested
                self.cpu[name] += cpu - nested_cpu
                self.calls[name] += 1
            if stack:
                stack[-1][1] += elapsed
                stack[-1][2] += cpu

    def wrap(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        """fn, timed as stage `name`."""

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed

    def patch(self, stack: ExitStack, owner: Any, attr: str, name: str) -> None:
        """Time owner.attr (a class's method or a module's function) as `name` until the stack closes."""
        original = getattr(owner, attr)
        raw = owner.__dict__.get(attr, original) if isinstance(owner, type) else original
        if isinstance(raw, staticmethod | classmethod):
            return  # not needed by any stage; skip rather than re-wrap descriptors
        setattr(owner, attr, self.wrap(raw, name))
        stack.callback(setattr, owner, attr, raw)

    def rows(self, total: float, total_cpu: float) -> list[list[str]]:
        """Table rows (stage, wall s, share, CPU s, calls), with `other` = the run's total minus the timed stages."""
        wall = dict(self.seconds)
        cpu = dict(self.cpu)
        wall["other"] = max(0.0, total - sum(wall.values()))
        cpu["other"] = max(0.0, total_cpu - sum(cpu.values()))
        return [
            [
                s,
                f"{wall.get(s, 0.0):.1f}",
                f"{100 * wall.get(s, 0.0) / total:.0f}%" if total else "-",
                f"{cpu.get(s, 0.0):.1f}",
                str(self.calls.get(s, "")) if s != "other" else "",
            ]
            for s in STAGES
            if s in wall
        ]


@contextmanager
def timed_stages(kb: Any, timer: StageTimer) -> Iterator[None]:
    """Patch the stage boundaries of a facade whose models are loaded, so `timer` sees where ingest spends time."""
    from index import vectors
    from ingest.canon import TopicCanon
    from mentorkb import pipeline

    with ExitStack() as stack:
        timer.patch(stack, pipeline, "read_note", "parse")
        timer.patch(stack, pipeline, "segment", "parse")
        timer.patch(stack, type(kb.extractor), "extract", "spaCy")
        timer.patch(stack, TopicCanon, "canonical", "topics")
        timer.patch(stack, type(kb.embedder), "encode", "embed")
        for method in STORE_METHODS:
            if hasattr(type(kb.store), method):
                timer.patch(stack, type(kb.store), method, "store")
        index_cls = type(kb.index())
        for method in ("add", "remove", "save"):
            timer.patch(stack, index_cls, method, "index")
        timer.patch(stack, vectors, "save_index", "index")
        timer.patch(stack, type(kb), "_after_write", "finalise")
        yield


@dataclass
class RunResult:
    """One timed ingest."""

    label: str
    seconds: float
    cpu_seconds: float
    notes: int
    passages: int
    unchanged: int
    rejected: int
    stages: list[list[str]] = field(default_factory=list)


def timed_ingest(kb: Any, label: str, paths: Sequence[Path], *, roster: Path | None = None) -> RunResult:
    """Ingest paths through the facade with the stage timer on; raises if any file is rejected."""
    timer = StageTimer()
    with timed_stages(kb, timer):
        start, cpu_start = time.perf_counter(), time.process_time()
        report = kb.ingest(list(paths), roster=roster, progress=_progress(label, start))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if report.rejected:
        raise RuntimeError(f"{label}: {len(report.rejected)} files rejected, first: {report.rejected[0][1]}")
    done = len(report.ingested) + len(report.updated)
    return RunResult(label, seconds, cpu, done, report.passages, len(report.unchanged), 0, timer.rows(seconds, cpu))


class StreamEmbedder:
    """Synthetic MiniLM-shaped vectors, batch after batch, under the real embedder's name (for building only)."""

    def __init__(self, name: str, dim: int, precision: str, *, seed: int = 0) -> None:
        self.name, self.dim, self.precision = name, dim, precision
        self._seed = seed
        self._batch = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The next len(texts) vectors of the stream (independent of the texts)."""
        self._batch += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return embedding_like(len(texts), self.dim, seed=self._seed * 1_000_003 + self._batch, world=VECTOR_WORLD)

    def encode_query(self, text: str) -> np.ndarray:
        """One vector of the stream."""
        return self.encode([text])


class NullIndex:
    """Accepts and forgets vectors: while bulk-building, the index is rebuilt from the store afterwards."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def __len__(self) -> int:
        return 0

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Ignore the vectors."""

    def remove(self, ids: np.ndarray) -> None:
        """Nothing to remove."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """No hits."""
        return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)

    def save(self, folder: Path, manifest: dict) -> None:
        """Save nothing, so the next open rebuilds the real index from the stored vectors."""


def bulk_ingest(kb_dir: Path, corpus: Path, embedder: Any, *, seed: int = 0) -> None:
    """Ingest a corpus fast, for benchmarks that need a large knowledge base rather than its ingest time.

    Through the facade's own ingest, with MiniLM-shaped synthetic vectors recorded under the real embedder's
    name and the dependency-free topic extractor; the vector index is not kept up to date while ingesting
    (per-session add/remove on a large flat index is quadratic) but rebuilt once at the end, as the facade
    rebuilds a stale index: exact below `ann_threshold`, IVF above.
    """
    from ingest.topics import SimpleTopicExtractor
    from mentorkb.service import KnowledgeBase
    from mentorkb.settings import Settings

    class BulkKB(KnowledgeBase):
        def index(self) -> Any:
            if self._index is None:
                self._index = NullIndex(self.embedder.dim)
            return self._index

    stream = StreamEmbedder(embedder.name, embedder.dim, embedder.precision, seed=seed)
    kb = BulkKB(Settings.load(kb_dir), embedder=stream, extractor=SimpleTopicExtractor())
    try:
        report = kb.ingest([corpus / NOTES_DIR], roster=corpus / ROSTER_FILE)
        if report.rejected:
            raise RuntimeError(f"{len(report.rejected)} notes rejected: {report.rejected[0][1]}")
    finally:
        kb.close()
    kb = KnowledgeBase(Settings.load(kb_dir), embedder=embedder)
    try:
        kb.index()
    finally:
        kb.close()


def _progress(label: str, start: float, every: int = 1000) -> Callable[[str, int, int], None]:
    """A progress callback printing a line every `every` files (so a run cut short still says how far it got)."""

    def progress(source: str, done: int, total: int) -> None:
        if done % every == 0:
            print(f"  {label}: {done}/{total} files after {time.perf_counter() - start:.0f} s", flush=True)

    return progress


def open_real_kb(kb_dir: Path, *, embedder: Any = None, extractor: Any = None) -> Any:
    """The knowledge base in kb_dir with the configured real models (offline): the given, already loaded
    ones, or loaded on first use."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ[var] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from mentorkb.service import KnowledgeBase

    apply_index_backend()
    return KnowledgeBase.open(kb_dir, embedder=embedder, extractor=extractor)


BACKEND_ENV = "MENTORKB_BENCH_INDEX_BACKEND"


def apply_index_backend() -> None:
    """Honour $MENTORKB_BENCH_INDEX_BACKEND (e.g. numpy on a machine without faiss) as the facade's default."""
    backend = os.environ.get(BACKEND_ENV)
    if backend:
        from mentorkb.service import KnowledgeBase

        KnowledgeBase.__init__.__kwdefaults__["index_backend"] = backend


def load_models(kb: Any) -> dict[str, float]:
    """Load the embedder and the spaCy pipeline; seconds each took."""
    out = {}
    start = time.perf_counter()
    _ = kb.embedder
    out["embedder"] = time.perf_counter() - start
    start = time.perf_counter()
    _ = kb.extractor
    out["spaCy"] = time.perf_counter() - start
    return out


def run_timed(cmd: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall s, CPU s of the child and its children) of one process, which must exit 0."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=REPO, env=env or os.environ, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cli_ingest(kb_dir: Path, paths: Sequence[Path], variant_name: str) -> tuple[float, float]:
    """(wall s, CPU s) of one `mentorkb ingest` process (imports and model loading included), with the variant."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    cmd = [sys.executable, "-m", "benchmarks.bench_ingest", "--as-cli", variant_name, "ingest"]
    return run_timed([*cmd, *map(str, paths), "--kb", str(kb_dir), "--json"], env=env)


def as_cli(variant_name: str, argv: Sequence[str]) -> int:
    """Run the `mentorkb` command line with a variant swapped in (so CLI timings compare like with like)."""
    with variant(variant_name):
        from mentorkb.cli import main as cli_main

        apply_index_backend()

        try:
            cli_main(list(argv))
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


def corpus_paths(work: Path, notes: int, add: int, seed: int) -> tuple[Path, Path]:
    """(main corpus folder, folder of `add` further notes), generated on first use."""
    main = ensure_corpus(work / f"corpus-{notes}-s{seed}", notes, seed=seed)
    extra = ensure_corpus(work / f"add-{add}-s{seed + 1000}", add, seed=seed + 1000, start=notes)
    return main, extra


# -- variants -----------------------------------------------------------------------------------------------
# A variant is the same code with some settings changed (as MENTORKB_* environment variables, so CLI child
# processes see them too): what is measured is main, with the variant's settings.
VARIANTS: dict[str, dict[str, str]] = {
    "baseline": {},
    "sequential": {"MENTORKB_INGEST_OVERLAP": "false"},  # no embedding in the background (before the overlap)
    "fixed-batches": {"MENTORKB_EMBED_BATCH_TOKENS": "0"},  # sentence-transformers' batches of 64 passages
    "sequential-query": {"MENTORKB_QUERY_OVERLAP": "false"},  # a question's BM25 not beside its embedding
    "fts5-bm25": {"MENTORKB_BM25_MEMORY_MIN_PASSAGES": "0"},  # BM25 always from SQLite FTS5, never in memory
    "fp32-vectors": {"MENTORKB_VECTOR_PRECISION": "fp32"},  # the vector index in float32 (before fp16)
}


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Set the variant's settings for the block ("baseline" = the defaults)."""
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    saved = {k: os.environ.get(k) for k in VARIANTS[name]}
    os.environ.update(VARIANTS[name])
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def load_line() -> str:
    """The machine's load average, printed with every table: the figures mean little on a busy machine."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def _rates(r: RunResult) -> list[str]:
    return [
        r.label,
        f"{r.seconds:.1f}",
        f"{r.cpu_seconds:.1f}",
        str(r.notes),
        str(r.unchanged),
        str(r.passages),
        f"{r.notes / r.seconds:.1f}" if r.seconds and r.notes else "-",
        f"{r.passages / r.seconds:.0f}" if r.seconds and r.passages else "-",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: generate (or reuse) the corpus, run the three ingests, print the tables."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--as-cli"]:
        return as_cli(argv[1], argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=10_000, help="notes in the main corpus (default 10000)")
    ap.add_argument("--add", type=int, default=100, help="notes added to the result afterwards (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for corpora and knowledge bases")
    ap.add_argument("--variant", default="baseline", help=f"one of: {', '.join(VARIANTS)}")
    ap.add_argument(
        "--fresh-sample",
        type=int,
        default=0,
        help="time the fresh ingest on this many notes and extrapolate (linear); bulk-build the full one",
    )
    ap.add_argument("--reuse", action="store_true", help="skip the fresh ingest when its knowledge base exists")
    ap.add_argument("--cli", action="store_true", help="also time re-ingest and +N as fresh CLI processes")
    args = ap.parse_args(argv)

    corpus, extra = corpus_paths(args.work, args.notes, args.add, args.seed)
    kb_dir = args.work / f"kb-ingest-{args.notes}-s{args.seed}-{args.variant}"
    snapshot = kb_dir.with_name(kb_dir.name + "-snapshot")
    print(load_line())
    results: list[RunResult] = []

    def report(r: RunResult) -> None:
        results.append(r)
        print_table(
            f"Ingest ({args.variant}; real models; {load_line()})",
            ["run", "wall s", "CPU s", "notes", "unchanged", "passages", "notes/s", "passages/s"],
            [_rates(r)],
        )
        print_table(f"Stages: {r.label}", ["stage", "wall s", "share", "CPU s", "calls"], r.stages)

    with variant(args.variant):
        sample = min(args.fresh_sample or args.notes, args.notes)
        fresh = not (args.reuse and snapshot.exists())
        if fresh:
            shutil.rmtree(kb_dir, ignore_errors=True)
            shutil.rmtree(snapshot, ignore_errors=True)
        elif kb_dir.exists():
            shutil.rmtree(kb_dir)
            shutil.copytree(snapshot, kb_dir)
        kb = open_real_kb(kb_dir)
        loads = load_models(kb)
        print(
            f"models loaded: embedder {loads['embedder']:.1f} s ({kb.embedder.precision}), "
            f"spaCy {loads['spaCy']:.1f} s",
            flush=True,
        )
        if fresh and sample == args.notes:
            report(timed_ingest(kb, f"fresh {args.notes}", [corpus / NOTES_DIR], roster=corpus / ROSTER_FILE))
        elif fresh:
            # The fresh ingest is timed on a sample (it is linear in the notes); the full-size knowledge base
            # for the re-ingest and +N runs is bulk-built (synthetic vectors, simple topics) from the same files.
            sample_corpus = ensure_corpus(args.work / f"corpus-{sample}-s{args.seed}", sample, seed=args.seed)
            sample_dir = kb_dir.with_name(kb_dir.name + f"-sample{sample}")
            shutil.rmtree(sample_dir, ignore_errors=True)
            sample_kb = open_real_kb(sample_dir, embedder=kb.embedder, extractor=kb.extractor)
            r = timed_ingest(
                sample_kb, f"fresh {sample}", [sample_corpus / NOTES_DIR], roster=sample_corpus / ROSTER_FILE
            )
            sample_kb.close()
            report(r)
            scale = args.notes / sample
            print(
                f"fresh {args.notes} extrapolated from {sample}: {r.seconds * scale:.0f} s wall, "
                f"{r.cpu_seconds * scale:.0f} s CPU",
                flush=True,
            )
            kb.close()
            bulk = args.work / f"kb-bulk-{args.notes}-s{args.seed}"  # shared by every variant: it is only input
            if not (bulk / ".built").exists():
                shutil.rmtree(bulk, ignore_errors=True)
                start = time.perf_counter()
                bulk_ingest(bulk, corpus, kb.embedder, seed=args.seed)
                (bulk / ".built").touch()
                print(f"bulk-built the {args.notes}-note knowledge base in {time.perf_counter() - start:.0f} s")
            shutil.rmtree(kb_dir, ignore_errors=True)
            shutil.copytree(bulk, kb_dir)
            kb = open_real_kb(kb_dir, embedder=kb.embedder, extractor=kb.extractor)
        if fresh:
            shutil.copytree(kb_dir, snapshot)
        report(timed_ingest(kb, "re-ingest unchanged", [corpus / NOTES_DIR]))
        report(timed_ingest(kb, f"+{args.add} notes", [extra / NOTES_DIR]))
        kb.close()
    print(f"peak RSS of this process: {peak_rss_mib():.0f} MiB", flush=True)
    if args.cli:
        rows = []
        for label, paths in (
            ("re-ingest unchanged", [corpus / NOTES_DIR]),
            (f"+{args.add} notes", [extra / NOTES_DIR]),
        ):
            copy = kb_dir.with_name(kb_dir.name + "-cli")
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(snapshot, copy)
            wall, cpu = cli_ingest(copy, paths, args.variant)
            rows.append([label, f"{wall:.1f}", f"{cpu:.1f}"])
            shutil.rmtree(copy, ignore_errors=True)
        print_table(
            f"As `mentorkb ingest` processes ({args.variant}; cold start, models loaded inside)",
            ["run", "wall s", "CPU s"],
            rows,
        )
    return 0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
