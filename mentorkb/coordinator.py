"""Coordinator views: topic clusters, gaps, at-risk knowledge and reverse-mentoring potential.

Clusters are computed once on the operator view (each session's mean passage embedding beside the TF-IDF of
its canonical topics; Ward clustering, see docs/clusters.md) and persisted in the store's kv (namespace "clusters") with the store generation they reflect; a later call after new notes
re-clusters and hands the old ids (and so the coordinators' names and merges) to the clusters they match.
Everything a viewer is shown is then rebuilt from the sessions that viewer may know (counts, people,
directions) or read (keyphrases, labels, names, evidence), so a private note never shapes what others see.
The KnowledgeBase facade delegates to these functions.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mentorkb.errors import MentorKBError, StoreError
from models import (
    AtRiskTopic,
    Cluster,
    ClusterDetail,
    Evidence,
    Gap,
    Passage,
    Person,
    ReversePotential,
    Role,
    Session,
    Viewer,
)
from recommend import access
from recommend import clusters as cl
from recommend.insights import session_direction

if TYPE_CHECKING:
    from ingest.canon import TopicCanon
    from mentorkb.service import KnowledgeBase

log = logging.getLogger("mentorkb.coordinator")

NAMESPACE = "clusters"
STATE_VERSION = 1
MAX_NAME_CHARS = 80
LABEL_PHRASES = 3  # keyphrases joined into an unnamed cluster's label
SHOWN_PHRASES = 6
TOPIC_WEIGHT = 1.0  # topic TF-IDF beside the embedding when clustering (measured: docs/clusters.md)
STABILITY_BONUS = 0.02  # score bonus for re-clustering into as many clusters as last time
TAG_WEIGHT = 2  # a front-matter tag is the author's own statement of topic: it outweighs an extracted phrase
EVIDENCE_PER_CLUSTER = 5
MIN_EVIDENCE_CHARS = 60  # shorter passages ("Check back in two weeks.") make poor evidence


class UnknownClusterError(MentorKBError):
    """A cluster id matches no current cluster."""


class ClusterNameError(MentorKBError):
    """A coordinator's cluster name is too long or spans lines."""


@dataclass(frozen=True)
class ClusterState:
    """The persisted operator-view clustering: stable ids, members and centroids."""

    generation: int
    method: str
    clusters: tuple[cl.StoredCluster, ...]
    next_id: int
    seconds: float = 0.0  # time the clustering itself took

    def to_json(self) -> str:
        """JSON for the store's kv."""
        return json.dumps(
            {
                "version": STATE_VERSION,
                "generation": self.generation,
                "method": self.method,
                "next_id": self.next_id,
                "seconds": round(self.seconds, 4),
                "clusters": [c.to_json() for c in self.clusters],
            }
        )

    @staticmethod
    def from_json(raw: str) -> ClusterState | None:
        """Parse the kv value; None for a value of another version (it is then recomputed)."""
        data = json.loads(raw)
        if data.get("version") != STATE_VERSION:
            return None
        return ClusterState(
            generation=int(data["generation"]),
            method=str(data["method"]),
            clusters=tuple(cl.StoredCluster.from_json(c) for c in data["clusters"]),
            next_id=int(data["next_id"]),
            seconds=float(data.get("seconds", 0.0)),
        )


# -- persisted state --------------------------------------------------------------------------------------------


def _load_json(kb: KnowledgeBase, key: str) -> dict:
    raw = kb.store.kv_get(NAMESPACE, key)
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise StoreError(
            f"saved topic-cluster data is not valid JSON ({exc.msg} at char {exc.pos})",
            source=str(kb.kb_dir),
            field=f"kv {NAMESPACE}/{key}",
            fix="run `mentorkb topics recluster`; names and merges may need to be given again",
        ) from exc
    return data if isinstance(data, dict) else {}


def names(kb: KnowledgeBase) -> dict[str, str]:
    """Coordinator-given names by cluster id."""
    return {str(k): str(v) for k, v in _load_json(kb, "names").items()}


