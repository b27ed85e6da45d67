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
    # Query side: read every session and its topics in two queries (not two per session) and keep per-person
    # statistics per viewer and topic labels per store generation, instead of recomputing them on every question.
    "query-fast": '''\
--- a/index/store.py
+++ b/index/store.py
@@ -72,6 +72,10 @@
     PRIMARY KEY (namespace, key));
 """

+_SESSION_COLUMNS_NO_TEXT = (
+    "id, date, title, type, visibility, tags, source, content_hash, '' AS text, first_line, is_transcript, ingested_at"
+)
+
 # English words that carry no topical weight; kept out of FTS queries so "how do I ..." does not match everything.
 _STOP = frozenset(
     [
@@ -248,7 +252,8 @@
     def find_person(self, ref: str) -> Person | None: ...
     def session(self, session_id: str) -> Session | None: ...
     def session_by_source(self, source: str) -> Session | None: ...
-    def sessions(self) -> list[Session]: ...
+    def sessions(self, *, with_text: bool = True) -> list[Session]: ...
+    def session_topics(self) -> dict[str, set[str]]: ...
     def replace_session(
         self, session: Session, passages: Sequence[Passage], vectors: np.ndarray | None,
         search_texts: Sequence[str] | None = None,
@@ -407,12 +412,13 @@
         return None

     # -- sessions -----------------------------------------------------------------------------------------------
-    def _session(self, row: sqlite3.Row) -> Session:
-        roles: dict[str, list[str]] = {"mentor": [], "mentee": [], "participant": []}
-        for r in self._db.execute(
-            "SELECT person_id, role FROM session_people WHERE session_id=? ORDER BY position", (row["id"],)
-        ):
-            roles[r["role"]].append(r["person_id"])
+    def _session(self, row: sqlite3.Row, roles: dict[str, list[str]] | None = None) -> Session:
+        if roles is None:
+            roles = {"mentor": [], "mentee": [], "participant": []}
+            for r in self._db.execute(
+                "SELECT person_id, role FROM session_people WHERE session_id=? ORDER BY position", (row["id"],)
+            ):
+                roles[r["role"]].append(r["person_id"])
         return Session(
             id=row["id"],
             date=date.fromisoformat(row["date"]),
@@ -440,9 +446,27 @@
         row = self._db.execute("SELECT * FROM sessions WHERE source=?", (source,)).fetchone()
         return self._session(row) if row else None

-    def sessions(self) -> list[Session]:
-        """All sessions, newest first."""
-        return [self._session(r) for r in self._db.execute("SELECT * FROM sessions ORDER BY date DESC, id")]
+    def sessions(self, *, with_text: bool = True) -> list[Session]:
+        """All sessions, newest first, in two queries (with_text=False leaves `text` empty: statistics need none)."""
+        roles: dict[str, dict[str, list[str]]] = {}
+        for sid, pid, role in self._db.execute(
+            "SELECT session_id, person_id, role FROM session_people ORDER BY session_id, position"
+        ):
+            roles.setdefault(sid, {"mentor": [], "mentee": [], "participant": []})[role].append(pid)
+        cols = "*" if with_text else _SESSION_COLUMNS_NO_TEXT
+        return [
+            self._session(r, roles.get(r["id"], {"mentor": [], "mentee": [], "participant": []}))
+            for r in self._db.execute(f"SELECT {cols} FROM sessions ORDER BY date DESC, id")
+        ]
+
+    def session_topics(self) -> dict[str, set[str]]:
+        """Every session's passage topics, in one query (per-person statistics need them for all sessions)."""
+        out: dict[str, set[str]] = {}
+        for sid, topic in self._db.execute(
+            "SELECT DISTINCT passages.session_id, j.value FROM passages, json_each(passages.topics) AS j"
+        ):
+            out.setdefault(sid, set()).add(topic)
+        return out

     def replace_session(
         self,
--- a/mentorkb/service.py
+++ b/mentorkb/service.py
@@ -375,7 +375,12 @@
         return self._labels().get(topic_id, topic_id)

     def _labels(self) -> dict[str, str]:
-        return {t.id: t.label for t in self.store.topics()}
+        # Read once per store generation: at 1M passages the topic table has tens of thousands of rows.
+        gen = self.store.generation()
+        cached = getattr(self, "_labels_cache", None)
+        if cached is None or cached[0] != gen:
+            cached = self._labels_cache = (gen, {t.id: t.label for t in self.store.topics()})
+        return cached[1]

     def question_topics(self, question: str) -> list[str]:
         """Canonical topics mentioned in a question."""
@@ -410,20 +415,30 @@

     def person_stats(self, viewer: Viewer) -> dict[str, PersonStats]:
         """Per-person activity over the sessions the viewer may know (topics only from readable ones)."""
-        key = (self.store.generation(), viewer)
-        cache = getattr(self, "_pstats", {})
-        if key in cache:
-            return cache[key]
+        gen = self.store.generation()
+        if getattr(self, "_pstats_gen", None) != gen:
+            # Sessions and their topics are read in two queries once per generation, not once per viewer
+            # (and not one query per session): on a shared app each asker is a new viewer.
+            self._pstats_gen, self._pstats, self._session_facts = gen, {}, None
+        if viewer in self._pstats:
+            return self._pstats[viewer]
+        if self._session_facts is None:
+            canon = self._canon_cache()
+            ids: dict[str, str] = {}
+            topics_of = self.store.session_topics()
+            facts = []
+            for s in self.store.sessions(with_text=False):
+                raw = topics_of.get(s.id, set()) | set(s.tags)
+                topics = {ids[t] if t in ids else ids.setdefault(t, canon.canonical(t)) for t in raw}
+                topics.discard("")
+                facts.append((s, topics))
+            self._session_facts = facts
         stats: dict[str, PersonStats] = defaultdict(PersonStats)
         today = date.today()
-        for s in access.known(self.store.sessions(), viewer):
-            readable = access.can_read_text(s, viewer)
-            topics = set()
-            if readable:
-                canon = self._canon_cache()
-                topics = {canon.canonical(t) for p in self.store.session_passages(s.id) for t in p.topics}
-                topics |= {canon.canonical(t) for t in s.tags}
-                topics.discard("")
+        for s, session_topics in self._session_facts:
+            if not access.can_know_exists(s, viewer):
+                continue
+            topics = session_topics if access.can_read_text(s, viewer) else set()
             teachers = s.mentors or s.participants
             for pid in teachers:
                 st = stats[pid]
@@ -436,8 +451,10 @@
                 st = stats[pid]
                 st.learned_topics |= topics
                 st.last_active = max(st.last_active or s.date, s.date)
-        self._pstats = {key: dict(stats)}
-        return self._pstats[key]
+        if len(self._pstats) >= 64:  # a few dozen recent askers; each entry is one dict per person
+            self._pstats.pop(next(iter(self._pstats)))
+        self._pstats[viewer] = dict(stats)
+        return self._pstats[viewer]

     def weights(self) -> RankWeights:
         """Ranking weights from settings (possibly calibrated by `mentorkb calibrate`)."""
''',
}
VARIANTS: dict[str, tuple[str, ...]] = {
    "baseline": (),
    "unchanged-fast": ("unchanged-fast",),
    "overlap": ("unchanged-fast", "overlap"),
    "query-fast": ("query-fast",),
}
PATCHED_MODULES = ("index/store.py", "mentorkb/pipeline.py", "mentorkb/service.py")  # in import order


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
    import importlib
    import importlib.util

    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    if not VARIANTS[name]:
        yield
        return
    sources = patched_sources(VARIANTS[name])
    names = [rel.removesuffix(".py").replace("/", ".") for rel in PATCHED_MODULES]
    for modname in names:
        importlib.import_module(modname)  # the originals first, so they can be put back
    saved = {m: sys.modules[m] for m in names}
    try:
        for rel, modname in zip(PATCHED_MODULES, names):  # in import order: each sees the patched ones before it
            spec = importlib.util.spec_from_loader(modname, loader=None, origin=str(REPO / rel))
            module = importlib.util.module_from_spec(spec)
            module.__file__ = str(REPO / rel)
            sys.modules[modname] = module
            package, _, attr = modname.rpartition(".")
            setattr(sys.modules[package], attr, module)
            exec(compile(sources[rel], f"{REPO / rel} ({name})", "exec"), module.__dict__)  # noqa: S102
        yield
    finally:
        for modname, module in saved.items():
            sys.modules[modname] = module
            package, _, attr = modname.rpartition(".")
            setattr(sys.modules[package], attr, module)


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
            start = time.perf_counter()
            bulk_ingest(kb_dir, corpus, kb.embedder, seed=args.seed)
            print(f"bulk-built the {args.notes}-note knowledge base in {time.perf_counter() - start:.0f} s", flush=True)
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
