"""Earlier insights: cited passages that answer a question, diverse and readable.

Hybrid hits (dense + BM25, fused) -> visibility and filters -> evidence score -> diversity -> near-duplicates
grouped -> each result widened to a complete thought and cited to its source lines.

The evidence score of a passage is its own fused score, mixed in a transcript with the mean score of the turns
around it (a topic is discussed over many short turns, so a stretch where several turns match beats a stray match
of about the same score), plus the support of its session (the session that discusses the question most is the
likeliest source) and a bonus when the question names its speaker ("what did Priya Nair say about ...").
Diversity is maximal marginal relevance over the passage vectors, with one result per stretch of a transcript.
A result is the passage joined with adjacent passages of the same speaker; a very short transcript turn also gets
the exchange around it, citing the widened line range. Measured on real meeting transcripts by
benchmarks/eval_insights.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from models import Insight, Passage, Person, Session, SessionType, Viewer
from recommend.access import can_read_text, shown_text
from recommend.retrieval import Hit

DIRECTION_NAMES = ("top-down", "bottom-up", "peer")

VectorLookup = Mapping[int, np.ndarray] | Callable[[Sequence[int]], Mapping[int, np.ndarray]]


@dataclass(frozen=True)
class InsightFilters:
    """Optional filters; None means no restriction."""

    topic: str | None = None  # canonical topic id
    person: str | None = None  # roster id: a participant of the session
    type: SessionType | None = None
    since: date | None = None
    until: date | None = None
    direction: str | None = None  # top-down | bottom-up | peer


@dataclass(frozen=True)
class InsightParams:
    """Tunables of insight ranking; the service fills them from settings."""

    mmr_lambda: float = 0.7  # 1 = pure relevance, 0 = pure novelty
    duplicate_cosine: float = 0.9  # passages of two sessions this similar are one insight said twice
    neighbour_weight: float = 0.3  # share of a transcript turn's score taken from the turns around it
    neighbour_turns: float = 4.0  # a neighbouring turn's weight halves every this many turns away
    session_weight: float = 0.3  # weight of the support of the whole session
    session_passages: int = 5  # a session's support is the mean of its best this many passages
    speaker_bonus: float = 0.3  # added (times the passage's own score) when the question names the speaker
    same_stretch_turns: int = 6  # transcript hits this few turns from a result belong to it (one result per stretch)
    session_penalty: float = 0.15  # extra similarity between two results of one session (spreads results)
    min_chars: int = 160  # a transcript result shorter than this gets the exchange around it
    max_chars: int = 1200  # a result is never widened past this many characters
    exchange_turns: int = 2  # at most this many turns added on each side of a short transcript result
    candidates: int = 60  # best-scored hits considered by the diversity step (at least 5 x top)


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


def _tag_key(tag: str) -> str:
    return re.sub(r"[\s_-]+", " ", tag.strip().lower())


def passes(hit: Hit, f: InsightFilters, people: Mapping[str, Person], direction: str | None = None) -> bool:
    """Does a hit satisfy the filters? `direction` may pass the session's precomputed direction."""
    s = hit.session
    if f.topic and f.topic not in hit.passage.topics and _tag_key(f.topic) not in {_tag_key(t) for t in s.tags}:
        return False
    if f.person and f.person not in s.people and hit.passage.speaker != f.person:
        return False
    if f.type and s.type is not f.type:
        return False
    if f.since and s.date < f.since:
        return False
    if f.until and s.date > f.until:
        return False
    if f.direction:
        return (direction or session_direction(s, people)) == f.direction
    return True


def named_speakers(question: str, people: Iterable[Person]) -> set[str]:
    """Ids of the people a question names by full name or roster id ("what did Priya Nair say about ...")."""
    q = " " + re.sub(r"[^\w@.]+", " ", question.lower()) + " "
    out = set()
    for p in people:
        for name in {p.name.lower(), p.id.lower()}:
            key = re.sub(r"[^\w@.]+", " ", name).strip()
            if len(key) > 2 and f" {key} " in q:
                out.add(p.id)
    return out