def merges(kb: KnowledgeBase) -> dict[str, str]:
    """Coordinator merges: absorbed cluster id -> surviving id."""
    return {str(k): str(v) for k, v in _load_json(kb, "merges").items()}


def load_state(kb: KnowledgeBase) -> ClusterState | None:
    """The last clustering saved in the store, if any (None also for an unreadable one: it is recomputed)."""
    raw = kb.store.kv_get(NAMESPACE, "state")
    try:
        return ClusterState.from_json(raw) if raw else None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("saved topic clusters are unreadable: clustering again")
        return None


def session_vectors(kb: KnowledgeBase) -> tuple[list[str], np.ndarray]:
    """(session ids, unit mean of each session's passage vectors), from the stored vectors."""
    ids, vecs = kb.store.vectors()
    owner = {p.id: p.session_id for p in kb.store.all_passages()}
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for pid, v in zip(ids.tolist(), vecs):
        if pid in owner:
            groups[owner[pid]].append(v)
    return cl.mean_vectors(groups)


def _session_topics(kb: KnowledgeBase, keys: Sequence[str]) -> list[list[str]]:
    """Each session's canonical passage topics, with repeats (tags left out: they judge the clustering)."""
    found: dict[str, list[str]] = defaultdict(list)
    for p in kb.store.all_passages():
        found[p.session_id].extend(t for t in p.topics if t)
    return [found[k] for k in keys]


def _session_tags(kb: KnowledgeBase, keys: Sequence[str]) -> list[tuple[str, ...]]:
    """Canonical tags of each session (operator view: the clustering itself is never shown as text)."""
    canon = kb.canon()
    by_id = {s.id: s for s in kb.store.sessions()}
    return [tuple(t for t in (canon.canonical(tag) for tag in by_id[k].tags) if t) if k in by_id else () for k in keys]


def cluster_sessions(
    keys: Sequence[str],
    vectors: np.ndarray,
    topics: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]],
    *,
    method: str,
    previous: ClusterState | None,
    generation: int,
) -> ClusterState:
    """Cluster sessions on their mean passage embedding beside their topic TF-IDF, the number of clusters
    picked by silhouette plus agreement with the sessions' tags; each cluster takes the id of the previous
    cluster it matches. Centroids are kept in embedding space (questions are matched against them)."""
    started = time.perf_counter()
    if not len(keys):
        return ClusterState(generation, method, (), previous.next_id if previous else 1)
    features = cl.with_topics(vectors, cl.topic_matrix(topics), TOPIC_WEIGHT)
    base = cl.tag_aware_score(features, tags)
    keep_k = len(previous.clusters) if previous else 0

    def score(labels: np.ndarray) -> float:
        # A near-tie keeps the previous number of clusters, so a few new notes do not reshuffle everything.
        return base(labels) + (STABILITY_BONUS if len(set(labels.tolist()) - {-1}) == keep_k else 0.0)

    labels = cl.compact(cl.attach_noise(features, cl.make_clusterer(method).fit_predict(features, score)))
    k = int(labels.max()) + 1
    members = [[keys[i] for i in np.flatnonzero(labels == c)] for c in range(k)]
    centroids = cl.unit_rows(np.vstack([vectors[labels == c].mean(axis=0) for c in range(k)]))
    ids, next_id = cl.match_ids(
        previous.clusters if previous else (),
        members,
        centroids,
        next_id=previous.next_id if previous else 1,
        alive=set(keys),
    )
    stored = tuple(
        sorted(
            (cl.StoredCluster(cid, tuple(m), tuple(float(x) for x in c)) for cid, m, c in zip(ids, members, centroids)),
            key=lambda s: int(s.id[1:]) if s.id[1:].isdigit() else 0,
        )
    )
    return ClusterState(generation, method, stored, next_id, time.perf_counter() - started)


