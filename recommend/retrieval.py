"""Hybrid passage retrieval: fuse dense (vector) and lexical (BM25) rankings by reciprocal rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models import Passage, Session


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its session and fused score (higher is better)."""

    passage: Passage
    session: Session
    score: float
    dense: float = 0.0  # cosine similarity to the question (0 when not retrieved densely)
    lexical: float = 0.0  # BM25 score (0 when not retrieved lexically)


def rrf(rankings: Sequence[Sequence[int]], *, k: int = 60, weights: Sequence[float] | None = None) -> dict[int, float]:
    """Reciprocal-rank fusion of several ranked id lists: sum of weight / (k + rank)."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, pid in enumerate(ranking, start=1):
            fused[pid] = fused.get(pid, 0.0) + w / (k + rank)
    return fused
