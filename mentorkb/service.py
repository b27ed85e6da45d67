"""The KnowledgeBase facade: the one API the CLI, the Streamlit app and the benchmarks call.

It owns the components (store, embedder, topic extractor, vector index), keeps the vector index in step
with the store, and applies the visibility rules (recommend.access) to everything it returns.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from index.embedder import Embedder
from index.store import DB_NAME, SQLiteStore, Store
from index.vectors import INDEX_SCHEMA_VERSION, VectorIndex
from ingest.canon import TopicCanon
from ingest.topics import TopicExtractor
from mentorkb import pipeline
from mentorkb.errors import IndexMismatchError, LockedError, UnknownPersonError, UnknownSessionError
from mentorkb.settings import Settings
from models import (
    IngestReport,
    Insight,
    Passage,
    Person,
    Recommendation,
    Role,
    Session,
    Viewer,
    Visibility,
)
from recommend import access
from recommend.experts import (
    PersonStats,
    RankWeights,
    add_session,
    add_topics,
    build_stats,
    rank_experts,
    stats_for_participant,
)
from recommend.insights import InsightFilters, search_insights
from recommend.retrieval import Hit, rrf

log = logging.getLogger("mentorkb.service")

INDEX_DIR = "index"
LOCK_NAME = ".write.lock"
_PSTATS_VIEWERS = 64  # per-person statistics kept for this many recent viewers
_T = TypeVar("_T")


@dataclass
class PersonProfile:
    """A person as one viewer may see them."""

    person: Person
    taught_topics: list[tuple[str, int]] = field(default_factory=list)  # (topic label, sessions)
    learned_topics: list[tuple[str, int]] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    mentored: list[str] = field(default_factory=list)  # person ids they taught
    mentored_by: list[str] = field(default_factory=list)
    directions: dict[str, int] = field(default_factory=dict)  # top-down / bottom-up / peer counts


class KnowledgeBase:
    """A mentorkb knowledge base folder, opened for reading and (with a lock) writing."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        extractor: TopicExtractor | None = None,
        index_backend: str = "faiss",
    ) -> None:
        self.settings = settings
        self.kb_dir = Path(settings.kb_dir)
        self.store: Store = store or SQLiteStore(
            self.kb_dir / DB_NAME, memory_bm25_min=self.settings.bm25_memory_min_passages
        )
        self._embedder = embedder
        self._extractor = extractor
        self._index: VectorIndex | None = None
        self._index_generation = -1
        self._index_backend = index_backend
        self._memo: dict[str, tuple[int, Any]] = {}  # name -> (version it was built for, value); see _cached
        self._pstats_gen = -1  # person_stats: the generation its caches belong to
        self._pstats: dict[Viewer, dict[str, PersonStats]] = {}
        self._pstats_anyone: tuple[dict[str, PersonStats], dict[str, set[str]]] | None = None
        self._writer_lock: Any = None  # the FileLock while this object is writing
        self._pool: ThreadPoolExecutor | None = None  # see _background
        self._pool_lock = threading.Lock()

    @classmethod
    def open(cls, kb_dir: Path | str | None = None, **kwargs: Any) -> KnowledgeBase:
        """Open (creating if needed) the knowledge base in kb_dir, with settings from its folder and environment."""
        overrides = kwargs.pop("settings_overrides", {}) or {}
        return cls(Settings.load(kb_dir, **overrides), **kwargs)

    def close(self) -> None:
        """Release the database connection (after any search still running in the background)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.store.close()

    def _background(self) -> ThreadPoolExecutor:
        """Threads for work that overlaps a question's embedding (its BM25 search), started on first use."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mentorkb-query")
            return self._pool

    # -- components (loaded lazily: listing people must not load torch) ------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The sentence embedder, loaded on first use."""
        if self._embedder is None:
            from mentorkb.components import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def extractor(self) -> TopicExtractor:
        """The topic extractor, loaded on first use."""
        if self._extractor is None:
            from mentorkb.components import make_extractor

            self._extractor = make_extractor(self.settings)
        return self._extractor

    def canon(self) -> TopicCanon:
        """The canonical-topic table saved in the store."""
        raw = self.store.kv_get("topics", "canon")
        embed = self._embed_phrases  # merges close variants by meaning; the model loads only when a fit needs it
        return TopicCanon.from_json(raw, embed=embed) if raw else TopicCanon(embed=embed)

    def _embed_phrases(self, phrases: Sequence[str]) -> np.ndarray:
        return self.embedder.encode(phrases)

    def _manifest(self, count: int) -> dict:
        e = self.embedder
        return {
            "schema_version": INDEX_SCHEMA_VERSION,
            "embedder": e.name,
            "dim": e.dim,
            "precision": e.precision,
            "count": count,
            "generation": self.store.generation(),
        }

    def _check_embedder(self) -> None:
        stored = self.store.kv_get("index", "embedder")
        if stored and stored != self.embedder.name:
            raise IndexMismatchError(
                f"stored vectors were made by '{stored}' but the configured embedder is '{self.embedder.name}'",
                source=str(self.kb_dir),
                fix="run `mentorkb reindex` to re-embed with the configured model",
            )

    def index(self) -> VectorIndex:
        """The vector index, in step with the store (rebuilt from stored vectors when stale)."""
        from index.vectors import load_index, outgrown

        gen = self.store.generation()
        if self._index is not None and self._index_generation == gen:
            return self._index
        self._check_embedder()
        folder = self.kb_dir / INDEX_DIR
        expect = {"embedder": self.embedder.name, "dim": self.embedder.dim, "schema_version": INDEX_SCHEMA_VERSION}
        if (folder / "manifest.json").exists():
            idx, manifest = load_index(folder, expect=expect)
            held = manifest.get("vectors", "fp32") if manifest.get("backend") == "faiss" else None
            fresh = manifest.get("generation") == gen and held in (None, self.settings.vector_precision)
            if fresh and not outgrown(idx, self.settings.ann_threshold):
                self._tune(idx)
                self._index, self._index_generation = idx, gen
                return idx
            log.info(
                "vector index is at generation %s (%s vectors, %s kind, %s held), store at %s (%s wanted): "
                "rebuilding from stored vectors",
                manifest.get("generation"),
                manifest.get("count"),
                manifest.get("kind"),
                held,
                gen,
                self.settings.vector_precision,
            )
            del idx
        return self._rebuild_index()

    def _tune(self, idx: VectorIndex) -> None:
        """Search settings apply to a saved index as well as to a rebuilt one."""
        if hasattr(idx, "probe_vectors"):
            idx.nprobe, idx.probe_vectors = self.settings.ivf_nprobe, self.settings.ivf_probe_vectors

    def _rebuild_index(self) -> VectorIndex:
        from index.vectors import build_index

        gen = self.store.generation()  # before reading the vectors: a later write must make this index stale
        ids, vecs = self.store.vectors()
        dim = self.embedder.dim
        if len(ids) and vecs.shape[1] != dim:
            raise IndexMismatchError(
                f"stored vectors have dimension {vecs.shape[1]}, the embedder {dim}",
                source=str(self.kb_dir),
                fix="run `mentorkb reindex`",
            )
        idx = build_index(
            ids,
            vecs if len(ids) else np.zeros((0, dim), np.float32),
            dim=dim,
            ann_threshold=self.settings.ann_threshold,
            nprobe=self.settings.ivf_nprobe,
            probe_vectors=self.settings.ivf_probe_vectors,
            backend=self._index_backend,
            precision=self.settings.vector_precision,
        )
        self._save_rebuilt(idx, gen)
        self._index, self._index_generation = idx, gen
        return idx

    def _save_rebuilt(self, idx: VectorIndex, gen: int) -> None:
        """Save a rebuilt index, unless another process is writing: two savers could pair one's index file
        with the other's manifest. Then the rebuilt index serves this process from memory only."""
        from filelock import FileLock, Timeout

        from index.vectors import save_index

        lock = None
        if self._writer_lock is None:
            lock = FileLock(str(self.kb_dir / LOCK_NAME), timeout=0)
            try:
                lock.acquire()
            except Timeout:
                return
        try:
            if self.store.generation() == gen:
                save_index(idx, self.kb_dir / INDEX_DIR, self._manifest(len(idx)) | {"generation": gen})
        finally:
            if lock is not None:
                lock.release()

    def _lock(self):  # noqa: ANN202 - filelock's type
        from filelock import FileLock, Timeout

        self.kb_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.kb_dir / LOCK_NAME), timeout=self.settings.lock_timeout_s)
        try:
            lock.acquire()
            self._writer_lock = lock
        except Timeout as exc:
            raise LockedError(
                "another mentorkb process is writing to this knowledge base",
                source=str(self.kb_dir),
                fix="wait for the other ingest to finish, then run this command again",
            ) from exc
        return lock

    # -- writing -----------------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        roster: Path | str | None = None,
        defaults: Mapping[str, Any] | None = None,
        progress: pipeline.Progress | None = None,
    ) -> IngestReport:
        """Ingest files and folders; returns what was ingested, updated, unchanged and rejected."""
        files = pipeline.collect_files(paths, max_bytes=self.settings.max_file_bytes)
        return self._ingest(
            files, roster=roster, defaults=defaults, progress=progress, total=pipeline.count_files(paths)
        )

    def ingest_bytes(self, name: str, data: bytes, *, defaults: Mapping[str, Any] | None = None) -> IngestReport:
        """Ingest one uploaded file (the name is reduced to its base name: no paths from uploads)."""
        safe = Path(name.replace("\\", "/")).name or "upload.md"
        if len(data) > self.settings.max_file_bytes:
            return IngestReport(
                rejected=[
                    (
                        safe,
                        f"{safe}: file is {len(data):,} bytes, over the limit of "
                        f"{self.settings.max_file_bytes:,}. Fix: split the file.",
                    )
                ]
            )
        return self._ingest([pipeline.SourceFile(f"uploads/{safe}", data, None)], defaults=defaults, total=1)

    def _ingest(
        self,
        files: Iterable[pipeline.SourceFile | tuple[str, str]],
        *,
        roster: Path | str | None = None,
        defaults: Mapping[str, Any] | None = None,
        progress: pipeline.Progress | None = None,
        total: int = 0,
    ) -> IngestReport:
        lock = self._lock()
        try:
            report = IngestReport()
            comps = self._components()
            before = self.store.generation()  # with the writer lock held, every later generation is this ingest's
            if roster is not None:
                pipeline.load_roster(comps, Path(roster), report)
            pipeline.ingest_files(files, comps, defaults=defaults, progress=progress, total=total, report=report)
            if report.ingested or report.updated:
                self._after_write(comps)
                self._carry_caches(before, report)
            return report
        finally:
            self._writer_lock = None
            lock.release()

    def _components(self) -> pipeline.Components:
        """Components for the pipeline; models and index load only if a file actually needs them."""

        def index() -> VectorIndex:
            self._check_embedder()
            return self.index()

        return pipeline.Components(
            store=self.store,
            embedder=_Lazy(lambda: self.embedder),
            extractor=_Lazy(lambda: self.extractor),
            canon=self._canon_cache(),
            index=_Lazy(index),
            settings=self.settings,
        )

    def _canon_cache(self) -> TopicCanon:
        if getattr(self, "_canon", None) is None:
            self._canon = self.canon()
        return self._canon

    def _after_write(self, comps: pipeline.Components) -> None:
        from index.vectors import outgrown, save_index

        if self.store.kv_get("index", "embedder") is None:
            self.store.kv_set("index", "embedder", self.embedder.name)
        canon = comps.canon
        self.store.kv_set("topics", "canon", canon.to_json())
        topics, version = canon.topics(), self.store.topics_version()
        self.store.upsert_topics(topics)
        labels = self._memo.get("labels")
        if labels is not None and labels[0] == version and self.store.topics_version() == version + 1:
            # The table is what it was plus these topics (it never drops one): no need to read 25k rows again.
            labels[1].update((t.id, t.label) for t in topics)
            self._memo["labels"] = (version + 1, labels[1])
        idx = self._index  # the very index the pipeline just updated (comps.index is a lazy stand-in for it)
        assert idx is not None
        if outgrown(idx, self.settings.ann_threshold):  # this upload took it past the threshold: IVF from now on
            log.info("vector index reached %s vectors: rebuilding it as IVF", len(idx))
            self._index = None
            del idx
            self._rebuild_index()
            return
        save_index(idx, self.kb_dir / INDEX_DIR, self._manifest(len(idx)))
        self._index_generation = self.store.generation()

    def _carry_caches(self, before: int, report: IngestReport) -> None:
        """Bring the caches built at generation `before` up to date after this process's own ingest, when it only
        added sessions: the next question then skips a pass over every session and passage (at 1M passages it
        took 33 s after each upload). Any replaced session, or caches of another generation, leaves them to be
        rebuilt as before. Statistics only grow when sessions are added, so adding the new ones to the shared
        counts gives what a full count gives (a test checks this for every viewer)."""
        hit = self._memo.get("sessions")
        if report.updated or not report.ingested or hit is None or hit[0] != before:
            return
        gen = self.store.generation()
        new = [self.store.session(sid) for sid in report.ingested]
        index: dict[str, Session] = hit[1]
        if any(s is None or s.id in index for s in new):
            return
        added = [replace(s, text="") for s in new if s is not None]  # as `_session_index` holds them
        index.update((s.id, s) for s in added)
        self._memo["sessions"] = (gen, index)
        restricted = self._memo.pop("restricted", None)
        if restricted is not None and restricted[0] == before:
            self._memo["restricted"] = (gen, _add_restricted(restricted[1], added))
        if self._pstats_gen == before and self._pstats_anyone is not None:
            stats, restricted_topics = self._pstats_anyone
            anyone, canon, today = Viewer(None), self._canon_cache(), date.today()
            for s in added:
                add_session(stats, s, anyone, today=today)
                topics = {canon.canonical(t) for p in self.store.session_passages(s.id) for t in p.topics}
                topics |= {canon.canonical(t) for t in s.tags}
                _take_topics(stats, restricted_topics, s, topics, anyone)
            self._pstats_gen, self._pstats = gen, {}
        else:
            self._pstats_gen = -1

    def remove(self, session_id: str) -> None:
        """Delete one session, its passages and their vectors."""
        if self.store.session(session_id) is None:
            raise UnknownSessionError(
                f"no session '{session_id}'", field="session_id", fix="list ids with `mentorkb sessions`"
            )
        lock = self._lock()
        try:
            idx = self.index()
            removed = self.store.remove_session(session_id)
            idx.remove(np.asarray(removed, dtype=np.int64))
            from index.vectors import save_index

            save_index(idx, self.kb_dir / INDEX_DIR, self._manifest(len(idx)))
            self._index_generation = self.store.generation()
        finally:
            self._writer_lock = None
            lock.release()

    def reindex(self) -> int:
        """Re-embed every passage with the configured embedder and rebuild the vector index."""
        lock = self._lock()
        try:
            passages: list[Passage] = []
            texts: list[str] = []
            for s in self.store.sessions():
                ps = self.store.session_passages(s.id)
                passages += ps
                texts += pipeline.search_texts(s, ps)
            vecs = self.embedder.encode(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
            if passages:
                self.store.set_vectors(np.asarray([p.id for p in passages], dtype=np.int64), vecs)
            self.store.kv_set("index", "embedder", self.embedder.name)
            shutil.rmtree(self.kb_dir / INDEX_DIR, ignore_errors=True)
            self._index = None
            self._rebuild_index()
            return len(passages)
        finally:
            self._writer_lock = None
            lock.release()

    # -- reading -----------------------------------------------------------------------------------------------
    def viewer(self, person: str | None = None, *, operator: bool = False) -> Viewer:
        """A Viewer for a roster reference (id, email or name); None = anonymous programme member."""
        if person is None:
            return Viewer(None, operator)
        p = self.store.find_person(person)
        if p is None:
            raise UnknownPersonError(
                f"nobody called '{person}' in the roster",
                field="--as",
                fix="use a roster id, email or full name (see `mentorkb people`)",
            )
        return Viewer(p.id, operator)

    def person(self, ref: str) -> Person:
        """A person by id, email or name."""
        p = self.store.find_person(ref)
        if p is None:
            raise UnknownPersonError(f"nobody called '{ref}'", fix="see `mentorkb people` for ids")
        return p

    def people(self, viewer: Viewer) -> list[Person]:
        """Everyone the viewer may know about: the roster, plus people of sessions the viewer may know exist."""
        roster = self.store.roster_ids()
        visible = {pid for s in access.known(self.store.sessions(), viewer) for pid in s.people}
        return [p for p in self.store.people() if p.id in roster or p.id in visible]

    def sessions(self, viewer: Viewer) -> list[Session]:
        """Sessions the viewer may know exist, newest first (text blanked where they may not read it)."""
        return [_shown_session(s, viewer) for s in access.known(self.store.sessions(), viewer)]

    def session(self, session_id: str, viewer: Viewer) -> Session:
        """One session as the viewer may see it; unknown and invisible ids read the same."""
        s = self.store.session(session_id)
        if s is None or not access.can_know_exists(s, viewer):
            raise UnknownSessionError(
                f"no session '{session_id}'", field="session_id", fix="list ids with `mentorkb sessions`"
            )
        return _shown_session(s, viewer)

    def stats(self) -> dict[str, Any]:
        """Counts of what is stored (sessions, people, passages, topics, logged questions)."""
        return self.store.counts() | {"kb_dir": str(self.kb_dir)}

    def topic_label(self, topic_id: str) -> str:
        """Display label of a canonical topic id."""
        return self._labels().get(topic_id, topic_id)

    def _cached(self, name: str, version: int, build: Callable[[], Any]) -> Any:
        """The value built for this version of the store (a generation or topics_version), built again when stale."""
        hit = self._memo.get(name)
        if hit is None or hit[0] != version:
            hit = self._memo[name] = (version, build())
        return hit[1]

    def _labels(self) -> dict[str, str]:
        """Topic id -> label, read again only when the topic table changed (a large knowledge base has 10k+)."""
        return self._cached("labels", self.store.topics_version(), lambda: {t.id: t.label for t in self.store.topics()})

    def question_topics(self, question: str) -> list[str]:
        """Canonical topics mentioned in a question."""
        phrases = self.extractor.extract([question])[0]
        canon = self._canon_cache()
        return list(dict.fromkeys(canon.canonical(p) for p in phrases))

    def retrieve(
        self, question: str, viewer: Viewer, *, depth: int | None = None, readable_only: bool = False
    ) -> list[Hit]:
        """Hybrid retrieval (dense + BM25, fused by RRF) over passages the viewer may know of."""
        return self._retrieve(question, viewer, depth=depth, readable_only=readable_only, beside=lambda: None)[0]

    def _retrieve(
        self,
        question: str,
        viewer: Viewer,
        *,
        beside: Callable[[], _T],
        depth: int | None = None,
        readable_only: bool = False,
    ) -> tuple[list[Hit], _T]:
        """`retrieve`, also returning what `beside()` returned. With `query_overlap`, `beside` (the question's
        topics) and the BM25 search, with a read of the passages it found, run in background threads while this
        one embeds the question and searches densely: torch (a traced graph), FAISS and SQLite release the GIL."""
        depth = depth or self.settings.retrieval_depth
        budget = self.settings.bm25_posting_budget
        lexical_job = beside_job = None
        if self.settings.query_overlap:
            pool = self._background()
            lexical_job = pool.submit(self._lexical_passages, question, depth, budget)
            beside_job = pool.submit(beside)
        qv = self.embedder.encode_query(question) if lexical_job else self.embedder.encode([question])
        scores, ids = self.index().search(qv, depth)
        dense = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        extra = beside_job.result() if beside_job else beside()
        lexical, read = lexical_job.result() if lexical_job else self._lexical_passages(question, depth, budget)
        fused = rrf([[i for i, _ in dense], [i for i, _ in lexical]], k=self.settings.rrf_k)
        dense_s, lex_s = dict(dense), dict(lexical)
        order = sorted(fused, key=lambda i: -fused[i])
        read.update((p.id, p) for p in self.store.passages([i for i in order if i not in read]))
        sessions = self._session_index()
        hits: list[Hit] = []
        for pid in order:
            p = read.get(pid)
            s = sessions.get(p.session_id) if p is not None else None
            if p is None or s is None or not access.can_know_exists(s, viewer):
                continue
            if readable_only and not access.can_read_text(s, viewer):
                continue
            hits.append(Hit(p, s, fused[pid], dense_s.get(pid, 0.0), lex_s.get(pid, 0.0)))
        return hits, extra

    def _lexical_passages(
        self, question: str, depth: int, budget: int
    ) -> tuple[list[tuple[int, float]], dict[int, Passage]]:
        """The question's BM25 results and their passages by id."""
        found = self.store.lexical_search(question, depth, posting_budget=budget)
        return found, {p.id: p for p in self.store.passages([i for i, _ in found]) if p.id is not None}

    def person_stats(self, viewer: Viewer) -> Mapping[str, PersonStats]:
        """Per-person activity over the sessions the viewer may know (topics only from readable ones)."""
        gen = self.store.generation()
        if self._pstats_gen != gen:
            self._pstats_gen, self._pstats, self._pstats_anyone = gen, {}, None
        if viewer in self._pstats:
            return self._pstats[viewer]
        today = date.today()
        if viewer.operator:
            stats, _ = self._stats_with_topics(viewer, today)
        else:
            # What every programme member sees, computed once per generation; a member adds only the
            # topics-only and private sessions they take part in (a few), not a pass over every session.
            if self._pstats_anyone is None:
                self._pstats_anyone = self._stats_with_topics(Viewer(None), today)
            stats, restricted_topics = self._pstats_anyone
            if viewer.person_id is not None:
                own = self._restricted_sessions().get(viewer.person_id, [])
                stats = stats_for_participant(stats, own, lambda s: restricted_topics.get(s.id, set()), today=today)
        if len(self._pstats) >= _PSTATS_VIEWERS:  # on a shared app every asker is another viewer
            self._pstats.pop(next(iter(self._pstats)))
        self._pstats[viewer] = stats
        return stats

    def _stats_with_topics(self, viewer: Viewer, today: date) -> tuple[dict[str, PersonStats], dict[str, set[str]]]:
        """A viewer's statistics, their topics streamed one session at a time (all sessions' topic sets are never
        in memory together: at 1M passages they were most of a GiB); and the canonical topics of topics-only and
        private sessions, which participants add to the shared statistics."""
        sessions = self._session_index()
        canon = self._canon_cache()
        stats = build_stats(sessions.values(), viewer, lambda s: set(), today=today)
        restricted: dict[str, set[str]] = {}
        for sid, topics in self.store.iter_passage_topics(canon.canonical):
            if (s := sessions.get(sid)) is not None:
                _take_topics(stats, restricted, s, topics, viewer)
        for s in sessions.values():
            if s.tags:
                _take_topics(stats, restricted, s, {canon.canonical(t) for t in s.tags}, viewer)
        return stats, restricted

    def _restricted_sessions(self) -> dict[str, list[Session]]:
        """Each person's topics-only and private sessions, read once per store generation."""

        return self._cached(
            "restricted", self.store.generation(), lambda: _add_restricted({}, self._session_index().values())
        )

    def _session_index(self) -> dict[str, Session]:
        """Every session by id, without its text, newest first; read once per store generation."""
        return self._cached(
            "sessions", self.store.generation(), lambda: {s.id: s for s in self.store.sessions(with_text=False)}
        )

    def weights(self) -> RankWeights:
        """Ranking weights from settings (possibly calibrated by `mentorkb calibrate`)."""
        return RankWeights.from_settings(self.settings)

    def ask(
        self,
        question: str,
        *,
        viewer: Viewer,
        asker: str | None = None,
        direction: str = "any",
        top: int = 5,
        log_question: bool = True,
        opt_in: bool = False,
    ) -> list[Recommendation]:
        """Who can teach me X? Ranked people with relation labels and cited evidence."""
        asker_p = self.person(asker) if asker else (self.store.person(viewer.person_id) if viewer.person_id else None)
        hits, qtopics = self._retrieve(question, viewer, beside=lambda: self.question_topics(question))
        people = {p.id: p for p in self.store.people()}
        recs = rank_experts(
            hits,
            people=people,
            asker=asker_p,
            viewer=viewer,
            question=question,
            question_topics=qtopics,
            stats=self.person_stats(viewer),
            weights=self.weights(),
            today=date.today(),
            direction=direction,
            top=top,
        )
        if log_question:
            self.store.log_query("ask", question, qtopics, asker_p.id if (opt_in and asker_p) else None)
        labels = self._labels()
        return [_relabel(r, labels) for r in recs]

    def ask_batch(
        self,
        items: Iterable[tuple[str, str, str | None]],
        *,
        direction: str = "any",
        top: int = 10,
        operator: bool = False,
        log_question: bool = True,
    ) -> Iterator[tuple[str, list[Recommendation]]]:
        """Cohort matching: (id, question, asker ref) items, the model loaded once for the whole batch."""
        for qid, question, who in items:
            viewer = self.viewer(who, operator=operator)
            yield qid, self.ask(question, viewer=viewer, direction=direction, top=top, log_question=log_question)

    def insights(
        self,
        question: str,
        *,
        viewer: Viewer,
        top: int = 10,
        filters: InsightFilters | None = None,
        log_question: bool = True,
        opt_in: bool = False,
    ) -> list[Insight]:
        """Passages from earlier sessions that answer the question, cited to file and lines."""
        hits, qtopics = self._retrieve(
            question, viewer, readable_only=True, beside=lambda: self.question_topics(question) if log_question else []
        )
        ids = [h.passage.id for h in hits[:200] if h.passage.id is not None]
        vecs = self._vectors_for(ids)
        people = {p.id: p for p in self.store.people()}
        out = search_insights(
            hits,
            viewer=viewer,
            people=people,
            filters=filters or InsightFilters(),
            vectors=vecs,
            neighbours=self.store.session_passages,
            top=top,
            question=question,
            mmr_lambda=self.settings.mmr_lambda,
            duplicate_cosine=self.settings.duplicate_cosine,
        )
        if log_question:
            self.store.log_query("insights", question, qtopics, viewer.person_id if opt_in else None)
        labels = self._labels()
        return [_relabel_insight(i, labels) for i in out]

    def _vectors_for(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        return self.store.vectors_for(ids)

    def session_passages(self, session_id: str, viewer: Viewer) -> list[Passage]:
        """A readable session's passages (empty when the viewer may not read it)."""
        from dataclasses import replace

        s = self.session(session_id, viewer)
        if not s.text:
            return []
        return [replace(p, text=access.shown_text(s, viewer, p.text)) for p in self.store.session_passages(s.id)]

    def profile(self, ref: str, viewer: Viewer) -> PersonProfile:
        """A person's profile as the viewer may see it."""
        from recommend.insights import session_direction

        p = self.person(ref)
        if p not in self.people(viewer):
            raise UnknownPersonError(f"nobody called '{ref}'", fix="see `mentorkb people` for ids")
        people = {q.id: q for q in self.store.people()}
        labels = self._labels()
        taught: dict[str, int] = defaultdict(int)
        learned: dict[str, int] = defaultdict(int)
        prof = PersonProfile(person=p)
        for s in access.known(self.store.sessions(), viewer):
            role = s.role_of(p.id)
            if role is None:
                continue
            prof.sessions.append(_shown_session(s, viewer))
            d = session_direction(s, people)
            prof.directions[d] = prof.directions.get(d, 0) + 1
            if role is Role.MENTOR:
                prof.mentored.extend(m for m in s.mentees if m not in prof.mentored)
            if role is Role.MENTEE:
                prof.mentored_by.extend(m for m in s.mentors if m not in prof.mentored_by)
            if not access.can_read_text(s, viewer):
                continue
            topics = {t for q in self.store.session_passages(s.id) for t in q.topics}
            for t in topics:
                (learned if role is Role.MENTEE else taught)[t] += 1
        prof.taught_topics = [(labels.get(t, t), n) for t, n in sorted(taught.items(), key=lambda x: -x[1])][:15]
        prof.learned_topics = [(labels.get(t, t), n) for t, n in sorted(learned.items(), key=lambda x: -x[1])][:15]
        return prof

    # -- coordinators: topic clusters (mentorkb.coordinator does the work) ------------------------------------
    def topics(self, viewer: Viewer) -> list[Any]:
        """Topic clusters as the viewer may see them (labels only from sessions they may read)."""
        from mentorkb import coordinator

        return coordinator.topics(self, viewer)

    def topic(self, cluster_id: str, viewer: Viewer) -> Any:
        """One cluster in detail: sessions, teachers, learners, direction mix, trend, evidence."""
        from mentorkb import coordinator

        return coordinator.topic(self, cluster_id, viewer)

    def gaps(self, viewer: Viewer) -> list[Any]:
        """Topics asked for (questions, mentees in notes) with few or no teachers."""
        from mentorkb import coordinator

        return coordinator.gaps(self, viewer)

    def at_risk(self, viewer: Viewer) -> list[Any]:
        """Topics taught by only one or two people."""
        from mentorkb import coordinator

        return coordinator.at_risk(self, viewer)

    def reverse_potential(self, viewer: Viewer) -> list[Any]:
        """Topics where juniors teach and seniors ask."""
        from mentorkb import coordinator

        return coordinator.reverse_potential(self, viewer)

    def rename_topic(self, cluster_id: str, name: str) -> str:
        """Give a cluster a coordinator's name; it survives re-clustering."""
        from mentorkb import coordinator

        lock = self._lock()  # read-modify-write of names and merges: one coordinator at a time
        try:
            return coordinator.rename_topic(self, cluster_id, name)
        finally:
            self._writer_lock = None
            lock.release()

    def merge_topics(self, keep_id: str, absorb_id: str) -> str:
        """Merge one cluster into another; it survives re-clustering."""
        from mentorkb import coordinator

        lock = self._lock()  # read-modify-write of names and merges: one coordinator at a time
        try:
            return coordinator.merge_topics(self, keep_id, absorb_id)
        finally:
            self._writer_lock = None
            lock.release()

    def recluster(self, method: str | None = None) -> Any:
        """Recompute clusters now (keeps ids and names of clusters that still exist)."""
        from mentorkb import coordinator

        lock = self._lock()  # read-modify-write of names and merges: one coordinator at a time
        try:
            return coordinator.recluster(self, method=method)
        finally:
            self._writer_lock = None
            lock.release()

    def check(self) -> dict[str, Any]:
        """Compare the store and the vector index; returns a report with `ok`."""
        ids, _ = self.store.vectors()
        problems: list[str] = []
        missing = self.store.counts()["passages"] - len(ids)
        if missing:
            problems.append(f"{missing} passages have no stored vector")
        try:
            idx = self.index()
            if len(idx) != len(ids):
                problems.append(f"index holds {len(idx)} vectors, store {len(ids)}")
        except IndexMismatchError as exc:
            problems.append(str(exc))
        return {"ok": not problems, "problems": problems, "passages": len(ids), "generation": self.store.generation()}

    def export(self, out: Path) -> int:
        """Write every session, person and setting as JSON Lines; returns the number of lines."""
        lines = []
        for p in self.store.people():
            lines.append(
                {"kind": "person"} | {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(p).items()}
            )
        for s in self.store.sessions():
            lines.append(
                {
                    "kind": "session",
                    "id": s.id,
                    "date": s.date.isoformat(),
                    "title": s.title,
                    "type": s.type.value,
                    "mentors": list(s.mentors),
                    "mentees": list(s.mentees),
                    "participants": list(s.participants),
                    "visibility": s.visibility.value,
                    "tags": list(s.tags),
                    "source": s.source,
                    "text": s.text,
                }
            )
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
        tmp.replace(out)
        return len(lines)


def _add_restricted(by_person: dict[str, list[Session]], sessions: Iterable[Session]) -> dict[str, list[Session]]:
    """Add each topics-only or private session to the lists of its people; returns `by_person`."""
    for s in sessions:
        if s.visibility is not Visibility.PROGRAM:
            for pid in dict.fromkeys(s.people):
                by_person.setdefault(pid, []).append(s)
    return by_person


def _take_topics(
    stats: dict[str, PersonStats], restricted: dict[str, set[str]], s: Session, topics: set[str], viewer: Viewer
) -> None:
    """Add a counted session's canonical topics: to its people's statistics where the viewer may read it, and
    to `restricted` (topics of topics-only and private sessions, which their participants add) where not."""
    topics.discard("")
    if s.visibility is not Visibility.PROGRAM:
        restricted.setdefault(s.id, set()).update(topics)
    if access.can_read_text(s, viewer):
        add_topics(stats, s, topics)


class _Lazy:
    """Stands in for a component and loads it on first attribute access (unchanged files need no model)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._obj: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._obj is None:
            self._obj = self._load()
        return getattr(self._obj, name)

    def __len__(self) -> int:
        if self._obj is None:
            self._obj = self._load()
        return len(self._obj)


def _shown_session(s: Session, viewer: Viewer) -> Session:
    """A session as a viewer sees it: no text unless readable, contacts masked for non-participants."""
    return _replace_text(s, access.shown_text(s, viewer, s.text))


def _without_text(s: Session) -> Session:
    return _replace_text(s, "")


def _replace_text(s: Session, text: str) -> Session:
    from dataclasses import replace

    return replace(s, text=text)


def _relabel(r: Recommendation, labels: Mapping[str, str]) -> Recommendation:
    from dataclasses import replace

    return replace(r, topics=tuple(labels.get(t, t) for t in r.topics))


def _relabel_insight(i: Insight, labels: Mapping[str, str]) -> Insight:
    from dataclasses import replace

    return replace(i, topics=tuple(labels.get(t, t) for t in i.topics))
