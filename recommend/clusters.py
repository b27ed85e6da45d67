"""Topic clusters for coordinators: clustering, stable ids, keyphrase labels, demand vs supply.

Pure functions over NumPy arrays and `models` types. `mentorkb.coordinator` gathers the data from the
store, applies the viewer's visibility (recommend.access) and calls these. The stages follow BERTopic's
seams without its god class: session features (mean embedding beside topic TF-IDF) -> a `Clusterer` chosen
by name (Ward by default, k picked by silhouette + tag agreement) -> stable ids (Hungarian matching against
the previous run) -> class-based TF-IDF labels over canonical topics -> 2-D map (PCA). The measurements
behind the defaults are in docs/clusters.md.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar, Protocol

import numpy as np

# -- vectors ----------------------------------------------------------------------------------------------------


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def mean_vectors(groups: Mapping[str, Sequence[np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """(keys, unit mean vector per key) for groups that have at least one vector, keys sorted."""
    keys = sorted(k for k, vs in groups.items() if len(vs))
    if not keys:
        return [], np.zeros((0, 0), dtype=np.float32)
    return keys, unit_rows(np.vstack([np.mean(np.vstack(groups[k]), axis=0) for k in keys]))


def topic_matrix(docs: Sequence[Sequence[str]], *, min_df: int = 2) -> np.ndarray:
    """Unit-length sublinear TF-IDF rows over the topics found in at least min_df docs (none: zero columns)."""
    df: Counter[str] = Counter()
    for d in docs:
        df.update(set(d))
    vocab = {t: i for i, t in enumerate(sorted(t for t, n in df.items() if n >= min_df))}
    counts = np.zeros((len(docs), len(vocab)), dtype=np.float64)
    for row, d in enumerate(docs):
        for t, n in Counter(d).items():
            if t in vocab:
                counts[row, vocab[t]] = 1.0 + math.log(n)
    if not vocab:
        return counts.astype(np.float32)
    idf = np.log((1 + len(docs)) / (1 + np.asarray([df[t] for t in vocab]))) + 1.0
    return unit_rows(counts * idf)


def with_topics(vectors: np.ndarray, topics: np.ndarray, weight: float) -> np.ndarray:
    """Embedding and topic rows side by side (topics scaled by weight), each row of unit length."""
    if not topics.shape[1] or weight == 0:
        return unit_rows(vectors)
    return unit_rows(np.hstack([unit_rows(vectors), weight * topics]).astype(np.float32))


# -- clusterers (one seam, several backends, picked by name) --------------------------------------------------


Score = Callable[[np.ndarray], float]  # labels -> quality, higher is better; picks k where a clusterer has one


class Clusterer(Protocol):
    """Assigns each row of a unit-vector matrix to a cluster: labels 0..k-1, or -1 for noise."""

    name: str

    def fit_predict(self, vectors: np.ndarray, score: Score | None = None) -> np.ndarray:
        """Labels per row; `score` (default: cosine silhouette) chooses the number of clusters."""
        ...


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    """1 - cosine similarity between every pair of rows."""
    x = unit_rows(vectors).astype(np.float64)
    d = 1.0 - x @ x.T
    np.fill_diagonal(d, 0.0)
    return np.clip(d, 0.0, 2.0)


def silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of the non-noise rows from a distance matrix (as scikit-learn: singletons score 0);
    -1 when undefined (fewer than 2 clusters, or every row its own cluster)."""
    labels = np.asarray(labels)
    keep = np.flatnonzero(labels >= 0)
    ks, inv = np.unique(labels[keep], return_inverse=True)
    if len(ks) < 2 or len(ks) >= len(keep):
        return -1.0
    d = distances[np.ix_(keep, keep)]
    onehot = np.zeros((len(keep), len(ks)))
    onehot[np.arange(len(keep)), inv] = 1.0
    sums, sizes = d @ onehot, onehot.sum(axis=0)
    own = sizes[inv]
    a = sums[np.arange(len(keep)), inv] / np.maximum(own - 1, 1)
    mean_other = sums / sizes
    mean_other[np.arange(len(keep)), inv] = np.inf
    b = mean_other.min(axis=1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def cosine_silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (cosine distance) of the non-noise rows; -1 when it is undefined."""
    return silhouette(cosine_distances(vectors), labels)


def k_range(n: int, k_max: int) -> range:
    """Candidate cluster counts for n items: 2 up to k_max, capped so a cluster averages at least 3 items."""
    return range(2, max(2, min(k_max, n // 3)) + 1)


def _best_k(vectors: np.ndarray, ks: range, fit: Callable[[int], np.ndarray], score: Score | None) -> np.ndarray:
    if score is None:
        distances = cosine_distances(vectors)
    rate = score or (lambda labels: silhouette(distances, labels))
    best, best_s = np.zeros(len(vectors), dtype=np.int64), -np.inf
    for k in ks:
        labels = fit(k)
        s = rate(labels)
        if s > best_s:
            best, best_s = labels, s
    return best


@dataclass(frozen=True)
class AgglomerativeClusterer:
    """Hierarchical clustering (Ward on unit vectors, or cosine average/complete linkage); the tree is cut at
    the k with the best score."""

    name: ClassVar[str] = "agglomerative"
    linkage: str = "ward"
    k_max: int = 60

    def fit_predict(self, vectors: np.ndarray, score: Score | None = None) -> np.ndarray:
        """Labels 0..k-1 for every row."""
        from scipy.cluster.hierarchy import fcluster, linkage

        n = len(vectors)
        if n < 3:
            return np.zeros(n, dtype=np.int64)
        metric = "euclidean" if self.linkage == "ward" else "cosine"
        tree = linkage(np.asarray(vectors, dtype=np.float64), method=self.linkage, metric=metric)
        return _best_k(vectors, k_range(n, self.k_max), lambda k: fcluster(tree, k, "maxclust") - 1, score)


@dataclass(frozen=True)
class KMeansClusterer:
    """Spherical FAISS k-means (seeded, several restarts) at the k with the best score."""

    name: ClassVar[str] = "kmeans"
    k_max: int = 60
    seed: int = 1234

    def fit_predict(self, vectors: np.ndarray, score: Score | None = None) -> np.ndarray:
        """Labels 0..k-1 for every row."""
        import faiss

        x = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(x)
        if n < 3:
            return np.zeros(n, dtype=np.int64)

        def fit(k: int) -> np.ndarray:
            km = faiss.Kmeans(
                x.shape[1], k, niter=50, nredo=5, seed=self.seed, spherical=True, min_points_per_centroid=1
            )
            km.train(x)
            return km.index.search(x, 1)[1][:, 0].astype(np.int64)

        return _best_k(x, k_range(n, self.k_max), fit, score)


@dataclass(frozen=True)
class HDBSCANClusterer:
    """scikit-learn HDBSCAN on unit vectors (euclidean there ranks like cosine); -1 marks noise."""

    name: ClassVar[str] = "hdbscan"
    min_cluster_size: int = 3
    min_samples: int | None = 2

    def fit_predict(self, vectors: np.ndarray, score: Score | None = None) -> np.ndarray:
        """Labels 0..k-1, -1 for rows in no dense region (density decides k, so `score` is not used)."""
        from sklearn.cluster import HDBSCAN

        n = len(vectors)
        if n < max(3, self.min_cluster_size):
            return np.zeros(n, dtype=np.int64)
        model = HDBSCAN(min_cluster_size=self.min_cluster_size, min_samples=self.min_samples, copy=True)
        return model.fit_predict(np.asarray(vectors, dtype=np.float64)).astype(np.int64)


CLUSTERERS: dict[str, Callable[[], Clusterer]] = {
    "agglomerative": AgglomerativeClusterer,
    "agglomerative-average": lambda: AgglomerativeClusterer(linkage="average"),
    "kmeans": KMeansClusterer,
    "hdbscan": HDBSCANClusterer,
}
DEFAULT_CLUSTERER = "agglomerative"


def make_clusterer(name: str) -> Clusterer:
    """The clusterer registered under name (see CLUSTERERS)."""
    try:
        return CLUSTERERS[name]()
    except KeyError:
        raise ValueError(f"unknown clusterer '{name}'; use one of: {', '.join(CLUSTERERS)}") from None


def attach_noise(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Give every noise row (-1) the label of the nearest cluster centroid, so every session has a cluster."""
    labels = labels.copy()
    ks = sorted(set(labels.tolist()) - {-1})
    noise = labels < 0
    if not ks or not noise.any():
        return np.zeros_like(labels) if not ks else labels
    cents = unit_rows(np.vstack([vectors[labels == k].mean(axis=0) for k in ks]))
    labels[noise] = np.asarray(ks)[np.argmax(vectors[noise] @ cents.T, axis=1)]
    return labels


def compact(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0..k-1 in order of first appearance (noise stays -1)."""
    mapping: dict[int, int] = {}
    out = np.empty_like(labels)
    for i, v in enumerate(labels.tolist()):
        out[i] = -1 if v < 0 else mapping.setdefault(v, len(mapping))
    return out


# -- measuring a clustering against the notes' tags -------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    """How good a clustering is: geometry (silhouette) and agreement with the authors' tags."""

    clusters: int
    silhouette: float  # cosine, -1..1, higher = tighter and better separated
    nmi: float  # normalised mutual information with each item's first tag, 0..1
    tag_f1: float  # pairwise: "same cluster" vs "share a tag", F1 0..1
    noise: float  # share of items left unclustered
    small: float = 0.0  # share of items in clusters of fewer than 3 (too small to label or to act on)


def _share_matrix(tags: Sequence[Collection[str]]) -> np.ndarray:
    """n x n booleans: do items i and j share at least one tag?"""
    vocab = {t: i for i, t in enumerate(sorted({t for ts in tags for t in ts}))}
    hot = np.zeros((len(tags), max(1, len(vocab))), dtype=np.float32)
    for i, ts in enumerate(tags):
        hot[i, [vocab[t] for t in ts]] = 1.0
    return (hot @ hot.T) > 0


def _pair_f1(labels: np.ndarray, share: np.ndarray) -> float:
    labels = np.asarray(labels)
    same = (labels[:, None] == labels[None, :]) & (labels[:, None] >= 0)
    upper = np.triu(np.ones_like(share), k=1)
    tp = int((same & share & upper).sum())
    if not tp:
        return 0.0
    precision, recall = tp / int((same & upper).sum()), tp / int((share & upper).sum())
    return 2 * precision * recall / (precision + recall)


def pairwise_tag_f1(labels: Sequence[int], tags: Sequence[Collection[str]]) -> float:
    """F1 of the pairs put in one cluster against the pairs of items sharing at least one tag."""
    return _pair_f1(np.asarray(labels), _share_matrix(tags))


def tag_aware_score(vectors: np.ndarray, tags: Sequence[Collection[str]]) -> Score:
    """Silhouette plus pairwise tag F1 over the tagged items, so the authors' tags pick among k that are
    geometrically sound (silhouette alone keeps rising as clusters shrink to pairs). Silhouette alone when
    fewer than half the items carry tags."""
    distances = cosine_distances(vectors)
    tagged = np.asarray([i for i, t in enumerate(tags) if t], dtype=np.int64)
    if len(tagged) < max(4, len(tags) / 2):
        return lambda labels: silhouette(distances, labels)
    share = _share_matrix([tags[i] for i in tagged])
    return lambda labels: silhouette(distances, labels) + _pair_f1(np.asarray(labels)[tagged], share)


def quality(vectors: np.ndarray, labels: np.ndarray, tags: Sequence[Collection[str]]) -> Quality:
    """Silhouette plus tag agreement (NMI on first tags, pairwise tag F1) of one clustering."""
    from sklearn.metrics import normalized_mutual_info_score

    labels = np.asarray(labels)
    tagged = [i for i, t in enumerate(tags) if t]
    first = [sorted(tags[i])[0] if isinstance(tags[i], set) else list(tags[i])[0] for i in tagged]
    nmi = float(normalized_mutual_info_score(first, labels[tagged])) if tagged else 0.0
    sizes = Counter(labels.tolist())
    return Quality(
        clusters=len(set(labels.tolist()) - {-1}),
        silhouette=round(cosine_silhouette(vectors, labels), 4),
        nmi=round(nmi, 4),
        tag_f1=round(pairwise_tag_f1([int(v) for v in labels[tagged]], [tags[i] for i in tagged]), 4),
        noise=round(float((labels < 0).mean()) if len(labels) else 0.0, 4),
        small=round(float(np.mean([sizes[v] < 3 for v in labels.tolist() if v >= 0])) if len(labels) else 0.0, 4),
    )


def majority_labels(item_labels: Sequence[int], owners: Sequence[str], keys: Sequence[str]) -> np.ndarray:
    """Per key (e.g. session), the most common label among its items (e.g. passages); -1 if it has none."""
    votes: dict[str, Counter[int]] = defaultdict(Counter)
    for label, owner in zip(item_labels, owners):
        if label >= 0:
            votes[owner][int(label)] += 1
    return np.asarray([votes[k].most_common(1)[0][0] if votes[k] else -1 for k in keys], dtype=np.int64)


# -- stable ids, merges -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCluster:
    """A cluster as persisted between runs: stable id, member session ids and centroid."""

    id: str
    members: tuple[str, ...]
    centroid: tuple[float, ...]

    def to_json(self) -> dict:
        """Plain JSON form for the store's kv."""
        return {"id": self.id, "members": list(self.members), "centroid": [round(v, 6) for v in self.centroid]}

    @staticmethod
    def from_json(obj: Mapping) -> StoredCluster:
        """Inverse of to_json."""
        return StoredCluster(str(obj["id"]), tuple(obj["members"]), tuple(float(v) for v in obj["centroid"]))


def jaccard(a: Collection[str], b: Collection[str]) -> float:
    """|a & b| / |a | b| (0 for two empty sets)."""
    a, b = set(a), set(b)
    return len(a & b) / len(a | b) if a | b else 0.0


def match_ids(
    old: Sequence[StoredCluster],
    members: Sequence[Collection[str]],
    centroids: np.ndarray,
    *,
    next_id: int,
    alive: Collection[str] | None = None,
    min_jaccard: float = 0.3,
    min_cosine: float = 0.92,
) -> tuple[list[str], int]:
    """Ids for new clusters: an old cluster's id passes to the new one it best matches (Hungarian on member
    overlap, centroid cosine breaking ties); unmatched new clusters get fresh ids. Returns (ids, next_id).

    `alive` (session ids that still exist) keeps deleted sessions from diluting the overlap.
    """
    from scipy.optimize import linear_sum_assignment

    ids: list[str | None] = [None] * len(members)
    if old and len(members):
        alive_set = set(alive) if alive is not None else None
        old_members = [set(o.members) & alive_set if alive_set is not None else set(o.members) for o in old]
        overlap = np.array([[jaccard(om, m) for m in members] for om in old_members])
        old_c = unit_rows(np.asarray([o.centroid for o in old], dtype=np.float32))
        cos = old_c @ unit_rows(centroids).T if old_c.shape[1] == centroids.shape[1] else np.zeros_like(overlap)
        rows, cols = linear_sum_assignment(-(overlap + 0.01 * cos))
        for r, c in zip(rows, cols):
            if overlap[r, c] >= min_jaccard or cos[r, c] >= min_cosine:
                ids[c] = old[r].id
    out: list[str] = []
    for cid in ids:
        if cid is None:
            cid = f"c{next_id}"
            next_id += 1
        out.append(cid)
    return out, next_id


def resolve(cluster_id: str, merges: Mapping[str, str]) -> str:
    """Follow merges (absorbed id -> surviving id) to the id that is shown; cycles stop where they repeat."""
    seen = {cluster_id}
    while cluster_id in merges and merges[cluster_id] not in seen:
        cluster_id = merges[cluster_id]
        seen.add(cluster_id)
    return cluster_id


@dataclass
class Group:
    """A shown cluster: a stored cluster with any clusters merged into it."""

    id: str
    members: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)


def apply_merges(clusters: Sequence[StoredCluster], merges: Mapping[str, str]) -> list[Group]:
    """Combine stored clusters by the coordinator's merges; order follows the first stored cluster of each group."""
    groups: dict[str, Group] = {}
    for c in clusters:
        gid = resolve(c.id, merges)
        g = groups.setdefault(gid, Group(gid))
        g.members.extend(m for m in c.members if m not in g.members)
        if c.id != gid:
            g.merged.append(c.id)
    return list(groups.values())


# -- labels -----------------------------------------------------------------------------------------------------


def class_tfidf(docs: Mapping[str, Counter[str]], *, min_count: int = 1) -> dict[str, list[tuple[str, float]]]:
    """BERTopic's class-based TF-IDF: W(t, c) = tf(t, c) / |c| * log(1 + A / f(t)), best first per class.

    tf counts how many member sessions mention a topic, |c| the class's total count, A the mean total per
    class and f(t) the topic's count over all classes. Topics seen fewer than min_count times in a class are left out.
    """
    totals = {c: sum(d.values()) for c, d in docs.items()}
    nonempty = [t for t in totals.values() if t]
    if not nonempty:
        return {c: [] for c in docs}
    avg = sum(nonempty) / len(nonempty)
    freq: Counter[str] = Counter()
    for d in docs.values():
        freq.update(d)
    out: dict[str, list[tuple[str, float]]] = {}
    for c, d in docs.items():
        scored = [
            (t, n / totals[c] * math.log(1 + avg / freq[t])) for t, n in d.items() if n >= min_count and totals[c]
        ]
        scored.sort(key=lambda x: (-x[1], x[0]))
        out[c] = scored
    return out


_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A crude English stem: plurals, possessives and long -ing forms compare equal ("budgeting" ~ "budgets")."""
    if len(word) > 6 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def words(text: str) -> set[str]:
    """The stemmed lower-case words of a text."""
    return {_stem(w) for w in _WORD.findall(text.lower())}


def secret_words(readable: Iterable[str], unreadable: Iterable[str]) -> frozenset[str]:
    """Words that occur only in texts the viewer may not read: a label containing one would leak them."""
    seen: set[str] = set()
    for t in readable:
        seen |= words(t)
    hidden: set[str] = set()
    for t in unreadable:
        hidden |= words(t)
    return frozenset(hidden - seen)


def is_shown(phrase: str, secret: Collection[str]) -> bool:
    """May a phrase (label, keyphrase, name) be shown, given the viewer's secret words?"""
    return not (words(phrase) & set(secret))


def keyphrases(
    scored: Sequence[tuple[str, float]],
    *,
    labels: Mapping[str, str],
    stop: Collection[str] = (),
    secret: Collection[str] = (),
    top: int = 5,
) -> list[str]:
    """Display labels of the best topics, skipping names of people, stop phrases, secrets and near-repeats."""
    out: list[str] = []
    seen: list[set[str]] = []
    for topic, _ in scored:
        shown = labels.get(topic, topic)
        w = words(shown)
        if not w or topic in stop or shown.lower() in stop or not any(c.isalpha() for c in shown):
            continue
        if not is_shown(shown, secret) or any(w <= s or s <= w for s in seen):
            continue  # "forecast" adds nothing next to "rolling forecast"
        out.append(shown)
        seen.append(w)
        if len(out) == top:
            break
    return out


def label_phrases(phrases: Sequence[tuple[str, float]], *, n: int = 3, relative: float = 0.5) -> list[str]:
    """The best keyphrases for a label: up to n, each scoring at least `relative` times the best, so a weak
    third phrase does not dilute two strong ones."""
    if not phrases:
        return []
    top = phrases[0][1]
    return [p for i, (p, w) in enumerate(phrases[:n]) if i == 0 or w >= relative * top]


def cluster_label(name: str, phrases: Sequence[tuple[str, float]], *, n: int = 3) -> str:
    """What a cluster is called: the coordinator's name, else its best keyphrases, else a plain description."""
    if name:
        return name
    if phrases:
        return ", ".join(label_phrases(phrases, n=n))
    return "unlabelled (no sessions you may read)"


# -- map, trend, directions ---------------------------------------------------------------------------------------


def map_2d(centroids: np.ndarray) -> np.ndarray:
    """2-D coordinates of cluster centroids (PCA, signs fixed so reruns agree), scaled into [-1, 1]."""
    n = len(centroids)
    if n < 2:
        return np.zeros((n, 2), dtype=np.float64)
    x = np.asarray(centroids, dtype=np.float64)
    u, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    xy = np.zeros((n, 2))
    comps = min(2, len(s))
    for c in range(comps):
        sign = np.sign(vt[c, np.argmax(np.abs(vt[c]))]) or 1.0  # as scikit-learn's svd_flip
        xy[:, c] = u[:, c] * s[c] * sign
    scale = np.abs(xy).max()
    return xy / scale if scale > 1e-12 else xy


def monthly_trend(dates: Iterable[date]) -> tuple[tuple[str, int], ...]:
    """Sessions per month ("YYYY-MM", count) for every month from the first date to the last, gaps as 0."""
    counts = Counter((d.year, d.month) for d in dates)
    if not counts:
        return ()
    (y, m), last = min(counts), max(counts)
    out = []
    while (y, m) <= last:
        out.append((f"{y:04d}-{m:02d}", counts.get((y, m), 0)))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return tuple(out)


def ranked_people(counts: Counter[str]) -> tuple[str, ...]:
    """Person ids, most sessions first (ties by id)."""
    return tuple(p for p, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0])))


