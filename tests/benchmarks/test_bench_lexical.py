"""bench_lexical's agreement and percentile helpers, which its BENCHMARKS.md figures rest on."""

import pytest

from benchmarks._metrics import percentile
from benchmarks.bench_lexical import overlap, same_scores


def test_overlap_counts_the_exact_top_k_found_in_the_first_k():
    exact = [(1, 9.0), (2, 8.0), (3, 7.0), (4, 6.0)]
    assert overlap(exact, exact, 3) == 1.0
    assert overlap([(1, 9.0), (4, 6.0), (9, 5.0)], exact, 3) == pytest.approx(1 / 3)
    assert overlap([(9, 1.0), (8, 1.0), (3, 7.0)], exact, 2) == 0.0  # found, but not within the first k


def test_an_empty_exact_result_counts_as_full_agreement():
    assert overlap([], [], 10) == 1.0


@pytest.mark.parametrize(("q", "expected"), [(50, 5), (95, 10), (100, 10), (0, 1)])
def test_nearest_rank_percentile(q, expected):
    assert percentile(list(range(10, 0, -1)), q) == expected


def test_same_scores_ignores_the_order_of_equal_scores_only():
    exact = [(1, 3.0), (2, 2.0), (3, 2.0)]
    assert same_scores([(1, 3.0), (3, 2.0), (2, 2.0)], exact)
    assert same_scores([(1, 3.0), (9, 2.0), (3, 2.0)], exact)  # another passage with the same score
    assert not same_scores([(1, 3.0), (2, 2.0)], exact)
    assert not same_scores([(1, 3.0), (2, 2.0), (3, 1.9)], exact)