def ensure(kb: KnowledgeBase, *, force: bool = False, method: str | None = None) -> ClusterState:
    """The current clustering: the saved one when the store has not changed since, else a fresh one (saved)."""
    generation = kb.store.generation()
    previous = load_state(kb)
    if previous is not None and previous.generation == generation and not force and method in (None, previous.method):
        return previous
    keys, vectors = session_vectors(kb)
    state = cluster_sessions(
        keys,
        vectors,
        _session_topics(kb, keys),
        _session_tags(kb, keys),
        method=method or (previous.method if previous else cl.DEFAULT_CLUSTERER),
        previous=previous,
        generation=generation,
    )
    raw = state.to_json()
    kb.store.kv_set(NAMESPACE, "state", raw)
    state = ClusterState.from_json(raw) or state  # what later calls will load, rounding included
    log.info("clustered %d sessions into %d clusters in %.2fs", len(keys), len(state.clusters), state.seconds)
    return state


def recluster(kb: KnowledgeBase, *, method: str | None = None) -> ClusterState:
    """Cluster again now (ids, names and merges carry over to the clusters that match)."""
    return ensure(kb, force=True, method=method)


# -- the viewer's picture ---------------------------------------------------------------------------------------


@dataclass
class _View:
    """What one viewer may know and read, gathered once per call."""

    viewer: Viewer
    sessions: dict[str, Session]  # known to the viewer
    readable: set[str]
    people: dict[str, Person]
    topics: dict[str, set[str]]  # readable session -> canonical topics (passages + tags)
    passages: dict[str, list[Passage]]  # readable session -> passages
    vectors: dict[str, np.ndarray]  # known session -> unit mean vector
    labels: Mapping[str, str]  # topic id -> display label
    secret: frozenset[str]
    stop: frozenset[str]  # person names: never keyphrases
    canon: TopicCanon
    canonical_tags: dict[str, set[str]] = field(default_factory=dict)  # readable session -> canonical tags


@dataclass
class _Shown:
    """One cluster as the viewer sees it, with what the other views need."""

    group: cl.Group
    sessions: list[Session]  # known members, newest first
    readable: list[Session]
    centroid: np.ndarray
    scored: list[tuple[str, float]]  # distinctive canonical topics with c-TF-IDF scores (readable members only)
    cluster: Cluster | None = None


def _gather(kb: KnowledgeBase) -> tuple[list[Session], list[Passage], dict[int, np.ndarray]]:
    ids, vecs = kb.store.vectors()
    return kb.store.sessions(), kb.store.all_passages(), dict(zip(ids.tolist(), vecs))


def _view(kb: KnowledgeBase, viewer: Viewer) -> _View:
    sessions, passages, pvecs = _gather(kb)
    canon = kb.canon()
    known = {s.id: s for s in access.known(sessions, viewer)}
    readable = {s.id for s in sessions if access.can_read_text(s, viewer)}
    by_session: dict[str, list[Passage]] = defaultdict(list)
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for p in passages:
        if p.session_id in known:
            by_session[p.session_id].append(p)
            if p.id in pvecs:
                groups[p.session_id].append(pvecs[p.id])
    keys, mat = cl.mean_vectors(groups)
    topics: dict[str, set[str]] = {}
    tags: dict[str, set[str]] = {}
    raw_tags: dict[str, str] = {}  # canonical id -> the tag as written ("sap-migration")
    for sid in readable & known.keys():
        tags[sid] = set()
        for tag in known[sid].tags:
            if t := canon.canonical(tag):
                tags[sid].add(t)
                raw_tags.setdefault(t, tag)
        topics[sid] = {t for p in by_session[sid] for t in p.topics if t} | tags[sid]
    label_ids = {t for ts in topics.values() for t in ts}
    labels = {t: canon.label(t) for t in label_ids}
    # A tag's display form in the canon is often the tag itself; its hyphens stand for spaces.
    labels |= {t: tag.replace("-", " ") for t, tag in raw_tags.items() if labels.get(t, t) in (t, tag)}
    people = {p.id: p for p in kb.store.people()}
    stop = {p.id.lower() for p in people.values()}
    for p in people.values():
        stop.add(p.name.lower())
        stop.update(w.lower() for w in p.name.split() if len(w) > 1)
    secret = frozenset()
    if not viewer.operator:
        secret = cl.secret_words(
            (_session_words_text(s) for s in sessions if s.id in readable),
            (_session_words_text(s) for s in sessions if s.id not in readable),
        )
    return _View(
        viewer=viewer,
        sessions=known,
        readable=readable & known.keys(),
        people=people,
        topics=topics,
        passages={sid: ps for sid, ps in by_session.items() if sid in readable},
        vectors=dict(zip(keys, mat)),
        labels=labels,
        secret=secret,
        stop=frozenset(stop),
        canon=canon,
        canonical_tags=tags,
    )


