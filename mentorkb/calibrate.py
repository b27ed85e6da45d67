"""Self-calibration: tune the ranking weights on the knowledge base's own history.

Every stored session is a labelled example of "who can teach me X?": replay the day it happened, ask its
title as its mentee would, and the person who taught it is the answer. The replay sees only what existed
then: sessions dated before it (so later sessions, which a real asker could not have had, give nothing away),
with ages counted from that day. Sessions that share a title (a repeated workshop, the same question answered
twice) are hidden together, so a near-copy cannot give the answer away either. Examples come from the later
part of the history, so each has earlier sessions to learn from.

The examples are split in two: weights are tuned on one half by coordinate ascent over a small grid, and the
held-out MRR is reported before and after on the other half, which never influences the choice. The new weights
are kept only when they do not make that second half worse; they are written to `<kb>/settings.toml` (which
`Settings.load` reads) and the whole report to the store (`kv` namespace "settings", key "calibration").

Only programme-visible sessions serve as examples, and retrieval runs as an anonymous programme member, so
calibration sees nothing an ordinary member could not.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import tempfile
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentorkb.errors import SettingsError
from models import Person, Session, Viewer, Visibility
from recommend.experts import PersonStats, RankWeights, build_stats, score_people
from recommend.retrieval import Hit

if TYPE_CHECKING:
    from mentorkb.service import KnowledgeBase

# Values tried for each tuned weight, in the order coordinate ascent visits them: the greedy search depends on
# that order, so the weights with the largest effect (recency, the activity prior) come first.
# `mentor` stays 1 (it sets the scale); peer band and capacity are programme policy, not tuned.
GRID: dict[str, tuple[float, ...]] = {
    "half_life_days": (0.0, 30.0, 60.0, 90.0, 180.0, 365.0, 730.0, 1460.0),
    "activity": (0.0, 0.05, 0.1, 0.2, 0.4, 0.8),
    "sharpness": (0.0, 1.0, 2.0, 3.0, 5.0, 8.0),
    "top_passages": (1, 3, 5, 10, 20, 50),
    "lexical": (0.0, 0.5, 1.0, 2.0),
    "dense": (0.0, 0.5, 1.0, 2.0),
    "topic": (0.0, 0.1, 0.3, 0.6, 1.0),
    "mentee": (0.0, 0.05, 0.1, 0.2),
    "participant": (0.3, 0.6, 1.0),
}
MIN_GAIN = 0.005  # a change must raise the tuning MRR by half a point: with ~100 examples, less is noise
MIN_CASES = 10
HISTORY_SHARE = 0.3  # examples are drawn from sessions after the first 30% of the history
QUESTION = "who can teach me {title}?"
BLOCK_START = "# >>> calibrated by `mentorkb calibrate`"
BLOCK_END = "# <<< calibrated"
KV_NAMESPACE, KV_KEY = "settings", "calibration"


@dataclass(frozen=True)
class HeldOut:
    """One labelled example: a question, who asks it, who taught it, and the sessions hidden while asking."""

    question: str
    asker: str | None
    answers: frozenset[str]
    hidden: frozenset[str]
    as_of: date  # the replay sees only sessions dated before this day


@dataclass(frozen=True)
class Case:
    """A held-out example with everything ranking needs, computed once and reused for every weight tried."""

    answers: frozenset[str]
    hits: tuple[Hit, ...]
    asker: Person | None
    topics: tuple[str, ...]
    stats: Mapping[str, PersonStats]
    as_of: date


def title_key(title: str) -> str:
    """Titles that differ only in case, spacing or punctuation are the same session series."""
    return " ".join(re.findall(r"\w+", title.lower()))


def held_out_cases(
    sessions: Sequence[Session], *, n: int, seed: int, history_share: float = HISTORY_SHARE
) -> list[HeldOut]:
    """Up to n examples from programme-visible sessions with a mentor and a title, sampled with a fixed seed.

    Only sessions dated after the first `history_share` of the history are asked, so every replay has
    earlier sessions to find the answer in.
    """
    dates = sorted(s.date for s in sessions)
    cut = dates[min(len(dates) - 1, int(len(dates) * history_share))] if dates else None
    groups: dict[str, list[Session]] = defaultdict(list)
    for s in sessions:
        if s.visibility is Visibility.PROGRAM and s.mentors and title_key(s.title):
            groups[title_key(s.title)].append(s)
    keys = sorted(k for k in groups if cut is not None and min(s.date for s in groups[k]) > cut)
    random.Random(seed).shuffle(keys)
    cases = []
    for key in keys[:n]:
        group = sorted(groups[key], key=lambda s: s.id)
        first = group[0]
        asker = first.mentees[0] if first.mentees else None
        answers = frozenset(p for s in group for p in s.mentors if p != asker)
        if not answers:
            continue
        cases.append(
            HeldOut(
                question=QUESTION.format(title=first.title.strip().rstrip("?").strip()),
                asker=asker,
                answers=answers,
                hidden=frozenset(s.id for s in group),
                as_of=min(s.date for s in group),
            )
        )
    return cases


def mean_reciprocal_rank(cases: Sequence[Case], weights: RankWeights, people: Mapping[str, Person]) -> float:
    """MRR of the first correct teacher over the cases, ranking with these weights."""
    if not cases:
        return 0.0
    total = 0.0
    for c in cases:
        ranked = score_people(
            c.hits,
            people=people,
            asker=c.asker,
            question_topics=c.topics,
            stats=c.stats,
            weights=weights,
            today=c.as_of,
        )
        for rank, (_, pid, _) in enumerate(ranked, start=1):
            if pid in c.answers:
                total += 1.0 / rank
                break
    return total / len(cases)


def coordinate_ascent(
    cases: Sequence[Case],
    start: RankWeights,
    people: Mapping[str, Person],
    *,
    grid: Mapping[str, Sequence[float]] = GRID,
    rounds: int = 2,
) -> tuple[RankWeights, float]:
    """Try each grid value of one weight at a time, keep clear improvements, repeat; returns (weights, MRR)."""
    best, best_mrr = start, mean_reciprocal_rank(cases, start, people)
    kinds = {f.name: type(f.default) for f in fields(RankWeights)}
    for _ in range(rounds):
        improved = False
        for name, values in grid.items():
            for v in values:
                if getattr(best, name) == kinds[name](v):
                    continue
                trial = replace(best, **{name: kinds[name](v)})
                m = mean_reciprocal_rank(cases, trial, people)
                if m > best_mrr + MIN_GAIN:
                    best, best_mrr, improved = trial, m, True
        if not improved:
            break
    return best, best_mrr


def replay(kb: KnowledgeBase, held: Sequence[HeldOut], sessions: Sequence[Session]) -> list[Case]:
    """Ask each example as of its day: hits, stats and ages from earlier sessions only, its own series hidden."""
    viewer = Viewer(None)
    canon = kb.canon()
    topic_cache: dict[str, set[str]] = {}

    def topics_of(s: Session) -> set[str]:
        if s.id not in topic_cache:
            topics = {canon.canonical(t) for p in kb.store.session_passages(s.id) for t in p.topics}
            topics |= {canon.canonical(t) for t in s.tags}
            topic_cache[s.id] = topics - {""}
        return topic_cache[s.id]

    cases = []
    # Later sessions are dropped after retrieval, so fetch deeper to keep about as many earlier ones.
    depth = 2 * kb.settings.retrieval_depth
    for h in held:
        hits = kb.retrieve(h.question, viewer, depth=depth)
        earlier = tuple(x for x in hits if x.session.date < h.as_of and x.session.id not in h.hidden)
        history = [s for s in sessions if s.date < h.as_of and s.id not in h.hidden]
        cases.append(
            Case(
                answers=h.answers,
                hits=earlier,
                asker=kb.store.person(h.asker) if h.asker else None,
                topics=tuple(kb.question_topics(h.question)),
                stats=build_stats(history, viewer, topics_of, today=h.as_of),
                as_of=h.as_of,
            )
        )
    return cases


def calibrate(kb: KnowledgeBase, n: int = 200, seed: int = 0, *, save: bool = True) -> dict[str, Any]:
    """Tune the ranking weights on n held-out sessions of this knowledge base; returns weights and MRR before/after.

    Raises SettingsError when the knowledge base has too few sessions with a mentor and a title to learn from.
    """
    sessions = kb.store.sessions()
    held = held_out_cases(sessions, n=n, seed=seed)
    if len(held) < MIN_CASES:
        raise SettingsError(
            f"only {len(held)} programme sessions with a mentor and a title: too few to calibrate on",
            source=str(kb.kb_dir),
            fix=f"ingest more notes (at least {MIN_CASES} taught sessions) or keep the default weights",
        )
    cases = replay(kb, held, sessions)
    tune, check = cases[0::2], cases[1::2]
    people = {p.id: p for p in kb.store.people()}
    start = RankWeights.from_settings(kb.settings)
    tuned, _ = coordinate_ascent(tune, start, people)
    before = {"tune": mean_reciprocal_rank(tune, start, people), "check": mean_reciprocal_rank(check, start, people)}
    after = {"tune": mean_reciprocal_rank(tune, tuned, people), "check": mean_reciprocal_rank(check, tuned, people)}
    keep = after["check"] >= before["check"] and tuned != start
    chosen = tuned if keep else start
    report: dict[str, Any] = {
        "weights": chosen.as_settings(),
        "tried": tuned.as_settings(),
        "mrr_before": {k: round(v, 4) for k, v in before.items()},
        "mrr_after": {k: round(v, 4) for k, v in after.items()},
        "cases": {"tune": len(tune), "check": len(check)},
        "seed": seed,
        "saved": bool(save and keep),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if save:
        kb.store.kv_set(KV_NAMESPACE, KV_KEY, json.dumps(report))
        if keep:
            note = (
                f"held-out MRR {before['check']:.3f} -> {after['check']:.3f} on {len(check)} sessions, {report['when']}"
            )
            write_settings(Path(kb.kb_dir) / "settings.toml", chosen.as_settings(), note=note)
    return report


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(value)
    return json.dumps(str(value))


def _parse(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"cannot merge calibrated weights into it: {exc}",
            source=str(path),
            fix="correct the TOML syntax (or delete the file) and calibrate again",
        ) from exc


def write_settings(path: Path, values: Mapping[str, Any], *, note: str = "") -> None:
    """Put these settings into settings.toml at the top, keeping every other line; atomic replace.

    A previous calibrated block is replaced, and a line elsewhere setting one of these keys is dropped, so the
    file never sets a key twice (which TOML forbids).
    """
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    _parse(old, path)
    kept: list[str] = []
    inside = False
    for line in old.splitlines():
        if line.startswith(BLOCK_START):
            inside = True
            continue
        if inside:
            inside = not line.startswith(BLOCK_END)
            continue
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else ""
        if key in values:
            continue
        kept.append(line)
    block = [f"{BLOCK_START}: {note}".rstrip(": "), *(f"{k} = {_toml_value(v)}" for k, v in values.items()), BLOCK_END]
    text = "\n".join(block + kept) + "\n"
    _parse(text, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def last_calibration(kb: KnowledgeBase) -> dict[str, Any] | None:
    """The report of the latest calibration stored in this knowledge base, if any."""
    raw = kb.store.kv_get(KV_NAMESPACE, KV_KEY)
    return json.loads(raw) if raw else None
