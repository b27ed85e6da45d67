"""The VectorIndex contract over every backend, plus persistence with its manifest checks."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index.vectors import (
    INDEX_SCHEMA_VERSION,
    FaissIndex,
    NumpyIndex,
    VectorIndex,
    build_index,
    ivf_nlist,
    load_index,
    outgrown,
    save_index,
)
from mentorkb.errors import IndexMismatchError

DIM = 16

# An IVF index probing all of its few lists is exhaustive, so it must meet the exact contract too.
FACTORIES: list = [
    pytest.param(lambda: NumpyIndex(DIM), id="numpy"),
    pytest.param(lambda: FaissIndex(DIM, kind="flat"), id="faiss-flat"),
    pytest.param(lambda: FaissIndex(DIM, kind="ivf", nlist=4, nprobe=4), id="faiss-ivf"),
    pytest.param(lambda: FaissIndex(DIM, kind="flat", precision="fp16"), id="faiss-flat-fp16"),
    pytest.param(lambda: FaissIndex(DIM, kind="ivf", nlist=4, nprobe=4, precision="fp16"), id="faiss-ivf-fp16"),
]


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def random_unit(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, dim)))


def manifest(index: VectorIndex, **changes: object) -> dict:
    base = {
        "schema_version": INDEX_SCHEMA_VERSION,
        "embedder": "hashing-16",
        "dim": index.dim,
        "precision": "fp32",
        "count": len(index),
        "generation": 7,
    }
    return base | changes


EXPECT = {"embedder": "hashing-16", "dim": DIM, "schema_version": INDEX_SCHEMA_VERSION}


@pytest.fixture(params=FACTORIES)
def make(request: pytest.FixtureRequest) -> Callable[[], VectorIndex]:
    return request.param


@pytest.fixture
def filled(make: Callable[[], VectorIndex]) -> tuple[VectorIndex, np.ndarray, np.ndarray]:
    """An index holding 60 random vectors under ids 100..159."""
    index = make()
    ids = np.arange(100, 160, dtype=np.int64)
    vectors = random_unit(60, seed=1)
    index.add(ids, vectors)
    return index, ids, vectors


def test_empty_index_returns_only_missing_slots(make: Callable[[], VectorIndex]) -> None:
    index = make()
    scores, ids = index.search(random_unit(2, seed=0), k=3)
    assert len(index) == 0
    assert ids.shape == scores.shape == (2, 3)
    assert (ids == -1).all()
    assert np.isneginf(scores).all()


def test_search_finds_each_vector_first_with_exact_ranking(filled: tuple) -> None:
    index, ids, vectors = filled
    scores, found = index.search(vectors, k=5)
    np.testing.assert_array_equal(found[:, 0], ids)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=_tolerance(index))
    exact_scores, exact_ids = _brute_force(ids, vectors, vectors, 5)
    np.testing.assert_array_equal(found, exact_ids)
    np.testing.assert_allclose(scores, exact_scores, atol=_tolerance(index))
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "best first"


def _tolerance(index: VectorIndex) -> float:
    """How far a score may be from the exact cosine: fp16 vectors keep ~3 decimal digits, fp32 ~7."""
    return 1e-3 if getattr(index, "precision", "fp32") == "fp16" else 1e-5


def _brute_force(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = queries @ vectors.T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, axis=1), ids[order]


def test_k_larger_than_the_count_pads_with_missing_slots(make: Callable[[], VectorIndex]) -> None:
    index = make()
    index.add(np.arange(8), random_unit(8, seed=2))
    scores, ids = index.search(random_unit(1, seed=3), k=12)
    assert sorted(ids[0, :8]) == list(range(8))
    assert (ids[0, 8:] == -1).all()
    assert np.isneginf(scores[0, 8:]).all()


def test_adding_an_existing_id_replaces_its_vector(filled: tuple) -> None:
    index, ids, vectors = filled
    new = random_unit(1, seed=9)
    index.add(np.array([ids[0]]), new)
    assert len(index) == len(ids)
    scores, found = index.search(new, k=1)
    assert found[0, 0] == ids[0] and float(scores[0, 0]) == pytest.approx(1.0, abs=_tolerance(index))
    scores, found = index.search(vectors[:1], k=len(ids))
    old = pytest.approx(float(vectors[0] @ new[0]), abs=_tolerance(index))
    assert scores[found == ids[0]] == old, "old vector is gone"


def test_a_repeated_id_within_one_add_keeps_the_last_vector(make: Callable[[], VectorIndex]) -> None:
    index = make()
    vectors = random_unit(10, seed=4)
    index.add(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 1]), vectors)
    assert len(index) == 9
    scores, found = index.search(vectors[9:], k=1)
    assert found[0, 0] == 1 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_remove_drops_ids_and_ignores_unknown_ones(filled: tuple) -> None:
    index, ids, vectors = filled
    index.remove(np.array([ids[0], ids[1], 999_999]))
    assert len(index) == len(ids) - 2
    _, found = index.search(vectors[:2], k=len(ids))
    assert ids[0] not in found and ids[1] not in found
    index.remove(np.array([], dtype=np.int64))
    index.remove(np.array([424242]))
    assert len(index) == len(ids) - 2


def test_vectors_of_the_wrong_dimension_are_refused(make: Callable[[], VectorIndex]) -> None:
    with pytest.raises(ValueError, match=f"\\(n, {DIM}\\)"):
        make().add(np.arange(3), random_unit(3, seed=5, dim=DIM + 1))


def test_save_and_load_round_trip_gives_identical_results(filled: tuple, tmp_path: Path) -> None:
    index, ids, vectors = filled
    save_index(index, tmp_path, manifest(index))
    loaded, info = load_index(tmp_path, expect=EXPECT)
    assert type(loaded) is type(index) and len(loaded) == len(index)
    queries = random_unit(4, seed=6)
    for got, want in zip(loaded.search(queries, k=7), index.search(queries, k=7), strict=True):
        np.testing.assert_array_equal(got, want)
    assert info["count"] == len(ids) and info["generation"] == 7 and info["embedder"] == "hashing-16"
    assert {"kind", "nlist", "nprobe", "sha256", "created"} <= info.keys()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", info["file"]], "no temp files left"


def test_saving_over_an_index_replaces_it(filled: tuple, tmp_path: Path) -> None:
    index, ids, _ = filled
    save_index(index, tmp_path, manifest(index, generation=1))
    index.remove(ids[:10])
    save_index(index, tmp_path, manifest(index, generation=2))
    loaded, info = load_index(tmp_path, expect=EXPECT)
    assert (len(loaded), info["generation"]) == (len(ids) - 10, 2)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-9] + b"corrupted"), id="corrupted"),
        pytest.param(lambda p: p.unlink(), id="deleted"),
    ],
)
def test_a_damaged_index_file_is_refused_with_the_reindex_fix(
    filled: tuple, tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    index, _, _ = filled
    save_index(index, tmp_path, manifest(index))
    file = tmp_path / json.loads((tmp_path / "manifest.json").read_text())["file"]
    damage(file)
    with pytest.raises(IndexMismatchError) as err:
        load_index(tmp_path, expect=EXPECT)
    assert err.value.source == str(file)
    assert err.value.fix == "run `mentorkb reindex`"


@pytest.mark.parametrize(
    "manifest_text",
    [None, "{not json", "[1, 2]", json.dumps({"embedder": "hashing-16"})],
    ids=["missing", "not-json", "not-an-object", "incomplete"],
)
def test_a_missing_or_broken_manifest_is_refused(tmp_path: Path, manifest_text: str | None) -> None:
    index = NumpyIndex(DIM)
    save_index(index, tmp_path, manifest(index))
    path = tmp_path / "manifest.json"
    path.unlink() if manifest_text is None else path.write_text(manifest_text)
    with pytest.raises(IndexMismatchError, match="manifest") as err:
        load_index(tmp_path, expect=EXPECT)
    assert err.value.source == str(path)


@pytest.mark.parametrize(
    ("key", "value"),
    [("embedder", "all-MiniLM-L6-v2"), ("dim", 384), ("schema_version", INDEX_SCHEMA_VERSION + 1)],
)
def test_an_index_built_by_another_embedder_or_schema_is_refused(
    filled: tuple, tmp_path: Path, key: str, value: object
) -> None:
    index, _, _ = filled
    save_index(index, tmp_path, manifest(index))
    with pytest.raises(IndexMismatchError) as err:
        load_index(tmp_path, expect=EXPECT | {key: value})
    assert err.value.field == key
    assert f"expected {value!r}" in str(err.value) and "mentorkb reindex" in str(err.value)


def test_save_refuses_a_manifest_that_contradicts_the_index(tmp_path: Path) -> None:
    index = NumpyIndex(DIM)
    with pytest.raises(ValueError, match="dim"):
        save_index(index, tmp_path, manifest(index, dim=DIM * 2))
    assert not (tmp_path / "manifest.json").exists()


def test_switching_backend_leaves_only_the_new_index_file(tmp_path: Path) -> None:
    ids, vectors = np.arange(30), random_unit(30, seed=7)
    faiss_index = build_index(ids, vectors, dim=DIM)
    save_index(faiss_index, tmp_path, manifest(faiss_index))
    numpy_index = build_index(ids, vectors, dim=DIM, backend="numpy")
    save_index(numpy_index, tmp_path, manifest(numpy_index))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "vectors.npy"]
    assert isinstance(load_index(tmp_path, expect=EXPECT)[0], NumpyIndex)


@pytest.mark.parametrize(
    ("n", "threshold", "backend", "expected"),
    [
        (0, 100, "faiss", ("FaissIndex", "flat")),
        (1, 1, "faiss", ("FaissIndex", "ivf")),
        (99, 100, "faiss", ("FaissIndex", "flat")),
        (100, 100, "faiss", ("FaissIndex", "ivf")),
        (500, 100, "numpy", ("NumpyIndex", None)),
    ],
)
def test_build_index_switches_to_ivf_at_the_threshold(n: int, threshold: int, backend: str, expected: tuple) -> None:
    index = build_index(
        np.arange(n),
        random_unit(n, seed=8) if n else np.zeros((0, DIM), np.float32),
        dim=DIM,
        ann_threshold=threshold,
        backend=backend,
    )
    assert (type(index).__name__, getattr(index, "kind", None)) == expected
    assert len(index) == n


def test_build_index_rejects_an_unknown_backend() -> None:
    with pytest.raises(ValueError, match="annoy"):
        build_index(np.arange(2), random_unit(2, seed=0), dim=DIM, backend="annoy")


@pytest.mark.parametrize(("n", "nlist"), [(1, 4), (100, 40), (10_000, 400), (1_000_000, 4000), (10**8, 4096)])
def test_ivf_list_count_grows_with_the_square_root_of_n(n: int, nlist: int) -> None:
    assert ivf_nlist(n) == nlist


def test_ivf_recall_on_clustered_vectors_is_high(tmp_path: Path) -> None:
    """What a user of a large knowledge base notices: the approximate index still finds the true neighbours."""
    rng = np.random.default_rng(0)
    dim, n = 64, 6000
    centers = rng.standard_normal((60, dim))
    data = unit(centers[rng.integers(0, 60, n)] + 0.6 * rng.standard_normal((n, dim)))
    queries = unit(centers[rng.integers(0, 60, 50)] + 0.6 * rng.standard_normal((50, dim)))
    ids = np.arange(n) * 3
    ivf = build_index(ids, data, dim=dim, ann_threshold=1000, nprobe=16)
    assert getattr(ivf, "kind", None) == "ivf"
    save_index(ivf, tmp_path, {"embedder": "x", "precision": "fp32", "generation": 0})
    loaded, info = load_index(tmp_path, expect={"embedder": "x", "dim": dim})
    assert info["nlist"] == ivf_nlist(n) and info["nprobe"] == 16
    _, approx = loaded.search(queries, 10)
    _, exact = _brute_force(ids, data, queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall >= 0.9


def test_ivf_visits_enough_lists_to_cover_probe_vectors_and_finds_more_of_the_true_neighbours(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    dim, n = 32, 6000  # loosely clustered: a few lists miss many true neighbours
    centers = rng.standard_normal((60, dim))
    data = unit(centers[rng.integers(0, 60, n)] + 1.5 * rng.standard_normal((n, dim)))
    queries = unit(centers[rng.integers(0, 60, 50)] + 1.5 * rng.standard_normal((50, dim)))
    ids = np.arange(n) * 3
    _, exact = _brute_force(ids, data, queries, 10)

    def recall(probe_vectors: int) -> tuple[int, float]:
        index = build_index(ids, data, dim=dim, ann_threshold=1000, nprobe=4, probe_vectors=probe_vectors)
        _, found = index.search(queries, 10)
        return index.lists_probed(), float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact)]))

    nlist = ivf_nlist(n)  # 310 lists of ~19 vectors
    fixed, covering, everything = recall(0), recall(1500), recall(n)
    assert fixed[0] == 4 and covering[0] == math.ceil(1500 / (n / nlist)) and everything[0] == nlist
    assert fixed[1] < covering[1] < everything[1] == 1.0
    index = build_index(ids, data, dim=dim, ann_threshold=1000, nprobe=4, probe_vectors=1500)
    save_index(index, tmp_path, {"embedder": "x", "precision": "fp32", "generation": 0})
    loaded, info = load_index(tmp_path, expect={"embedder": "x", "dim": dim})
    assert info["probe_vectors"] == 1500 and loaded.lists_probed() == covering[0]


def test_an_exact_index_is_outgrown_at_the_ann_threshold() -> None:
    flat = build_index(np.arange(50), random_unit(50, seed=3), dim=DIM, ann_threshold=100)
    assert not outgrown(flat, 100) and outgrown(flat, 50)
    ivf = build_index(np.arange(50), random_unit(50, seed=3), dim=DIM, ann_threshold=10)
    assert not outgrown(ivf, 10)
    assert not outgrown(build_index(np.arange(50), random_unit(50, seed=3), dim=DIM, backend="numpy"), 10)


def test_fp16_vectors_find_what_fp32_finds_in_half_the_memory(tmp_path: Path) -> None:
    ids, vectors = np.arange(2_000), random_unit(2_000, seed=11, dim=64)
    queries = random_unit(50, seed=12, dim=64)
    full = build_index(ids, vectors, dim=64)
    half = build_index(ids, vectors, dim=64, precision="fp16")
    (fs, fi), (hs, hi) = full.search(queries, 10), half.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(fi, hi, strict=True)]) >= 0.99
    np.testing.assert_allclose(hs[:, 0], fs[:, 0], atol=1e-3)
    save_index(full, tmp_path / "full", {"dim": 64, "embedder": "e"})
    save_index(half, tmp_path / "half", {"dim": 64, "embedder": "e"})
    size = {name: (tmp_path / name / "vectors.faiss").stat().st_size for name in ("full", "half")}
    assert size["half"] < 0.6 * size["full"]
    loaded, saved = load_index(tmp_path / "half", expect={"dim": 64})
    assert saved["vectors"] == "fp16" and getattr(loaded, "precision", None) == "fp16"
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], hi)


def test_an_unknown_vector_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="fp8"):
        FaissIndex(DIM, precision="fp8")