def _session_words_text(s: Session) -> str:
    return " ".join([s.title, s.text, *s.tags])


def _teachers(s: Session) -> tuple[str, ...]:
    return s.mentors + s.participants


def _learners(s: Session) -> tuple[str, ...]:
    return s.mentees if s.mentors else s.mentees + s.participants


def _shown_clusters(kb: KnowledgeBase, view: _View, state: ClusterState) -> list[_Shown]:
    """Groups (after merges) that hold at least one session the viewer knows, with viewer-level keyphrases."""
    shown: list[_Shown] = []
    for g in cl.apply_merges(state.clusters, merges(kb)):
        known = sorted((view.sessions[m] for m in g.members if m in view.sessions), key=lambda s: (s.date, s.id))
        known.reverse()
        if not known:
            continue  # only private sessions of others: the viewer may not know this cluster exists
        vecs = [view.vectors[s.id] for s in known if s.id in view.vectors]
        centroid = cl.unit_rows(np.mean(vecs, axis=0)[None, :])[0] if vecs else np.zeros(0, np.float32)
        readable = [s for s in known if s.id in view.readable]
        shown.append(_Shown(g, known, readable, centroid, []))
    docs: dict[str, Counter[str]] = {}
    for sh in shown:
        docs[sh.group.id] = Counter()
        for s in sh.readable:
            docs[sh.group.id].update(view.topics.get(s.id, ()))
            docs[sh.group.id].update({t: TAG_WEIGHT - 1 for t in view.canonical_tags.get(s.id, ())})
    scored = cl.class_tfidf(docs)
    for sh in shown:
        min_count = 2 if len(sh.readable) >= 4 else 1
        best = [(t, w) for t, w in scored[sh.group.id] if docs[sh.group.id][t] >= min_count]
        sh.scored = _distinctive(best, view)
    return shown


def _distinctive(scored: Sequence[tuple[str, float]], view: _View, top: int = SHOWN_PHRASES) -> list[tuple[str, float]]:
    """(topic id, score) behind the keyphrases shown (same filters as recommend.clusters.keyphrases)."""
    phrases = cl.keyphrases(scored, labels=view.labels, stop=view.stop, secret=view.secret, top=top)
    by_label = {view.labels.get(t, t): (t, w) for t, w in scored}
    return [by_label[p] for p in phrases]


def _finish(kb: KnowledgeBase, view: _View, shown: list[_Shown], matches: Sequence[set[int]]) -> None:
    """Fill in each shown cluster's public record: label, people, directions, demand, map position."""
    given = names(kb)
    counts = Counter(i for m in matches for i in m)
    demand = [counts.get(i, 0) for i in range(len(shown))]
    dims = {len(sh.centroid) for sh in shown if len(sh.centroid)}
    coords = np.zeros((len(shown), 2))
    if len(dims) == 1:
        idx = [i for i, sh in enumerate(shown) if len(sh.centroid)]
        coords[idx] = cl.map_2d(np.vstack([shown[i].centroid for i in idx]))
    for i, sh in enumerate(shown):
        teach, learn = Counter(), Counter()
        for s in sh.sessions:
            teach.update(set(_teachers(s)))
            learn.update(set(_learners(s)))
        name = given.get(sh.group.id, "")
        if name and not cl.is_shown(name, view.secret):
            name = ""
        phrases = [(view.labels.get(t, t), w) for t, w in sh.scored]
        sh.cluster = Cluster(
            id=sh.group.id,
            label=cl.cluster_label(name, phrases, n=LABEL_PHRASES),
            keyphrases=tuple(p for p, _ in phrases),
            name=name,
            sessions=len(sh.sessions),
            teachers=cl.ranked_people(teach),
            learners=cl.ranked_people(learn),
            directions=dict(Counter(session_direction(s, view.people) for s in sh.sessions)),
            demand=demand[i],
            last_activity=max(s.date for s in sh.sessions),
            x=round(float(coords[i, 0]), 4),
            y=round(float(coords[i, 1]), 4),
            merged=tuple(sh.group.merged),
        )


