"""End-to-end ingest speed with the real models, split by stage, on a generated corpus.

Three runs through the KnowledgeBase facade: a fresh ingest of --notes notes, a re-ingest of the same
unchanged folder, and an ingest of --add new notes into the result. Each reports notes/s, passages/s and where
the time went: parse (read + validate + segment), spaCy (topic extraction), topics (canonical ids), embed,
store (SQLite reads and writes), index (FAISS add/remove/save), finalise (the facade's after-write step: topic
table refit, index manifest) and other (the rest of the pipeline's Python). Stage times are exclusive: a
store call made inside the finalise step counts as store, not twice. `--cli` also times the unchanged re-ingest
and the +N ingest as fresh `mentorkb ingest` processes (model loading included), on a copy of the knowledge base.

    python -m benchmarks.bench_ingest --notes 10000 --work /tmp/mentorkb-bench --cli

`--variant` runs the same measurement with an experimental change patched in (see VARIANTS); the patch
itself is printed with `--show-patch VARIANT`.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.gen_corpus import NOTES_DIR, ROSTER_FILE, ensure_corpus, print_table  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = Path("/tmp/mentorkb-bench")
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


def _progress(label: str, start: float, every: int = 1000) -> Callable[[str, int, int], None]:
    """A progress callback printing a line every `every` files (so a run cut short still says how far it got)."""

    def progress(source: str, done: int, total: int) -> None:
        if done % every == 0:
            print(f"  {label}: {done}/{total} files after {time.perf_counter() - start:.0f} s", flush=True)

    return progress


def open_real_kb(kb_dir: Path, **overrides: Any) -> Any:
    """The knowledge base in kb_dir with the configured real models (offline), models not loaded yet."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ[var] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from mentorkb.service import KnowledgeBase

    apply_index_backend()
    return KnowledgeBase.open(kb_dir, settings_overrides=overrides)


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