def evidence_scores(
    hits: Sequence[Hit], params: InsightParams, named: frozenset[str] | set[str] = frozenset()
) -> np.ndarray:
    """Score each hit by its own fused score, the turns around it, its session and a speaker the question names.

    Around a transcript turn the score mixes in a kernel-weighted mean over the neighbouring turns (a turn not
    retrieved counts as 0), so a stretch where many turns match keeps its score and a stray match loses part of it.
    A mean, unlike a sum, never lifts a transcript of many short turns above a note whose paragraph matches as well.
    A session's support is the mean of its best few passages, relative to the best-supported session.
    """
    if not hits:
        return np.zeros(0)
    own = np.array([h.score for h in hits], dtype=np.float64)
    own /= own.max() or 1.0
    score = own.copy()
    by_session: dict[str, list[int]] = {}
    for i, h in enumerate(hits):
        by_session.setdefault(h.session.id, []).append(i)
    reach = max(1, round(3 * params.neighbour_turns))  # beyond this the kernel weighs under 1/8
    kernel = np.exp2(-np.arange(reach + 1) / params.neighbour_turns)
    support = {}
    for sid, idx in by_session.items():
        rows = np.asarray(idx)
        support[sid] = float(np.sort(own[rows])[::-1][: params.session_passages].mean())
        if hits[idx[0]].session.is_transcript and params.neighbour_weight:
            ords = np.array([hits[i].passage.ordinal for i in idx])
            gap = np.abs(ords[:, None] - ords[None, :])
            weights = np.where(gap <= reach, kernel[np.minimum(gap, reach)], 0.0)
            # The kernel's mass over the turns that exist (a transcript has no turn before its first).
            mass = kernel.sum() * 2 - kernel[0] - np.array([kernel[o + 1 :].sum() for o in np.minimum(ords, reach)])
            local = (weights @ own[rows]) / mass
            score[rows] = (1 - params.neighbour_weight) * own[rows] + params.neighbour_weight * local
    top_support = max(support.values()) or 1.0
    score += params.session_weight * np.array([support[h.session.id] / top_support for h in hits])
    if named:
        score += params.speaker_bonus * own * np.array([h.passage.speaker in named for h in hits])
    return score


def _vector_matrix(hits: Sequence[Hit], vectors: Mapping[int, np.ndarray]) -> np.ndarray:
    """Unit vectors of the hits' passages as rows (zeros where a vector is missing)."""
    dim = next((len(v) for v in vectors.values()), 1)
    out = np.zeros((len(hits), dim), dtype=np.float32)
    for i, h in enumerate(hits):
        v = vectors.get(h.passage.id if h.passage.id is not None else -1)
        if v is not None:
            out[i] = v
    return out


def diversify(
    hits: Sequence[Hit], scores: np.ndarray, vecs: np.ndarray, *, k: int, params: InsightParams
) -> list[tuple[int, list[int]]]:
    """Maximal marginal relevance with one result per stretch of a session and near-duplicates folded in.

    Returns (index of the chosen hit, indices of hits in other sessions that say nearly the same) in rank order.
    """
    n = len(hits)
    if not n:
        return []
    span = scores.max() - scores.min()  # min-max, so that lambda weighs relevance against similarity evenly
    rel = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    cosine = vecs @ vecs.T
    sessions = np.array([h.session.id for h in hits])
    same = sessions[:, None] == sessions[None, :]
    sim = np.where(same, np.maximum(cosine, 0.0) + params.session_penalty, cosine)
    ords = np.array([h.passage.ordinal for h in hits])
    turns = np.array([h.session.is_transcript for h in hits])
    near = same & turns[:, None] & (np.abs(ords[:, None] - ords[None, :]) <= params.same_stretch_turns)
    dup = ~same & (cosine >= params.duplicate_cosine) & (np.abs(vecs).sum(axis=1) > 0)[None, :]
    open_ = np.ones(n, dtype=bool)
    max_sim = np.full(n, -np.inf)
    chosen: list[tuple[int, list[int]]] = []
    lam = params.mmr_lambda
    while open_.any() and len(chosen) < k:
        value = lam * rel - (1 - lam) * np.where(np.isfinite(max_sim), max_sim, 0.0)
        best = int(np.argmax(np.where(open_, value, -np.inf)))
        also = [int(j) for j in np.flatnonzero(dup[best] & open_)]
        chosen.append((best, also))
        open_ &= ~(near[best] | dup[best])
        open_[best] = False
        max_sim = np.maximum(max_sim, sim[:, best])
    return chosen


def _by_ordinal(neighbours: Sequence[Passage]) -> Callable[[int], Passage | None]:
    """Passage lookup by ordinal: a plain index when the list holds ordinals 0..n-1 in order (the usual case)."""
    if neighbours and neighbours[0].ordinal == 0 and neighbours[-1].ordinal == len(neighbours) - 1:
        return lambda o: neighbours[o] if 0 <= o < len(neighbours) else None
    return {n.ordinal: n for n in neighbours}.get