@dataclass
class _Picture:
    """Everything one call shows a viewer: their view, their clusters, and the logged questions matched."""

    view: _View
    shown: list[_Shown]
    questions: list[dict]
    matches: list[set[int]]  # per question, indexes into shown


def _picture(kb: KnowledgeBase, viewer: Viewer) -> _Picture:
    state = ensure(kb)
    view = _view(kb, viewer)
    shown = _shown_clusters(kb, view, state)
    rows, matches = _question_matches(kb, shown)
    _finish(kb, view, shown, matches)
    return _Picture(view, shown, rows, matches)


def topics(kb: KnowledgeBase, viewer: Viewer) -> list[Cluster]:
    """Every cluster the viewer may know of, most sessions first."""
    out = [sh.cluster for sh in _picture(kb, viewer).shown if sh.cluster is not None]
    return sorted(out, key=lambda c: (-c.sessions, c.id))


def topic(kb: KnowledgeBase, cluster_id: str, viewer: Viewer) -> ClusterDetail:
    """One cluster with its sessions, monthly trend and evidence passages (readable ones only)."""
    pic = _picture(kb, viewer)
    wanted = cl.resolve(cluster_id.strip(), merges(kb))
    for sh in pic.shown:
        if sh.group.id == wanted and sh.cluster is not None:
            return ClusterDetail(
                cluster=sh.cluster,
                session_ids=tuple(s.id for s in sh.sessions),
                trend=cl.monthly_trend(s.date for s in sh.sessions),
                evidence=_evidence(kb, pic.view, sh),
            )
    raise _unknown(cluster_id, [sh.group.id for sh in pic.shown])


def _unknown(cluster_id: str, known: Sequence[str]) -> UnknownClusterError:
    listed = ", ".join(sorted(known, key=lambda c: int(c[1:]) if c[1:].isdigit() else 0)[:30]) or "none yet"
    return UnknownClusterError(
        f"no topic cluster '{cluster_id}'",
        field="cluster id",
        fix=f"use an id listed by `mentorkb topics` ({listed})",
    )


def _evidence(kb: KnowledgeBase, view: _View, sh: _Shown) -> tuple[Evidence, ...]:
    """Per readable member session, its passage closest to the cluster centre; the closest sessions first."""
    candidates = [p for s in sh.readable for p in view.passages.get(s.id, []) if len(p.text) >= MIN_EVIDENCE_CHARS]
    if not candidates or not len(sh.centroid):
        return ()
    vecs = kb.store.vectors_for([p.id for p in candidates if p.id is not None])
    best: dict[str, tuple[float, Passage]] = {}
    for p in candidates:
        v = vecs.get(p.id) if p.id is not None else None
        if v is None:
            continue
        score = float(v @ sh.centroid)
        if p.session_id not in best or score > best[p.session_id][0]:
            best[p.session_id] = (score, p)
    out = []
    for score, p in sorted(best.values(), key=lambda x: -x[0])[:EVIDENCE_PER_CLUSTER]:
        s = view.sessions[p.session_id]
        out.append(
            Evidence(
                session_id=s.id,
                date=s.date,
                type=s.type,
                source=s.source,
                lines=(p.line_start, p.line_end),
                quote=access.shown_text(s, view.viewer, p.text),
                title=s.title,
                speaker=p.speaker,
                score=round(score, 4),
            )
        )
    return tuple(out)


# -- demand: logged questions -----------------------------------------------------------------------------------