# -- experimental variants -------------------------------------------------------------------------------------
# Each patch is a unified diff against the repository (apply with `patch -p1`); a variant applies some of them,
# in order, to copies of the modules and runs the benchmark on those copies, so what is measured is exactly the
# printed diff. `--show-patch NAME` prints one.
PATCHES: dict[str, str] = {
    # Skip unchanged files by content hash before parsing them; skip the after-write step when nothing changed;
    # load the models and the vector index only when a file actually needs them.
    "unchanged-fast": '''\
--- a/mentorkb/pipeline.py
+++ b/mentorkb/pipeline.py
@@ -295,6 +295,14 @@
     return named[0] if len(named) == 1 else None


+def _unchanged_session(src: SourceFile, store: Store) -> str | None:
+    """Id of the session stored from exactly these bytes, so an unchanged file is skipped before parsing."""
+    existing = store.session_by_source(src.source)
+    if existing is not None and existing.content_hash == hashlib.sha256(src.data).hexdigest():
+        return existing.id
+    return None
+
+
 def _name_parts(p: Person) -> set[str]:
     parts = {p.name.lower(), p.id.lower()}
     parts.update(w.lower() for w in p.name.split() if len(w) > 1)
@@ -341,6 +349,8 @@
     for done, item in enumerate(files, start=1):
         if isinstance(item, tuple):
             report.rejected.append(item)
+        elif (known := _unchanged_session(item, comps.store)) is not None:
+            report.unchanged.append(known)
         else:
             try:
                 notes = read_note(
--- a/mentorkb/service.py
+++ b/mentorkb/service.py
@@ -10,7 +10,7 @@
 import logging
 import shutil
 from collections import defaultdict
-from collections.abc import Iterable, Iterator, Mapping, Sequence
+from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
 from dataclasses import asdict, dataclass, field
 from datetime import date
 from pathlib import Path
@@ -240,24 +240,29 @@
             report = IngestReport()
             if roster is not None:
                 pipeline.load_roster(self._components(), Path(roster), report)
-            self._check_embedder()
             comps = self._components()
             pipeline.ingest_files(files, comps, defaults=defaults, progress=progress, total=total, report=report)
-            self._after_write(comps)
+            if report.ingested or report.updated:
+                self._after_write(comps)
             return report
         finally:
             lock.release()

     def _components(self) -> pipeline.Components:
+        # Models and the vector index load on first use: an ingest of unchanged files loads none of them.
         return pipeline.Components(
             store=self.store,
-            embedder=self.embedder,
-            extractor=self.extractor,
+            embedder=_Lazy(self._checked_embedder),
+            extractor=_Lazy(lambda: self.extractor),
             canon=self._canon_cache(),
-            index=self.index(),
+            index=_Lazy(self.index),
             settings=self.settings,
         )

+    def _checked_embedder(self) -> Embedder:
+        self._check_embedder()  # before the first vector is made, so a mismatch never reaches the store
+        return self.embedder
+
     def _canon_cache(self) -> TopicCanon:
         if getattr(self, "_canon", None) is None:
             self._canon = self.canon()
@@ -614,6 +619,25 @@
         return len(lines)


+class _Lazy:
+    """Stands in for a component and loads it on first attribute access (or len())."""
+
+    def __init__(self, load: Callable[[], Any]) -> None:
+        self._load = load
+        self._target: Any = None
+
+    def _get(self) -> Any:
+        if self._target is None:
+            self._target = self._load()
+        return self._target
+
+    def __getattr__(self, name: str) -> Any:
+        return getattr(self._get(), name)
+
+    def __len__(self) -> int:
+        return len(self._get())
+
+
 def _without_text(s: Session) -> Session:
     return _replace_text(s, "")

''',
    # Embed batch k in a worker thread while batch k+1 is read, segmented and run through spaCy (on top of
    # unchanged-fast); the store and the index are still written from the calling thread, in order.
    "overlap": '''\
--- a/mentorkb/pipeline.py
+++ b/mentorkb/pipeline.py
@@ -11,6 +11,7 @@
 import re
 import time
 from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
+from concurrent.futures import Future, ThreadPoolExecutor
 from dataclasses import dataclass, field, replace
 from pathlib import Path
 from typing import Any
@@ -309,13 +310,9 @@
     return parts


-def _flush(buffer: list[_Prepared], comps: Components, report: IngestReport) -> None:
-    if not buffer:
-        return
-    texts = [t for item in buffer for t in item.texts]
-    vectors = comps.embedder.encode(texts) if texts else np.zeros((0, comps.embedder.dim), np.float32)
+def _write(batch: list[_Prepared], vectors: np.ndarray, comps: Components, report: IngestReport) -> None:
     offset = 0
-    for item in buffer:
+    for item in batch:
         n = len(item.passages)
         vecs = vectors[offset : offset + n]
         offset += n
@@ -327,7 +324,33 @@
             comps.index.add(np.asarray(ids, dtype=np.int64), vecs)
         report.passages += n
         (report.updated if item.replaces else report.ingested).append(item.session.id)
-    buffer.clear()
+
+
+class _Batches:
+    """Embeds one batch in a worker thread while the caller prepares the next; writes happen in the caller.
+
+    torch releases the GIL while it computes, so on a small machine the embedding of batch k overlaps
+    reading, segmenting and spaCy of batch k+1. The store and the index are only touched from the calling
+    thread, in batch order, so transactions never interleave.
+    """
+
+    def __init__(self, comps: Components, report: IngestReport, pool: ThreadPoolExecutor) -> None:
+        self.comps, self.report, self.pool = comps, report, pool
+        self.pending: tuple[list[_Prepared], Future[np.ndarray]] | None = None
+
+    def submit(self, batch: list[_Prepared]) -> None:
+        """Write the batch submitted before (waiting for its vectors), then start embedding this one."""
+        self.drain()
+        if batch:
+            texts = [t for item in batch for t in item.texts]
+            self.pending = (batch, self.pool.submit(self.comps.embedder.encode, texts))
+
+    def drain(self) -> None:
+        """Write the batch being embedded, if any."""
+        if self.pending is not None:
+            batch, vectors = self.pending
+            self.pending = None
+            _write(batch, vectors.result(), self.comps, self.report)


 def ingest_files(
@@ -344,6 +367,24 @@
     started = time.perf_counter()
     people = _People(comps.store, report)
     batch_ids: dict[str, str] = {}
+    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mentorkb-embed") as pool:
+        batches = _Batches(comps, report, pool)
+        _ingest_loop(files, comps, defaults, progress, total, report, people, batch_ids, batches)
+    report.seconds = time.perf_counter() - started
+    return report
+
+
+def _ingest_loop(
+    files: Iterable[SourceFile | tuple[str, str]],
+    comps: Components,
+    defaults: Mapping[str, Any] | None,
+    progress: Progress | None,
+    total: int,
+    report: IngestReport,
+    people: _People,
+    batch_ids: dict[str, str],
+    batches: _Batches,
+) -> None:
     buffer: list[_Prepared] = []
     buffered = 0
     for done, item in enumerate(files, start=1):
@@ -363,13 +404,12 @@
                 buffer.extend(prepared)
                 buffered += sum(len(p.passages) for p in prepared)
                 if buffered >= 256:
-                    _flush(buffer, comps, report)
-                    buffered = 0
+                    batches.submit(buffer)
+                    buffer, buffered = [], 0
         if progress:
             progress(item[0] if isinstance(item, tuple) else item.source, done, total)
-    _flush(buffer, comps, report)
-    report.seconds = time.perf_counter() - started
-    return report
+    batches.submit(buffer)
+    batches.drain()


 def count_files(paths: Sequence[Path | str]) -> int:
''',
}
VARIANTS: dict[str, tuple[str, ...]] = {
    "baseline": (),
    "unchanged-fast": ("unchanged-fast",),
    "overlap": ("unchanged-fast", "overlap"),
}
PATCHED_MODULES = ("mentorkb/pipeline.py", "mentorkb/service.py")