def widen(lead: Passage, neighbours: Sequence[Passage], *, session: Session, params: InsightParams) -> list[Passage]:
    """The passages a result shows, in order: the lead and adjacent passages of its speaker; in a transcript, a
    mentee's turn with the mentor's reply after it, and a very short turn with the exchange around it."""
    at = _by_ordinal(neighbours)
    get = lambda o: lead if o == lead.ordinal else at(o)  # noqa: E731
    start = end = lead.ordinal
    size = len(lead.text)
    if lead.speaker is not None:
        while (n := get(start - 1)) and n.speaker == lead.speaker and size + len(n.text) < params.max_chars:
            start -= 1
            size += len(n.text) + 1
        while (n := get(end + 1)) and n.speaker == lead.speaker and size + len(n.text) < params.max_chars:
            end += 1
            size += len(n.text) + 1
    if session.is_transcript and lead.speaker in session.mentees:
        # What a mentee says sets up what was taught: the insight is in the mentor's reply.
        while (n := get(end + 1)) and n.speaker in session.mentors and size + len(n.text) < params.max_chars:
            end += 1
            size += len(n.text) + 1
            if (after := get(end + 1)) is None or after.speaker != n.speaker:
                break
    if session.is_transcript and size < params.min_chars:
        # A short question is completed by the answer after it; a short reply by what it answers.
        sides = ("after", "before") if get(end).text.rstrip().endswith("?") else ("before", "after")
        added = dict.fromkeys(sides, 0)
        while size < params.min_chars:
            grew = False
            for side in sides:
                o = start - 1 if side == "before" else end + 1
                n = get(o)
                if n is None or added[side] >= params.exchange_turns or size + len(n.text) > params.max_chars:
                    continue
                added[side] += 1
                size += len(n.text) + 1
                start, end = (o, end) if side == "before" else (start, o)
                grew = True
                if size >= params.min_chars:
                    break
            if not grew:
                break
    return [p for o in range(start, end + 1) if (p := get(o)) is not None]


def quote(parts: Sequence[Passage], people: Mapping[str, Person]) -> str:
    """The text shown for a result: one speaker's words run on; an exchange shows who said what, a turn a line.

    Passages on the same or the next source line run on with a space; across a gap (a WebVTT cue's timing line)
    they start a new line, so every line of a quote is found as written in the source.
    """
    several = len({p.speaker for p in parts}) > 1

    def name(pid: str | None) -> str:
        return people[pid].name if pid in people else (pid or "")

    out = ""
    for i, p in enumerate(parts):
        text = f"{name(p.speaker)}: {p.text}" if several and p.speaker else p.text
        if i == 0:
            out = text
        elif not several and p.line_start <= parts[i - 1].line_end + 1:
            out += " " + text
        else:
            out += "\n" + text
    return out


def search_insights(
    hits: Sequence[Hit],
    *,
    viewer: Viewer,
    people: Mapping[str, Person],
    filters: InsightFilters,
    vectors: VectorLookup,
    neighbours: Callable[[str], Sequence[Passage]],
    top: int = 10,
    question: str = "",
    params: InsightParams | None = None,
    mmr_lambda: float | None = None,
    duplicate_cosine: float | None = None,
) -> list[Insight]:
    """Rank readable passages for a question and return cited insights.

    Args:
        hits: fused hybrid hits, best first (any visibility: unreadable ones are dropped here).
        vectors: passage vectors by id, or a function that looks them up for a list of ids.
        neighbours: a session's passages in reading order (called at most once per result session).
        question: the question, to notice people it names; empty disables that bonus.
        params: ranking tunables; `mmr_lambda` / `duplicate_cosine` override theirs when given.
    """
    params = params or InsightParams()
    if mmr_lambda is not None or duplicate_cosine is not None:
        params = replace(
            params,
            mmr_lambda=params.mmr_lambda if mmr_lambda is None else mmr_lambda,
            duplicate_cosine=params.duplicate_cosine if duplicate_cosine is None else duplicate_cosine,
        )
    directions: dict[str, str] = {}
    pool = []
    for h in hits:
        if not can_read_text(h.session, viewer):
            continue
        if filters.direction and h.session.id not in directions:
            directions[h.session.id] = session_direction(h.session, people)
        if passes(h, filters, people, directions.get(h.session.id)):
            pool.append(h)
    if not pool:
        return []
    named = named_speakers(question, people.values()) if question else set()
    scores = evidence_scores(pool, params, named)
    order = np.argsort(-scores, kind="stable")[: max(params.candidates, top * 5)]
    cands = [pool[i] for i in order]
    ids = [h.passage.id for h in cands if h.passage.id is not None]
    found = vectors(ids) if callable(vectors) else vectors
    picked = diversify(cands, scores[order], _vector_matrix(cands, found), k=top, params=params)
    session_cache: dict[str, Sequence[Passage]] = {}
    out: list[Insight] = []
    for i, also in picked:
        lead = cands[i]
        s = lead.session
        if s.id not in session_cache:
            session_cache[s.id] = neighbours(s.id)
        parts = widen(lead.passage, session_cache[s.id], session=s, params=params)
        topics = tuple(dict.fromkeys(t for p in parts for t in p.topics))
        out.append(
            Insight(
                session_id=s.id,
                title=s.title,
                date=s.date,
                type=s.type,
                source=s.source,
                lines=(min(p.line_start for p in parts), max(p.line_end for p in parts)),
                text=shown_text(s, viewer, quote(parts, people)),
                score=round(float(scores[order][i]), 5),
                speaker=lead.passage.speaker,
                topics=topics,
                also_in=tuple(dict.fromkeys(cands[j].session.id for j in also)),
            )
        )
    return out