def question_vectors(kb: KnowledgeBase, log_rows: Sequence[dict]) -> np.ndarray | None:
    """Embeddings of logged questions, each cached in the kv: only new questions load the model."""
    if not log_rows:
        return None
    name = kb.store.kv_get("index", "embedder")  # recorded by the facade with the stored vectors
    found: dict[int, np.ndarray] = {}
    for r in log_rows:
        raw = kb.store.kv_get(NAMESPACE, f"question:{r['id']}")
        cached = json.loads(raw) if raw else {}
        if name and cached.get("embedder") == name:
            found[int(r["id"])] = np.frombuffer(base64.b64decode(cached["vector"]), dtype=np.float32)
    missing = [r for r in log_rows if int(r["id"]) not in found]
    if missing:
        encoded = kb.embedder.encode([r["question"] for r in missing])
        for r, v in zip(missing, encoded):
            found[int(r["id"])] = v = np.asarray(v, dtype=np.float32)
            blob = base64.b64encode(v.tobytes()).decode("ascii")
            kb.store.kv_set(
                NAMESPACE, f"question:{r['id']}", json.dumps({"embedder": kb.embedder.name, "vector": blob})
            )
    return np.vstack([found[int(r["id"])] for r in log_rows])


def _question_matches(kb: KnowledgeBase, shown: list[_Shown]) -> tuple[list[dict], list[set[int]]]:
    rows = kb.store.query_log()
    if not rows or not shown:
        return rows, [set() for _ in rows]
    qvecs = question_vectors(kb, rows)
    dims = {len(sh.centroid) for sh in shown}
    centroids = np.vstack([sh.centroid for sh in shown]) if dims == {qvecs.shape[1]} else np.zeros((0, 0))
    matches = cl.match_questions(
        [r["topics"] for r in rows],
        qvecs if len(centroids) else None,
        [[t for t, _ in sh.scored] for sh in shown],
        centroids,
    )
    return rows, matches


# -- topic-level supply and demand: gaps, at-risk ---------------------------------------------------------------


def _topic_stats(view: _View, rows: Sequence[dict]) -> dict[str, cl.TopicStats]:
    """Who taught and who asked each topic, over readable sessions, plus logged questions."""
    stats: dict[str, cl.TopicStats] = {}
    for sid in view.readable:
        s = view.sessions[sid]
        for t in view.canonical_tags.get(sid, ()):
            cl.add_taught(stats, t, sid, s.date, _teachers(s))
        for p in view.passages.get(sid, []):
            role = s.role_of(p.speaker) if p.speaker else None
            taught, asked = cl.split_taught_asked(p.text, p.topics, asked_turn=role is Role.MENTEE)
            by = (p.speaker,) if role in (Role.MENTOR, Role.PARTICIPANT) else _teachers(s)
            for t in taught:
                cl.add_taught(stats, t, sid, s.date, by)
            for t in asked:
                cl.add_asked(stats, t, sid, (p.speaker,) if role is Role.MENTEE else s.people)
    for r in rows:
        for t in r["topics"]:
            st = stats.setdefault(t, cl.TopicStats())
            st.questions.add(int(r["id"]))
            if r.get("asker"):
                st.askers.add(r["asker"])
    return stats


def _shown_topic(view: _View, topic_id: str, canon_label: str) -> bool:
    return topic_id not in view.stop and canon_label.lower() not in view.stop and cl.is_shown(canon_label, view.secret)


def _home(sessions: set[str], shown: list[_Shown]) -> str | None:
    """The cluster holding most of these sessions."""
    best, best_n = None, 0
    for sh in shown:
        n = len(sessions & set(sh.group.members))
        if n > best_n:
            best, best_n = sh.group.id, n
    return best