def patch_text(name: str) -> str:
    """A patch as `patch -p1` / `git apply` read it (blank context lines are stored without their space)."""
    return "".join(" \n" if line == "\n" else line for line in PATCHES[name].splitlines(keepends=True))


def patched_sources(patches: Sequence[str]) -> dict[str, str]:
    """Source text of each patched module after applying the named patches in order (SystemExit if one fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel in PATCHED_MODULES:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / rel, root / rel)
        for name in patches:
            proc = subprocess.run(
                ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-d", str(root)],
                input=patch_text(name),
                text=True,
                capture_output=True,
            )
            if proc.returncode != 0:
                raise SystemExit(
                    f"patch {name!r} no longer applies to {', '.join(PATCHED_MODULES)} "
                    f"(they changed since it was written):\n{proc.stdout}{proc.stderr}"
                )
        return {rel: (root / rel).read_text(encoding="utf-8") for rel in PATCHED_MODULES}


@contextmanager
def variant(name: str) -> Iterator[None]:
    """Swap in patched copies of mentorkb.pipeline and mentorkb.service for the block ("baseline" = none)."""
    import importlib.util

    import mentorkb

    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    if not VARIANTS[name]:
        yield
        return
    sources = patched_sources(VARIANTS[name])
    saved = {m: sys.modules.get(m) for m in ("mentorkb.pipeline", "mentorkb.service")}
    try:
        for rel, source in sources.items():  # pipeline first: the patched service imports it
            modname = rel.removesuffix(".py").replace("/", ".")
            spec = importlib.util.spec_from_loader(modname, loader=None, origin=str(REPO / rel))
            module = importlib.util.module_from_spec(spec)
            module.__file__ = str(REPO / rel)
            sys.modules[modname] = module
            setattr(mentorkb, modname.split(".")[1], module)
            exec(compile(source, f"{REPO / rel} ({name})", "exec"), module.__dict__)  # noqa: S102
        yield
    finally:
        for modname, module in saved.items():
            if module is None:
                sys.modules.pop(modname, None)
            else:
                sys.modules[modname] = module
                setattr(mentorkb, modname.split(".")[1], module)


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
    ap.add_argument("--reuse", action="store_true", help="skip the fresh ingest when its knowledge base exists")
    ap.add_argument("--cli", action="store_true", help="also time re-ingest and +N as fresh CLI processes")
    ap.add_argument("--show-patch", choices=sorted(PATCHES), help="print one patch (a unified diff) and exit")
    args = ap.parse_args(argv)
    if args.show_patch:
        print(patch_text(args.show_patch), end="")
        return 0

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
        if fresh:
            report(timed_ingest(kb, f"fresh {args.notes}", [corpus / NOTES_DIR], roster=corpus / ROSTER_FILE))
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
