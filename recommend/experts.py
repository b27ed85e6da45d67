"""Who can teach me X? Aggregate retrieved passages to the people who taught them.

Evidence-based expert finding: each retrieved passage credits the person who taught it (the speaker of a
transcript turn, else the session's mentors), weighted by their role, the passage's relevance and its age;
a person's score sums their best passages, plus a topic-match bonus and a mild activity prior.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from models import Evidence, Person, Recommendation, Relation, Role, Session, Viewer
from recommend.access import can_read_text, shown_text
from recommend.retrieval import Hit

DIRECTIONS = ("any", "mentor", "reverse", "peer")


@dataclass(frozen=True)
class RankWeights:
    """The documented ranking weights (see mentorkb.settings for each one's meaning)."""

    mentor: float = 1.0
    participant: float = 0.6
    mentee: float = 0.1
    topic: float = 0.3
    half_life_days: float = 730.0
    activity: float = 0.1
    top_passages: int = 5
    peer_band: int = 0
    capacity_penalty: float = 0.85


@dataclass
class PersonStats:
    """What the knowledge base knows about one person's sessions (only sessions the viewer may know)."""

    taught_sessions: int = 0
    last_active: date | None = None
    taught_topics: set[str] = field(default_factory=set)
    learned_topics: set[str] = field(default_factory=set)
    current_mentees: set[str] = field(default_factory=set)


def relation(candidate: Person, asker: Person | None, peer_band: int = 0) -> Relation:
    """Candidate's relation to the asker from experience levels (never age)."""
    if asker is None or asker.level is None or candidate.level is None:
        return Relation.UNKNOWN
    diff = candidate.level - asker.level
    if diff > peer_band:
        return Relation.MENTOR
    if diff < -peer_band:
        return Relation.REVERSE_MENTOR
    return Relation.PEER


def direction_allows(direction: str, rel: Relation) -> bool:
    """Does the --direction filter keep this relation?"""
    if direction == "any":
        return True
    wanted = {"mentor": Relation.MENTOR, "reverse": Relation.REVERSE_MENTOR, "peer": Relation.PEER}[direction]
    return rel is wanted


def credited(hit: Hit) -> list[tuple[str, Role]]:
    """Who taught this passage, and in what role: the speaker of a transcript turn, else the session's teachers."""
    s = hit.session
    if hit.passage.speaker:
        role = s.role_of(hit.passage.speaker) or Role.PARTICIPANT
        return [(hit.passage.speaker, role)]
    out = [(p, Role.MENTOR) for p in s.mentors]
    out += [(p, Role.PARTICIPANT) for p in s.participants]
    out += [(p, Role.MENTEE) for p in s.mentees]
    return out


_BROAD = re.compile(
    r"\b(career|grow|growth|promotion|leader|leadership|manage|manager|management|long[- ]term|become|path|"
    r"transition|confidence|mentor me|develop)\w*",
    re.I,
)


def suggest_format(question: str, n_topics: int) -> str:
    """A narrow question suits a flash session; a broad, career-level one a longer mentorship."""
    if _BROAD.search(question) or n_topics > 3:
        return "mentorship (a few sessions over 2-3 months)"
    return "flash session (30 minutes)"


def rank_experts(
    hits: Sequence[Hit],
    *,
    people: Mapping[str, Person],
    asker: Person | None,
    viewer: Viewer,
    question: str,
    question_topics: Collection[str],
    stats: Mapping[str, PersonStats],
    weights: RankWeights,
    today: date,
    direction: str = "any",
    top: int = 5,
) -> list[Recommendation]:
    """Rank people for a question from retrieved passages; the asker never appears."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    role_w = {Role.MENTOR: weights.mentor, Role.PARTICIPANT: weights.participant, Role.MENTEE: weights.mentee}
    top_score = max((h.score for h in hits), default=1.0) or 1.0
    contributions: dict[str, list[tuple[float, Hit]]] = defaultdict(list)
    for hit in hits:
        age = max(0, (today - hit.session.date).days)
        decay = 0.5 ** (age / weights.half_life_days) if weights.half_life_days > 0 else 1.0
        for pid, role in credited(hit):
            if asker is not None and pid == asker.id:
                continue
            contributions[pid].append((hit.score / top_score * role_w[role] * decay, hit))
    qtopics = set(question_topics)
    scored: list[tuple[float, str, list[tuple[float, Hit]]]] = []
    for pid, contrib in contributions.items():
        if pid not in people:
            continue
        contrib.sort(key=lambda c: -c[0])
        best = contrib[: weights.top_passages]
        score = sum(c for c, _ in best)
        st = stats.get(pid, PersonStats())
        if qtopics and st.taught_topics & qtopics:
            score += weights.topic * len(st.taught_topics & qtopics) / len(qtopics)
        score += weights.activity * math.log1p(st.taught_sessions)
        p = people[pid]
        if p.capacity is not None and len(st.current_mentees) >= p.capacity:
            score *= weights.capacity_penalty
        scored.append((score, pid, best))
    scored.sort(key=lambda t: (-t[0], t[1]))
    results: list[Recommendation] = []
    for score, pid, best in scored:
        p = people[pid]
        rel = relation(p, asker, weights.peer_band)
        if not direction_allows(direction, rel):
            continue
        st = stats.get(pid, PersonStats())
        evidence = _evidence(best, viewer)
        matched = sorted(
            {t for _, h in best if can_read_text(h.session, viewer) for t in h.passage.topics}
            & (qtopics or {t for _, h in best for t in h.passage.topics})
        )
        results.append(
            Recommendation(
                person=p,
                relation=rel,
                score=round(score, 4),
                evidence=evidence,
                topics=tuple(matched[:6]),
                n_sessions=st.taught_sessions,
                last_active=st.last_active,
                at_capacity=p.capacity is not None and len(st.current_mentees) >= p.capacity,
                suggested_format=suggest_format(question, len(qtopics)),
                skill_swap=_skill_swap(asker, p, stats),
            )
        )
        if len(results) >= top:
            break
    return results


def _evidence(best: Sequence[tuple[float, Hit]], viewer: Viewer) -> tuple[Evidence, ...]:
    out: list[Evidence] = []
    seen: set[str] = set()
    for c, h in best:
        if h.session.id in seen:
            continue  # one quote per session reads better than three from the same note
        seen.add(h.session.id)
        s: Session = h.session
        out.append(
            Evidence(
                session_id=s.id,
                date=s.date,
                type=s.type,
                source=s.source,
                lines=(h.passage.line_start, h.passage.line_end),
                quote=shown_text(s, viewer, h.passage.text),
                title=s.title,
                speaker=h.passage.speaker,
                score=round(c, 4),
            )
        )
        if len(out) == 3:
            break
    return tuple(out)


def _skill_swap(asker: Person | None, candidate: Person, stats: Mapping[str, PersonStats]) -> str:
    if asker is None:
        return ""
    mine, theirs = stats.get(asker.id), stats.get(candidate.id)
    if not mine or not theirs:
        return ""
    common = sorted(mine.taught_topics & theirs.learned_topics)
    if not common:
        return ""
    return f"Skill swap: you have taught {', '.join(common[:2])}, which {candidate.name} has been learning."
