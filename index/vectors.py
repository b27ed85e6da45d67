"""Vector indexes keyed by passage id: the VectorIndex seam, FAISS and a pure-NumPy fallback."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from mentorkb.errors import IndexMismatchError


class VectorIndex(Protocol):
    """Inner-product search over unit vectors, keyed by int64 passage ids."""

    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) vectors under the given ids."""
        ...

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors of these ids (unknown ids are ignored)."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each (n_queries, k); missing slots have id -1."""
        ...

    def save(self, folder: Path, manifest: dict) -> None:
        """Atomically persist the index and its manifest into folder."""
        ...


INDEX_SCHEMA_VERSION = 1
_MANIFEST = "manifest.json"
_REINDEX = "run `mentorkb reindex`"
_MISSING_SCORE = np.float32(-np.inf)  # score of a slot with no hit (id -1), the same for every backend


def _as_ids(ids: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {np.shape(vectors)}")
    return np.ascontiguousarray(x)


def _checked(ids: np.ndarray, vectors: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (ids, vectors) for add(); of an id given twice only the last vector is kept, as sequential adds."""
    ids, vectors = _as_ids(ids), _as_matrix(vectors, dim, "vectors")
    if len(ids) != len(vectors):
        raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
    if len(np.unique(ids)) == len(ids):
        return ids, vectors
    _, first_in_reversed = np.unique(ids[::-1], return_index=True)
    keep = np.sort(len(ids) - 1 - first_in_reversed)
    return ids[keep], vectors[keep]


def _empty_result(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((n, k), _MISSING_SCORE, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)


class NumpyIndex:
    """Exact inner-product search in pure NumPy: the dependency-free fallback and the test fake."""

    backend = "numpy"
    file_name = "vectors.npy"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) vectors under the given ids."""
        ids, vectors = _checked(ids, vectors, self.dim)
        self.remove(ids)
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.concatenate([self._vectors, vectors])

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors of these ids (unknown ids are ignored)."""
        keep = ~np.isin(self._ids, _as_ids(ids))
        if not keep.all():
            self._ids, self._vectors = self._ids[keep], self._vectors[keep]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each (n_queries, k), best first; missing slots have id -1 and score -inf."""
        q = _as_matrix(queries, self.dim, "queries")
        scores, ids = _empty_result(len(q), max(k, 0))
        hits = min(k, len(self))
        if hits == 0:
            return scores, ids
        sims = q @ self._vectors.T
        top = np.argpartition(-sims, hits - 1, axis=1)[:, :hits]
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        scores[:, :hits] = np.take_along_axis(top_sims, order, axis=1)
        ids[:, :hits] = self._ids[np.take_along_axis(top, order, axis=1)]
        return scores, ids

    def save(self, folder: Path, manifest: dict) -> None:
        """Atomically persist the index (one structured .npy) and its manifest into folder."""
        table = np.empty(len(self), dtype=[("id", np.int64), ("vector", np.float32, (self.dim,))])
        table["id"], table["vector"] = self._ids, self._vectors
        _write_artifact(
            folder,
            self.file_name,
            lambda out: np.save(out, table, allow_pickle=False),
            {**manifest, "kind": "exact", "nlist": 0, "nprobe": 0},
        )

    @classmethod
    def _from_file(cls, f: BinaryIO, manifest: dict) -> NumpyIndex:
        return cls._from_bytes(f.read(), manifest)

    @classmethod
    def _from_bytes(cls, data: bytes, manifest: dict) -> NumpyIndex:
        table = np.load(io.BytesIO(data), allow_pickle=False)
        index = cls(int(manifest["dim"]))
        index._ids = np.ascontiguousarray(table["id"])
        index._vectors = np.ascontiguousarray(table["vector"]).reshape(len(table), index.dim)
        return index


VECTOR_PRECISIONS = ("fp16", "fp32")


def ivf_nlist(n: int) -> int:
    """IVF list count for n vectors: about 4*sqrt(n), at most 4096, so lists hold ~sqrt(n)/4 vectors."""
    return max(1, min(4096, round(4 * math.sqrt(max(n, 1)))))


class FaissIndex:
    """FAISS inner-product index keyed by passage id: exact ("flat") or inverted-file ("ivf", approximate)."""

    backend = "faiss"
    file_name = "vectors.faiss"

    def __init__(
        self,
        dim: int,
        *,
        kind: str = "flat",
        nlist: int = 0,
        nprobe: int = 64,
        probe_vectors: int = 0,
        precision: str = "fp32",
    ) -> None:
        if kind not in ("flat", "ivf"):
            raise ValueError(f"unknown FAISS index kind {kind!r}; use 'flat' or 'ivf'")
        if precision not in VECTOR_PRECISIONS:
            raise ValueError(f"unknown vector precision {precision!r}; use one of {', '.join(VECTOR_PRECISIONS)}")
        self.dim = dim
        self.kind = kind
        self.nlist = nlist  # 0 = chosen from the size of the first batch, which also trains the IVF lists
        self.nprobe = nprobe  # IVF lists a query visits at least
        self.probe_vectors = probe_vectors  # ... and enough lists to cover this many vectors (see lists_probed)
        self.precision = precision  # how the index holds vectors: fp16 halves its memory and the bytes a search reads
        self._index: Any = None
        if kind == "flat":
            import faiss

            if precision == "fp16":
                flat = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            else:
                flat = faiss.IndexFlatIP(dim)
            self._index = faiss.IndexIDMap2(flat)

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def lists_probed(self) -> int:
        """IVF lists a query visits: at least `nprobe`, and enough to cover `probe_vectors` vectors.

        A fixed count misses more true neighbours the fewer vectors each list holds: with 64 lists, real MiniLM
        vectors gave recall@10 0.94-0.97 at 50-65k, 0.99 when a quarter of the lists (25k vectors) was visited.
        """
        per_list = max(1.0, len(self) / max(1, self.nlist))
        return max(1, min(self.nlist, max(self.nprobe, math.ceil(self.probe_vectors / per_list))))

    def _make_ivf(self, vectors: np.ndarray) -> None:
        import faiss

        self.nlist = self.nlist or min(ivf_nlist(len(vectors)), len(vectors))
        if len(vectors) < self.nlist:
            raise ValueError(
                f"an IVF index with {self.nlist} lists needs at least {self.nlist} training vectors, "
                f"got {len(vectors)}; use kind='flat' for small collections"
            )
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.precision == "fp16":
            fp16 = faiss.ScalarQuantizer.QT_fp16
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, self.dim, self.nlist, fp16, faiss.METRIC_INNER_PRODUCT, False
            )
        else:
            index = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        # k-means on ~40 points per list is as good as on all of them (FAISS warns below 39) and far cheaper.
        sample = min(len(vectors), 40 * self.nlist)
        rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=sample, replace=False))
        index.train(np.ascontiguousarray(vectors[rows]))
        self._index = index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) vectors under the given ids; the first add to an IVF index trains it on that batch."""
        ids, vectors = _checked(ids, vectors, self.dim)
        if len(ids) == 0:
            return
        if self._index is None:
            self._make_ivf(vectors)
        self.remove(ids)
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors of these ids (unknown ids are ignored)."""
        ids = _as_ids(ids)
        if len(self) and len(ids):
            import faiss

            self._index.remove_ids(faiss.IDSelectorBatch(ids))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each (n_queries, k), best first; missing slots have id -1 and score -inf."""
        q = _as_matrix(queries, self.dim, "queries")
        if len(self) == 0 or k <= 0 or len(q) == 0:
            return _empty_result(len(q), max(k, 0))
        if self.kind == "ivf":
            self._index.nprobe = self.lists_probed()
        import faiss

        # One query is too small to share between threads: on 2 busy cores FAISS's OpenMP team made single
        # queries ~6x slower (benchmarks/bench_ann.py --threads). Batches keep every core.
        threads = faiss.omp_get_max_threads()
        if len(q) == 1:
            faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, k)
        finally:
            faiss.omp_set_num_threads(threads)
        scores[ids < 0] = _MISSING_SCORE
        return scores, ids.astype(np.int64, copy=False)

    def save(self, folder: Path, manifest: dict) -> None:
        """Atomically persist the index (FAISS serialisation) and its manifest into folder."""
        import faiss

        if self._index is None:  # an untrained, empty IVF: store an empty flat index, which loads as such
            raw, kind = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim)), "flat"
        else:
            raw, kind = self._index, self.kind
        extra = {
            "kind": kind,
            "nlist": self.nlist if kind == "ivf" else 0,
            "nprobe": self.nprobe,
            "probe_vectors": self.probe_vectors,
            "vectors": self.precision,
            "faiss_version": faiss.__version__,
        }
        # Streamed into the file: serialising into memory first held the index three more times over (FAISS's
        # growing buffer, its numpy copy, then bytes): +4.5 GiB at 1M passages.
        _write_artifact(
            folder,
            self.file_name,
            lambda out: faiss.write_index(raw, faiss.PyCallbackIOWriter(out.write)),
            {**manifest, **extra},
        )

    @classmethod
    def _from_bytes(cls, data: bytes, manifest: dict) -> FaissIndex:
        import faiss

        return cls._wrap(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), manifest)

    @classmethod
    def _from_file(cls, f: BinaryIO, manifest: dict) -> FaissIndex:
        """Read the index straight from an open file, in chunks: no whole-file copy beside the index (at 1M
        passages the file is 1.5 GiB, and reading it into bytes first doubled the peak)."""
        import faiss

        return cls._wrap(faiss.read_index(faiss.PyCallbackIOReader(f.read)), manifest)

    @classmethod
    def _wrap(cls, raw: Any, manifest: dict) -> FaissIndex:
        index = cls(
            int(manifest["dim"]),
            kind=str(manifest.get("kind", "flat")),
            nlist=int(manifest.get("nlist", 0)),
            nprobe=int(manifest.get("nprobe", 64)),
            probe_vectors=int(manifest.get("probe_vectors", 0)),
            precision=str(manifest.get("vectors", "fp32")),
        )
        if raw.d != index.dim:
            raise ValueError(f"the FAISS file holds {raw.d}-dimensional vectors, the manifest says {index.dim}")
        index._index = raw
        return index


_BACKENDS: dict[str, type[NumpyIndex] | type[FaissIndex]] = {"numpy": NumpyIndex, "faiss": FaissIndex}


def build_index(
    ids: np.ndarray,
    vectors: np.ndarray,
    *,
    dim: int,
    ann_threshold: int = 200_000,
    nprobe: int = 64,
    probe_vectors: int = 0,
    backend: str = "faiss",
    precision: str = "fp32",
) -> VectorIndex:
    """Build an index over (ids, vectors): exact below ann_threshold vectors, IVF (approximate) from there on;
    a FAISS index holds them in `precision` (fp16: half the memory and the bytes each search reads)."""
    if backend not in _BACKENDS:
        raise ValueError(f"unknown vector index backend {backend!r}; use one of {sorted(_BACKENDS)}")
    index: VectorIndex
    if backend == "numpy":
        index = NumpyIndex(dim)
    else:
        kind = "ivf" if len(ids) >= ann_threshold else "flat"
        index = FaissIndex(dim, kind=kind, nprobe=nprobe, probe_vectors=probe_vectors, precision=precision)
    if len(ids):
        index.add(ids, vectors)
    return index


def outgrown(index: VectorIndex, ann_threshold: int) -> bool:
    """True for an exact FAISS index that holds at least ann_threshold vectors: a knowledge base that grew past
    the threshold one upload at a time (an index is built as IVF only when it is rebuilt at that size)."""
    return isinstance(index, FaissIndex) and index.kind == "flat" and len(index) >= ann_threshold


def save_index(index: VectorIndex, folder: Path, manifest: dict) -> None:
    """Atomically write index + manifest into folder (index file first, manifest last, with its sha256)."""
    if "dim" in manifest and int(manifest["dim"]) != index.dim:
        raise ValueError(f"manifest dim {manifest['dim']} differs from the index dim {index.dim}")
    index.save(
        Path(folder), {"schema_version": INDEX_SCHEMA_VERSION, **manifest, "dim": index.dim, "count": len(index)}
    )


def _fsync_dir(folder: Path) -> None:
    if os.name == "posix":  # a directory fsync makes the rename itself durable; Windows cannot open directories
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Hashing(io.RawIOBase):
    """A binary file that passes every write on and keeps the sha256 and size of all it was given."""

    def __init__(self, out: BinaryIO) -> None:
        self._out, self.sha256, self.size = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._out.write(data)
        self.sha256.update(data)
        n = memoryview(data).nbytes
        self.size += n
        return n


def _atomic_write(path: Path, data: bytes | Callable[[BinaryIO], object]) -> _Hashing:
    """Write data (or what `data(file)` writes) to path via a temp file in the same folder, fsync, then rename
    over the old file; returns the writer, which knows the sha256 and size of what was written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            out = _Hashing(fh)
            if callable(data):
                data(out)
            else:
                out.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return out


