"""Earlier insights: cited passages that answer a question, diverse and readable.

Hybrid hits -> visibility and filters -> MMR diversity -> merge adjacent passages of one speaker ->
group near-duplicates across sessions ("also said in N other sessions").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from models import Insight, Passage, Person, Session, SessionType, Viewer
from recommend.access import can_read_text, shown_text
from recommend.retrieval import Hit

DIRECTION_NAMES = ("top-down", "bottom-up", "peer")


@dataclass(frozen=True)
class InsightFilters:
    """Optional filters; None means no restriction."""

    topic: str | None = None  # canonical topic id
    person: str | None = None  # roster id: a participant of the session
    type: SessionType | None = None
    since: date | None = None
    until: date | None = None
    direction: str | None = None  # top-down | bottom-up | peer


def session_direction(session: Session, people: Mapping[str, Person]) -> str:
    """Which way knowledge flowed, from levels: top-down, bottom-up or peer."""

    def mean(ids: Sequence[str]) -> float | None:
        levels = [people[i].level for i in ids if i in people and people[i].level is not None]
        return sum(levels) / len(levels) if levels else None

    if session.type is SessionType.REVERSE:
        return "bottom-up"
    teach, learn = mean(session.mentors), mean(session.mentees)
    if teach is None or learn is None:
        return "peer"
    if teach > learn:
        return "top-down"
    if teach < learn:
        return "bottom-up"
    return "peer"


def passes(hit: Hit, f: InsightFilters, people: Mapping[str, Person]) -> bool:
    """Does a hit satisfy the filters?"""
    s = hit.session
    if f.topic and f.topic not in hit.passage.topics and f.topic not in s.tags:
        return False
    if f.person and f.person not in s.people and hit.passage.speaker != f.person:
        return False
    if f.type and s.type is not f.type:
        return False
    if f.since and s.date < f.since:
        return False
    if f.until and s.date > f.until:
        return False
    return not (f.direction and session_direction(s, people) != f.direction)


def mmr(
    hits: Sequence[Hit], vectors: Mapping[int, np.ndarray], *, k: int, lam: float, session_penalty: float = 0.15
) -> list[Hit]:
    """Maximal marginal relevance: relevant but not near-copies, and not all from one session."""
    if not hits:
        return []
    top = max(h.score for h in hits) or 1.0
    pool = list(hits)
    chosen: list[Hit] = []
    while pool and len(chosen) < k:
        best, best_val = None, -1e9
        for h in pool:
            rel = h.score / top
            sim = 0.0
            v = vectors.get(h.passage.id or -1)
            for c in chosen:
                cv = vectors.get(c.passage.id or -1)
                s = float(v @ cv) if v is not None and cv is not None else 0.0
                if c.session.id == h.session.id:
                    s = max(s, 0.0) + session_penalty
                sim = max(sim, s)
            val = lam * rel - (1 - lam) * sim
            if val > best_val:
                best, best_val = h, val
        chosen.append(best)
        pool.remove(best)
    return chosen


def merge_adjacent(hit: Hit, neighbours: Sequence[Passage], max_chars: int = 1200) -> Passage:
    """Join the passage with adjacent passages of the same speaker so the result reads as a complete thought."""
    p = hit.passage
    if p.speaker is None:
        return p
    by_ord = {n.ordinal: n for n in neighbours}
    start, end = p.ordinal, p.ordinal
    text = p.text
    while (n := by_ord.get(start - 1)) and n.speaker == p.speaker and len(text) + len(n.text) < max_chars:
        start -= 1
        text = n.text + " " + text
    while (n := by_ord.get(end + 1)) and n.speaker == p.speaker and len(text) + len(n.text) < max_chars:
        end += 1
        text = text + " " + n.text
    return replace(p, text=text, line_start=by_ord[start].line_start, line_end=by_ord[end].line_end)


def search_insights(
    hits: Sequence[Hit],
    *,
    viewer: Viewer,
    people: Mapping[str, Person],
    filters: InsightFilters,
    vectors: Mapping[int, np.ndarray],
    neighbours: Callable[[str], Sequence[Passage]],
    top: int = 10,
    mmr_lambda: float = 0.7,
    duplicate_cosine: float = 0.9,
) -> list[Insight]:
    """Rank readable passages for a question and return cited insights."""
    pool = [h for h in hits if can_read_text(h.session, viewer) and passes(h, filters, people)]
    ranked = mmr(pool[: max(top * 5, 50)], vectors, k=top * 3, lam=mmr_lambda)
    groups: list[tuple[Hit, list[str]]] = []
    for h in ranked:
        v = vectors.get(h.passage.id or -1)
        for lead, also in groups:
            lv = vectors.get(lead.passage.id or -1)
            if (
                v is not None
                and lv is not None
                and lead.session.id != h.session.id
                and float(v @ lv) >= duplicate_cosine
            ):
                if h.session.id not in also:
                    also.append(h.session.id)
                break
        else:
            groups.append((h, []))
    out: list[Insight] = []
    for lead, also in groups[:top]:
        s = lead.session
        merged = merge_adjacent(lead, neighbours(s.id))
        out.append(
            Insight(
                session_id=s.id,
                title=s.title,
                date=s.date,
                type=s.type,
                source=s.source,
                lines=(merged.line_start, merged.line_end),
                text=shown_text(s, viewer, merged.text),
                score=round(lead.score, 5),
                speaker=merged.speaker,
                topics=merged.topics,
                also_in=tuple(also),
            )
        )
    return out
