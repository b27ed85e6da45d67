"""Ranking-quality metrics shared by the evaluation scripts (expert finding, insight retrieval).

Every function takes one query's ranked list of ids and its graded judgements (id -> grade, 0 = judged
not relevant) and returns a number in [0, 1]; `summarise` averages them over queries. Pure functions,
no dependencies beyond the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Qrels = Mapping[str, int]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q in 0..100) by nearest rank: the ceil(q/100 * n)-th smallest value."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def reciprocal_rank(ranked: Sequence[str], qrels: Qrels, *, min_grade: int = 1) -> float:
    """1 / rank of the first id graded >= min_grade (0 when none is ranked)."""
    for rank, pid in enumerate(ranked, start=1):
        if qrels.get(pid, 0) >= min_grade:
            return 1.0 / rank
    return 0.0


def precision_at(ranked: Sequence[str], qrels: Qrels, k: int, *, min_grade: int = 1) -> float:
    """Share of the first k places held by ids graded >= min_grade (an empty place counts as a miss)."""
    if k <= 0:
        raise ValueError("k must be positive")
    return sum(1 for pid in ranked[:k] if qrels.get(pid, 0) >= min_grade) / k


def hit_at(ranked: Sequence[str], qrels: Qrels, k: int, *, min_grade: int = 1) -> float:
    """1 when some id graded >= min_grade is among the first k, else 0."""
    return 1.0 if any(qrels.get(pid, 0) >= min_grade for pid in ranked[:k]) else 0.0


def recall_at(ranked: Sequence[str], qrels: Qrels, k: int, *, min_grade: int = 1) -> float:
    """Share of the ids graded >= min_grade found among the first k (0 when nothing is relevant)."""
    relevant = {pid for pid, g in qrels.items() if g >= min_grade}
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def ndcg_at(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """nDCG@k with exponential gain 2^grade - 1, against the ideal ordering of every judged id."""
    gains = [2 ** qrels.get(pid, 0) - 1 for pid in ranked[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2**g - 1 for g in qrels.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


@dataclass(frozen=True)
class Metric:
    """A named per-query metric and the minimum grade a query needs to be counted at all."""

    name: str
    fn: Callable[[Sequence[str], Qrels], float]
    needs_grade: int = 1


EXPERT_METRICS: tuple[Metric, ...] = (
    Metric("MRR", lambda r, q: reciprocal_rank(r, q, min_grade=2), needs_grade=2),
    Metric("P@1", lambda r, q: precision_at(r, q, 1, min_grade=2), needs_grade=2),
    Metric("nDCG@10", lambda r, q: ndcg_at(r, q, 10), needs_grade=1),
    Metric("Hit@10", lambda r, q: hit_at(r, q, 10, min_grade=1), needs_grade=1),
)


@dataclass
class Summary:
    """Mean of each metric over the queries that have a judgement of the grade it needs, with those counts."""

    means: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def summarise(
    runs: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Qrels],
    metrics: Sequence[Metric] = EXPERT_METRICS,
    *,
    queries: Sequence[str] | None = None,
) -> Summary:
    """Average each metric over the given queries (default: all judged ones); a query with no run scores 0."""
    out = Summary()
    chosen = list(queries) if queries is not None else list(qrels)
    for m in metrics:
        values = [
            m.fn(runs.get(q, ()), qrels[q])
            for q in chosen
            if q in qrels and any(g >= m.needs_grade for g in qrels[q].values())
        ]
        out.means[m.name] = sum(values) / len(values) if values else 0.0
        out.counts[m.name] = len(values)
    return out
