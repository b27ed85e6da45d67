"""Embedding throughput: fp32 vs the fast path the embedder picks ("auto"), on realistic passages.

Prints passages per second for each precision (best of --repeat interleaved runs, so a burst of
load from other processes hurts both alike) and how closely the fast path agrees with fp32.

    python benchmarks/bench_embed.py --n 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import passages  # noqa: E402

from index.embedder import SentenceTransformerEmbedder, mean_cosine  # noqa: E402


def main() -> None:
    """Load both precisions, time them on the same passages, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="passages to embed per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs per precision; the best counts")
    parser.add_argument("--model", default="", help="model folder (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = the embedder's choice: all cores)")
    args = parser.parse_args()

    texts = passages(args.n, seed=42)
    words = sum(len(t.split()) for t in texts) / len(texts)
    embedders = {
        "fp32": SentenceTransformerEmbedder(args.model, precision="fp32", batch_size=args.batch_size),
        "auto": SentenceTransformerEmbedder(args.model, precision="auto", batch_size=args.batch_size),
    }
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"# {args.n} passages, {words:.0f} words on average; batch {args.batch_size}; "
        f"torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.1f}"
    )
    best = dict.fromkeys(embedders, 0.0)
    vectors = {}
    for emb in embedders.values():
        emb.encode(texts[: args.batch_size])  # warm-up: first calls allocate and pick kernels
    for _ in range(args.repeat):
        for label, emb in embedders.items():
            start = time.perf_counter()
            vectors[label] = emb.encode(texts)
            best[label] = max(best[label], len(texts) / (time.perf_counter() - start))

    mean, low = mean_cosine(vectors["auto"], vectors["fp32"])
    header = f"{'run':<6} {'precision':<9} {'passages/s':>10} {'speed-up':>8} {'cos mean':>9} {'cos min':>9}"
    print(header)
    print("-" * len(header))
    for label, emb in embedders.items():
        agree = (1.0, 1.0) if label == "fp32" else (mean, low)
        print(
            f"{label:<6} {emb.precision:<9} {best[label]:>10.0f} {best[label] / best['fp32']:>7.2f}x "
            f"{agree[0]:>9.5f} {agree[1]:>9.5f}"
        )


if __name__ == "__main__":
    main()