# -- asks in notes: open questions and mentee turns -------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
ASK_CUES = re.compile(
    r"\b(?:open q(?:uestion)?s?|asked (?:if|whether)|wanted to know (?:if|whether)|wonder(?:ed|s)? (?:if|whether)|"
    r"nobody|no[- ]one|neither of us|(?:does|do|did|could|can)(?:n't|not| not) (?:know|name|help)|"
    r"any ?one (?:at|in|here|internally|who|we|he|she|they)|programme gap|unanswered)\b",
    re.I,
)


def sentences(text: str) -> list[str]:
    """Sentences (and lines) of a passage."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def mentions(topic: str, text_words: Collection[str]) -> bool:
    """Does a text (given as its words()) mention every word of the topic?"""
    w = words(topic)
    return bool(w) and w <= set(text_words)


def split_taught_asked(text: str, topics: Iterable[str], *, asked_turn: bool = False) -> tuple[set[str], set[str]]:
    """Split a passage's topics into taught and asked ones.

    A topic is asked when it occurs only in sentences that carry an ask cue ("open question", "asked if
    anyone", "nobody knew"), or anywhere in a mentee's transcript turn (`asked_turn`); otherwise taught.
    """
    topics = list(dict.fromkeys(topics))
    if asked_turn:
        return set(), set(topics)
    ask_words: set[str] = set()
    other_words: set[str] = set()
    for s in sentences(text):
        (ask_words if ASK_CUES.search(s) else other_words).update(words(s))
    taught, asked = set(), set()
    for t in topics:
        if mentions(t, ask_words) and not mentions(t, other_words):
            asked.add(t)
        else:
            taught.add(t)
    return taught, asked


@dataclass
class TopicStats:
    """Supply and demand of one canonical topic over the sessions a viewer may read."""

    teachers: Counter[str] = field(default_factory=Counter)  # person -> sessions taught
    taught_sessions: set[str] = field(default_factory=set)
    asked_sessions: set[str] = field(default_factory=set)
    askers: set[str] = field(default_factory=set)
    questions: set[int] = field(default_factory=set)  # ids of logged questions
    last_taught: date | None = None

    @property
    def demand(self) -> int:
        """Logged questions plus sessions in which it was asked."""
        return len(self.questions) + len(self.asked_sessions)

    def absorb(self, other: TopicStats) -> None:
        """Add another topic's supply and demand to this one."""
        self.teachers.update(other.teachers)
        self.taught_sessions |= other.taught_sessions
        self.asked_sessions |= other.asked_sessions
        self.askers |= other.askers
        self.questions |= other.questions
        if other.last_taught:
            self.last_taught = max(self.last_taught or other.last_taught, other.last_taught)


def add_taught(stats: dict[str, TopicStats], topic: str, session_id: str, when: date, people: Iterable[str]) -> None:
    """Record that people taught a topic in a session."""
    st = stats.setdefault(topic, TopicStats())
    if session_id not in st.taught_sessions:
        st.taught_sessions.add(session_id)
        st.teachers.update(set(people))
    st.last_taught = max(st.last_taught or when, when)


def add_asked(stats: dict[str, TopicStats], topic: str, session_id: str, people: Iterable[str]) -> None:
    """Record that people asked about a topic in a session."""
    st = stats.setdefault(topic, TopicStats())
    st.asked_sessions.add(session_id)
    st.askers.update(people)


def related(a: str, b: str) -> bool:
    """Do two topic phrases name the same subject ("quantum" / "post-quantum encryption" / "quantum-safe
    encryption"): one's words inside the other's, or half their words shared?"""
    wa, wb = words(a), words(b)
    return bool(wa and wb) and (wa <= wb or wb <= wa or len(wa & wb) / len(wa | wb) >= 0.5)


def gap_topics(
    stats: Mapping[str, TopicStats], *, max_teachers: int = 0, min_demand: int = 2
) -> list[tuple[str, TopicStats, list[str]]]:
    """Topics people ask about that at most max_teachers people teach: (topic, merged stats, variants).

    Variants of one subject asked in different words are merged first (each alone may be asked only
    once), then groups with less than min_demand are dropped. Most wanted first: fewest teachers, then
    most demand. Phrases that are themselves ask cues ("open question", "nobody") are not topics.
    """
    candidates = sorted(
        (t for t, st in stats.items() if len(st.teachers) <= max_teachers and st.demand and not ASK_CUES.search(t)),
        key=lambda t: (-stats[t].demand, -len(words(t)), t),
    )
    groups: list[list[str]] = []
    for t in candidates:
        for g in groups:
            if any(related(t, m) for m in g):
                g.append(t)
                break
        else:
            groups.append([t])
    out = []
    for g in groups:
        merged = TopicStats()
        for t in g:
            merged.absorb(stats[t])
        if merged.demand >= min_demand and len(merged.teachers) <= max_teachers:
            out.append((g[0], merged, g[1:]))
    out.sort(key=lambda x: (len(x[1].teachers), -x[1].demand, x[0]))
    return out


def at_risk_topics(
    stats: Mapping[str, TopicStats], candidates: Collection[str], *, max_teachers: int = 2, min_sessions: int = 2
) -> list[tuple[str, TopicStats]]:
    """Candidate topics taught in at least min_sessions sessions but by only 1..max_teachers people.

    Most fragile first: fewest teachers, then most sessions (much knowledge, few holders).
    """
    out = [
        (t, stats[t])
        for t in candidates
        if t in stats and 1 <= len(stats[t].teachers) <= max_teachers and len(stats[t].taught_sessions) >= min_sessions
    ]
    out.sort(key=lambda x: (len(x[1].teachers), -len(x[1].taught_sessions), x[0]))
    return out


def reverse_score(
    teacher_levels: Mapping[str, int], learner_levels: Mapping[str, int]
) -> tuple[float, float, list[str], list[str]] | None:
    """(teacher median, learner median, junior teachers, senior learners) when juniors teach seniors, else None."""
    if not teacher_levels or not learner_levels:
        return None
    t_med = float(statistics.median(teacher_levels.values()))
    l_med = float(statistics.median(learner_levels.values()))
    if l_med <= t_med:
        return None
    juniors = sorted((p for p, lv in teacher_levels.items() if lv < l_med), key=lambda p: (teacher_levels[p], p))
    seniors = sorted((p for p, lv in learner_levels.items() if lv > t_med), key=lambda p: (-learner_levels[p], p))
    return t_med, l_med, juniors, seniors


# -- demand from logged questions ---------------------------------------------------------------------------------


def match_questions(
    question_topics: Sequence[Collection[str]],
    question_vectors: np.ndarray | None,
    cluster_topics: Sequence[Collection[str]],
    centroids: np.ndarray,
    *,
    min_cosine: float = 0.35,
) -> list[set[int]]:
    """For each question, the clusters it asks about: those sharing a topic with it, plus the nearest
    centroid when its cosine reaches min_cosine."""
    out: list[set[int]] = []
    for qi, qt in enumerate(question_topics):
        hit = {ci for ci, ct in enumerate(cluster_topics) if set(qt) & set(ct)}
        if question_vectors is not None and len(centroids) and qi < len(question_vectors):
            sims = centroids @ question_vectors[qi]
            best = int(np.argmax(sims))
            if sims[best] >= min_cosine:
                hit.add(best)
        out.append(hit)
    return out