def gaps(kb: KnowledgeBase, viewer: Viewer, *, max_teachers: int = 0, min_demand: int = 2, top: int = 30) -> list[Gap]:
    """Topics people ask about (logged questions, open questions and mentee turns in notes) that few or none teach."""
    pic = _picture(kb, viewer)
    view, shown, rows, matches = pic.view, pic.shown, pic.questions, pic.matches
    stats = _topic_stats(view, rows)
    out: list[Gap] = []
    for t, st, _variants in cl.gap_topics(stats, max_teachers=max_teachers, min_demand=min_demand):
        label = view.labels.get(t) or view.canon.label(t)
        if not _shown_topic(view, t, label):
            continue
        home = _home(st.asked_sessions, shown)
        if home is None:
            qs = [i for r, m in zip(rows, matches) if int(r["id"]) in st.questions for i in m]
            home = shown[Counter(qs).most_common(1)[0][0]].group.id if qs else None
        out.append(
            Gap(
                topic=label,
                questions=len(st.questions),
                asked_in_sessions=len(st.asked_sessions),
                askers=tuple(sorted(p for p in st.askers if p)),
                teachers=cl.ranked_people(st.teachers),
                cluster_id=home,
            )
        )
        if len(out) == top:
            break
    return out


def at_risk(kb: KnowledgeBase, viewer: Viewer, *, max_teachers: int = 2, min_sessions: int = 2) -> list[AtRiskTopic]:
    """Topics (session tags and known skills among cluster keyphrases) taught by only one or two people, fewest
    holders first."""
    pic = _picture(kb, viewer)
    view, shown = pic.view, pic.shown
    stats = _topic_stats(view, [])
    # Tags are curated; of the extracted phrases only known skills are specific enough ("Power BI", not "clock").
    skills = {t for sh in shown for t, _ in sh.scored if view.canon.is_known(t)}
    candidates = {t for ts in view.canonical_tags.values() for t in ts} | skills
    out = []
    for t, st in cl.at_risk_topics(stats, candidates, max_teachers=max_teachers, min_sessions=min_sessions):
        label = view.labels.get(t, t)
        if not _shown_topic(view, t, label):
            continue
        out.append(
            AtRiskTopic(
                topic=label,
                teachers=cl.ranked_people(st.teachers),
                sessions=len(st.taught_sessions),
                last_taught=st.last_taught,
                cluster_id=_home(st.taught_sessions, shown),
            )
        )
    return out


def reverse_potential(kb: KnowledgeBase, viewer: Viewer) -> list[ReversePotential]:
    """Clusters where juniors teach and seniors learn or ask: strongest opportunity first."""
    pic = _picture(kb, viewer)
    view, shown, rows, matches = pic.view, pic.shown, pic.questions, pic.matches
    askers: dict[int, set[str]] = defaultdict(set)
    for r, m in zip(rows, matches):
        for i in m:
            if r.get("asker"):
                askers[i].add(r["asker"])
    level = {pid: p.level for pid, p in view.people.items() if p.level is not None}
    out: list[tuple[float, ReversePotential]] = []
    for i, sh in enumerate(shown):
        teachers = {p for s in sh.sessions for p in s.mentors if p in level}
        learners = {p for s in sh.sessions for p in s.mentees if p in level} | {p for p in askers[i] if p in level}
        found = cl.reverse_score({p: level[p] for p in teachers}, {p: level[p] for p in learners})
        if found is None or sh.cluster is None:
            continue
        t_med, l_med, juniors, seniors = found
        bottom_up = sum(1 for s in sh.sessions if session_direction(s, view.people) == "bottom-up")
        item = ReversePotential(
            cluster_id=sh.group.id,
            label=sh.cluster.label,
            junior_teachers=tuple(juniors),
            senior_learners=tuple(seniors),
            teacher_level=t_med,
            learner_level=l_med,
            bottom_up_sessions=bottom_up,
        )
        out.append(((l_med - t_med) * len(seniors), item))
    out.sort(key=lambda x: (-x[0], x[1].cluster_id))
    return [item for _, item in out]


# -- coordinator edits ------------------------------------------------------------------------------------------


def _current_ids(kb: KnowledgeBase) -> tuple[ClusterState, dict[str, str], set[str]]:
    state = ensure(kb)
    m = merges(kb)
    return state, m, {cl.resolve(c.id, m) for c in state.clusters}


