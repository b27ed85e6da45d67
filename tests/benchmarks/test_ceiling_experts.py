"""The supervised-ceiling diagnostic ranks held-out queries with a model fitted on the other folds only."""

import numpy as np
import pytest

from benchmarks.ceiling_experts import cross_validated_run


def _groups(n_queries: int, informative: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = []
    for q in range(n_queries):
        ids = [f"p{i}" for i in range(6)]
        answer = int(rng.integers(6))
        y = np.array([int(i == answer) for i in range(6)])
        noise = rng.normal(size=(6, 2))
        signal = y * 3.0 if informative else rng.normal(size=6)
        groups.append((f"q{q}", ids, np.column_stack([signal, noise]), y))
    return groups


def test_an_informative_feature_puts_the_answer_first():
    groups = _groups(40, informative=True)
    run = cross_validated_run(groups, c=1.0)
    assert set(run) == {g[0] for g in groups}
    firsts = [run[qid][0] == ids[int(np.argmax(y))] for qid, ids, _, y in groups]
    assert all(firsts)


def test_noise_features_rank_no_better_than_chance():
    groups = _groups(200, informative=False, seed=1)
    run = cross_validated_run(groups, c=1.0)
    p_at_1 = np.mean([run[qid][0] == ids[int(np.argmax(y))] for qid, ids, _, y in groups])
    assert p_at_1 == pytest.approx(1 / 6, abs=0.1)
