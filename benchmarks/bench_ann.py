"""Exact (flat) vs approximate (IVF) vector search on MiniLM-shaped synthetic vectors.

Prints, per collection size: build time, single-query latency (p50/p95, k=10), recall@10 against
the exact answer, and the index's memory. Used to choose `ann_threshold` and `ivf_nprobe`.

    python benchmarks/bench_ann.py --n 100000 1000000 --queries 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import embedding_like  # noqa: E402

from index.vectors import FaissIndex, VectorIndex, ivf_nlist  # noqa: E402


def rss_bytes() -> int:
    """Resident memory of this process (Linux), 0 where /proc is missing."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return 0
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def latencies(index: VectorIndex, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search one query at a time, as the app does: (ids (q, k), per-query seconds)."""
    ids = np.empty((len(queries), k), dtype=np.int64)
    took = np.empty(len(queries))
    for i, q in enumerate(queries):
        start = time.perf_counter()
        _, ids[i] = index.search(q[None, :], k)
        took[i] = time.perf_counter() - start
    return ids, took


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of the exact top-k that the approximate search also returned."""
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)]))


def print_row(n: int, label: str, build_s: float, took: np.ndarray, recall: float, mem: int) -> None:
    """One table row; latencies in milliseconds, memory in MiB."""
    p50, p95 = np.percentile(took * 1000, [50, 95])
    print(f"{n:>9} {label:<16} {build_s:>8.1f} {p50:>8.2f} {p95:>8.2f} {recall:>9.3f} {mem / 2**20:>9.0f}", flush=True)


def main() -> None:
    """Run the comparison for each --n and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000], help="collection sizes")
    parser.add_argument("--queries", type=int, default=200, help="single queries timed per index")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 64], help="IVF lists probed per query")
    parser.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0 = FAISS default)")
    args = parser.parse_args()
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    print(
        f"# {os.cpu_count()} CPUs, FAISS {faiss.__version__} with {faiss.omp_get_max_threads()} threads, "
        f"load average {os.getloadavg()[0]:.1f}, dim {args.dim}, k {args.k}"
    )
    header = f"{'n':>9} {'index':<16} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9} {'memory MB':>9}"
    print(header)
    print("-" * len(header))
    for n in args.n:
        data = embedding_like(n, args.dim, seed=1)
        queries = embedding_like(args.queries, args.dim, seed=2)
        ids = np.arange(n, dtype=np.int64)

        before = rss_bytes()
        start = time.perf_counter()
        flat = FaissIndex(args.dim, kind="flat")
        flat.add(ids, data)
        build = time.perf_counter() - start
        exact, took = latencies(flat, queries, args.k)
        print_row(n, "flat (exact)", build, took, 1.0, rss_bytes() - before)
        del flat

        before = rss_bytes()
        start = time.perf_counter()
        ivf = FaissIndex(args.dim, kind="ivf")
        ivf.add(ids, data)
        build = time.perf_counter() - start
        mem = rss_bytes() - before
        for nprobe in args.nprobe:
            ivf.nprobe = nprobe
            found, took = latencies(ivf, queries, args.k)
            print_row(n, f"ivf{ivf_nlist(n)} np{nprobe}", build, took, recall_at(found, exact), mem)
        del ivf, data


if __name__ == "__main__":
    main()