def _write_artifact(folder: Path, file_name: str, write: Callable[[BinaryIO], object], manifest: dict) -> None:
    """Write the index file by `write(file)`, then the manifest with that file's checksum and size."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = _atomic_write(folder / file_name, write)
    manifest = {
        **manifest,
        "backend": "numpy" if file_name == NumpyIndex.file_name else "faiss",
        "file": file_name,
        "sha256": written.sha256.hexdigest(),
        "bytes": written.size,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _atomic_write(folder / _MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    for cls in _BACKENDS.values():  # a file left by the other backend would only confuse whoever looks
        if cls.file_name != file_name:
            (folder / cls.file_name).unlink(missing_ok=True)


def _read_manifest(path: Path) -> dict:
    if not path.is_file():
        raise IndexMismatchError("the vector index manifest is missing", source=str(path), fix=_REINDEX)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexMismatchError(
            f"the vector index manifest cannot be read: {exc}", source=str(path), fix=_REINDEX
        ) from exc
    if not isinstance(manifest, dict):
        raise IndexMismatchError("the vector index manifest is not a JSON object", source=str(path), fix=_REINDEX)
    for key in ("backend", "file", "sha256", "dim", "count"):
        if key not in manifest:
            raise IndexMismatchError(
                "the vector index manifest lacks this key", source=str(path), field=key, fix=_REINDEX
            )
    if manifest["backend"] not in _BACKENDS or manifest["file"] != _BACKENDS[manifest["backend"]].file_name:
        raise IndexMismatchError(
            f"unknown index backend {manifest['backend']!r} / file {manifest['file']!r}",
            source=str(path),
            field="backend",
            fix=_REINDEX,
        )
    return manifest


def _check_expected(manifest: dict, expect: dict, path: Path) -> None:
    expect = {"schema_version": INDEX_SCHEMA_VERSION, **expect}
    differing = [key for key, want in expect.items() if manifest.get(key) != want]
    if differing:
        diffs = "; ".join(f"{key}: index has {manifest.get(key)!r}, expected {expect[key]!r}" for key in differing)
        raise IndexMismatchError(
            f"the saved vector index was built differently ({diffs})",
            source=str(path),
            field=differing[0],
            fix=_REINDEX,
        )


_SAVE_WINDOW_S = 2.0


def _sha256_of(f: BinaryIO) -> tuple[str, int]:
    """(hex sha256, size) of an open file, read in 8 MiB chunks."""
    h, size = hashlib.sha256(), 0
    while chunk := f.read(8 << 20):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def load_index(folder: Path, *, expect: dict) -> tuple[VectorIndex, dict]:
    """Load an index saved by save_index, refusing one whose files or manifest differ from `expect`.

    Args:
        folder: the folder save_index wrote.
        expect: manifest values that must match, e.g. {"embedder": ..., "dim": ..., "schema_version": ...}.

    Raises:
        IndexMismatchError: a file is missing, unreadable or corrupted, or an expected value differs.
    """
    folder = Path(folder)
    manifest_path = folder / _MANIFEST
    # A save running right now replaces the index file, then its manifest: a reader in between sees a new file
    # with the old checksum. Read both again until they agree, for at most this long.
    deadline = time.monotonic() + _SAVE_WINDOW_S
    while True:
        manifest = _read_manifest(manifest_path)
        _check_expected(manifest, expect, manifest_path)
        path = folder / manifest["file"]
        if not path.is_file():
            raise IndexMismatchError("the vector index file is missing", source=str(path), fix=_REINDEX)
        try:
            f = path.open("rb")  # the file read below is this one, even if a save renames a new one in place
        except OSError as exc:
            raise IndexMismatchError(
                f"the vector index file cannot be read: {exc}", source=str(path), fix=_REINDEX
            ) from exc
        with f:
            try:
                digest, size = _sha256_of(f)
            except OSError as exc:
                raise IndexMismatchError(
                    f"the vector index file cannot be read: {exc}", source=str(path), fix=_REINDEX
                ) from exc
            if digest == manifest["sha256"]:
                f.seek(0)
                try:
                    index = _BACKENDS[manifest["backend"]]._from_file(f, manifest)
                except (ValueError, RuntimeError, KeyError, IndexError, TypeError) as exc:
                    raise IndexMismatchError(
                        f"the vector index file cannot be loaded: {exc}", source=str(path), fix=_REINDEX
                    ) from exc
                break
        if time.monotonic() < deadline:
            time.sleep(0.02)
            continue
        raise IndexMismatchError(
            f"the vector index file is corrupted or truncated ({size} bytes, checksum differs from the manifest)",
            source=str(path),
            fix=_REINDEX,
        )
    if len(index) != int(manifest["count"]):
        raise IndexMismatchError(
            f"the vector index holds {len(index)} vectors, its manifest says {manifest['count']}",
            source=str(path),
            field="count",
            fix=_REINDEX,
        )
    return index, manifest
