"""How far could a better weighting of mentorkb's own evidence go? A supervised upper bound, not a system.

The who-can-teach ranking combines per-person evidence (passage relevance from dense + BM25 retrieval, how many
sessions match, the person's activity, topic overlap, recency) with documented weights. This diagnostic asks
whether *any* linear weighting of those signals would rank much better on the Stack Exchange evaluation set: it
extracts ten features per candidate from the same retrieval `kb.ask` uses and fits logistic regression on the
evaluation labels themselves, scored by 5-fold cross-validation over the queries (each query ranked by a model
that never saw it). A product cannot do this (it has no such labels); the figure is a ceiling for the feature
set, so when it sits close to the shipped ranking, reaching a much higher target needs new evidence, not new
weights. Optional extra features test two further signals: whether the candidate taught the asker before, and
how many of the best-matching sessions' tags the candidate taught.

Needs the knowledge base built by `benchmarks.eval_experts` in the same --work folder:

    python -m benchmarks.eval_experts --data ../shared/data/quantumcomputing-stackexchange --split random --work W
    python -m benchmarks.ceiling_experts --data ../shared/data/quantumcomputing-stackexchange --split random --work W
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.eval_experts import SPLITS, EvalSet, evaluate, format_table, load_split, open_kb  # noqa: E402

FEATURES = (
    "best session relevance",
    "sum over 20 best sessions, sharpness 3",
    "sum over 20 best sessions, sharpness 8",
    "sum of 5 best relevances",
    "matching sessions",
    "log taught sessions",
    "question-topic overlap",
    "months since last active",
    "best cosine",
    "passages in the top 10",
)
EXTRA = ("log sessions taught to the asker", "tags of the 10 best sessions the candidate taught")
FOLDS = 5


def candidate_features(kb, ev: EvalSet, *, extra: bool) -> list[tuple[str, list[str], np.ndarray, np.ndarray]]:
    """Per query: (query id, candidate ids, feature matrix, 1 for the accepted answerer else 0)."""
    from recommend.experts import credited, passage_relevance, reference_date, score_people

    weights = kb.weights()
    people = {p.id: p for p in kb.store.people()}
    taught_asker: dict[str, Counter[str]] = defaultdict(Counter)
    tags_taught: dict[str, set[str]] = defaultdict(set)
    for n in ev.notes:
        taught_asker[n.mentee][n.mentor] += 1
        tags_taught[n.mentor].update(n.tags)
    note_tags = {n.id: n.tags for n in ev.notes}
    out = []
    for q in ev.queries:
        viewer = kb.viewer(q.asker)
        hits = kb.retrieve(q.question, viewer)
        stats = kb.person_stats(viewer)
        qtopics = set(kb.question_topics(q.question))
        asker = people.get(q.asker)
        rel = passage_relevance(hits, weights)
        top = max(rel, default=1.0) or 1.0
        asof = reference_date(stats, date.today())
        best: dict[str, dict[str, float]] = defaultdict(dict)
        dense_max: dict[str, float] = defaultdict(float)
        top10: Counter[str] = Counter()
        for rank, (h, r) in enumerate(zip(hits, rel)):
            for pid, role in credited(h):
                if pid == q.asker or role.value != "mentor":
                    continue
                sessions = best[pid]
                sessions[h.session.id] = max(sessions.get(h.session.id, 0.0), r / top)
                dense_max[pid] = max(dense_max[pid], h.dense)
                top10[pid] += rank < 10
        near = Counter()
        for _, _pid, ev_ in score_people(
            hits, people=people, asker=asker, question_topics=qtopics, stats=stats, weights=weights, today=date.today()
        )[:10]:
            for _, h in ev_[:1]:
                near.update(note_tags.get(h.session.id, ()))
        ids, rows = [], []
        for pid, sessions in best.items():
            v = sorted(sessions.values(), reverse=True)[:20]
            st = stats.get(pid)
            row = [
                v[0],
                sum(math.exp(3 * (x - 1)) for x in v),
                sum(math.exp(8 * (x - 1)) for x in v),
                sum(v[:5]),
                len(sessions),
                math.log1p(st.taught_sessions if st else 0),
                len(st.taught_topics & qtopics) / max(1, len(qtopics)) if st else 0.0,
                (asof - st.last_active).days / 30 if st and st.last_active else 12.0,
                dense_max[pid],
                top10[pid],
            ]
            if extra:
                z = sum(near.values()) or 1
                row += [
                    math.log1p(taught_asker[q.asker][pid]),
                    sum(c for t, c in near.items() if t in tags_taught[pid]) / z,
                ]
            ids.append(pid)
            rows.append(row)
        grades = ev.qrels.get(q.id, {})
        out.append((q.id, ids, np.array(rows, dtype=float), np.array([int(grades.get(p, 0) >= 2) for p in ids])))
    return out


def cross_validated_run(groups, *, c: float, seed: int = 0) -> dict[str, list[str]]:
    """Rank each query's candidates with a logistic regression fitted on the other folds' queries."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    fold = np.random.RandomState(seed).randint(0, FOLDS, len(groups))
    run: dict[str, list[str]] = {}
    for f in range(FOLDS):
        train = [g for g, k in zip(groups, fold) if k != f and len(g[1])]
        x = np.vstack([g[2] for g in train])
        scaler = StandardScaler().fit(x)
        model = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(x), np.concatenate([g[3] for g in train]))
        for (qid, ids, feats, _), k in zip(groups, fold):
            if k == f:
                s = model.decision_function(scaler.transform(feats)) if len(ids) else []
                run[qid] = [ids[i] for i in np.argsort(-np.asarray(s), kind="stable")]
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: shipped ranking vs cross-validated supervised weightings of its own features."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the quantumcomputing-stackexchange folder")
    ap.add_argument("--split", choices=SPLITS, default="random")
    ap.add_argument("--work", type=Path, required=True, help="the --work folder of an eval_experts run")
    args = ap.parse_args(argv)
    if not (args.work / "kb").is_dir():
        raise SystemExit(f"{args.work}/kb: no knowledge base. Fix: run benchmarks.eval_experts with --work {args.work}")
    ev = load_split(args.data, args.split)
    # Weights calibrated by the eval_experts run would change the shipped ranking this compares against.
    (args.work / "kb" / "settings.toml").unlink(missing_ok=True)
    kb = open_kb(args.work)
    shipped = {
        qid: [r.person.id for r in recs]
        for qid, recs in kb.ask_batch([(q.id, q.question, q.asker) for q in ev.queries], top=100, log_question=False)
    }
    runs = {"mentorkb (shipped)": shipped}
    base = candidate_features(kb, ev, extra=True)
    plain = [(qid, ids, x[:, : len(FEATURES)], y) for qid, ids, x, y in base]
    for c in (0.1, 1.0, 10.0):
        runs[f"CV logreg C={c}"] = cross_validated_run(plain, c=c)
    runs["CV logreg +2 C=1.0"] = cross_validated_run(base, c=1.0)
    kb.close()
    print(f"split={args.split}  queries={len(ev.queries)}  features: {', '.join(FEATURES)}; extra: {', '.join(EXTRA)}")
    print(format_table(evaluate(ev, runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