def rename_topic(kb: KnowledgeBase, cluster_id: str, name: str) -> str:
    """Name a cluster (an empty name removes it); returns the id named. Names survive re-clustering."""
    clean = " ".join(name.split())
    if "\n" in name or len(clean) > MAX_NAME_CHARS:
        raise ClusterNameError(
            f"a cluster name must be one line of at most {MAX_NAME_CHARS} characters, got {len(clean)}",
            field="name",
            fix="give a shorter name",
        )
    _, m, live = _current_ids(kb)
    target = cl.resolve(cluster_id.strip(), m)
    if target not in live:
        raise _unknown(cluster_id, live)
    given = names(kb)
    if clean:
        given[target] = clean
    else:
        given.pop(target, None)
    kb.store.kv_set(NAMESPACE, "names", json.dumps(given, ensure_ascii=False, sort_keys=True))
    return target


def merge_topics(kb: KnowledgeBase, keep_id: str, absorb_id: str) -> str:
    """Merge cluster absorb_id into keep_id (kept across re-clustering); returns the surviving id."""
    _, m, live = _current_ids(kb)
    keep, absorb = cl.resolve(keep_id.strip(), m), cl.resolve(absorb_id.strip(), m)
    for given_id, resolved in ((keep_id, keep), (absorb_id, absorb)):
        if resolved not in live:
            raise _unknown(given_id, live)
    if keep == absorb:
        raise UnknownClusterError(
            f"'{keep_id}' and '{absorb_id}' are already the same cluster ({keep})",
            field="cluster id",
            fix="give two different ids from `mentorkb topics`",
        )
    m[absorb] = keep
    kb.store.kv_set(NAMESPACE, "merges", json.dumps(m, sort_keys=True))
    given = names(kb)
    if keep not in given and absorb in given:
        given[keep] = given[absorb]
        kb.store.kv_set(NAMESPACE, "names", json.dumps(given, ensure_ascii=False, sort_keys=True))
    return keep


# -- measuring the choice (docs/clusters.md) --------------------------------------------------------------------


def compare_methods(
    kb: KnowledgeBase, methods: Sequence[str] | None = None, *, passage_level: bool = True
) -> list[dict]:
    """Quality and time of each clusterer on this knowledge base (operator view), for docs/clusters.md.

    Session level with embeddings alone and with topic TF-IDF beside them; passage level with embeddings
    (passage clusters become session clusters by majority vote). Every run picks k by the same score, and
    all are scored on the same sessions: silhouette on the session embeddings, NMI and pair F1 against tags.
    """
    keys, smat = session_vectors(kb)
    tags = _session_tags(kb, keys)
    both = cl.with_topics(smat, cl.topic_matrix(_session_topics(kb, keys)), TOPIC_WEIGHT)
    runs: list[tuple[str, str, np.ndarray, Sequence[Sequence[str]], list[str] | None]] = [
        ("session", "embedding", smat, tags, None),
        ("session", "embedding+topics", both, tags, None),
    ]
    if passage_level:
        ids, pmat = kb.store.vectors()
        owner = {p.id: p.session_id for p in kb.store.all_passages()}
        owners = [owner[i] for i in ids.tolist()]
        tag_of = dict(zip(keys, tags))
        runs.append(("passage", "embedding", pmat, [tag_of[o] for o in owners], owners))
    out = []
    for name in methods or list(cl.CLUSTERERS):
        for level, features, mat, item_tags, owners in runs:
            started = time.perf_counter()
            labels = cl.make_clusterer(name).fit_predict(mat, cl.tag_aware_score(mat, item_tags))
            seconds = time.perf_counter() - started
            raw_noise = float((labels < 0).mean())
            labels = cl.attach_noise(mat, labels)
            if owners is not None:
                labels = cl.compact(cl.majority_labels(labels.tolist(), owners, keys))
            q = cl.quality(smat, labels, tags)
            out.append(
                {"method": name, "level": level, "features": features}
                | q.__dict__
                | {"noise": round(raw_noise, 4), "seconds": round(seconds, 2)}
            )
    return out
