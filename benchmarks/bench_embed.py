"""Embedding throughput: fp32 vs the fast path the embedder picks ("auto"), each with fixed batches of
`--batch-size` passages (sentence-transformers' own `encode`) and with batches of at most `--batch-tokens`
padded tokens (the default, setting `embed_batch_tokens`).

Texts are embedded `--chunk` at a time, as the ingest pipeline hands them over. Prints passages per second per
run (best of --repeat interleaved runs, so a burst of load from other processes hurts all alike), how closely
each agrees with fp32, and the ceiling this CPU's measured matrix-multiply peak puts on the fast path.

    python benchmarks/bench_embed.py --n 2000                        # synthetic 36-word passages
    python benchmarks/bench_embed.py --n 2000 --kb KB_DIR            # what ingest embeds for a knowledge base
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import passages  # noqa: E402

from index.embedder import SentenceTransformerEmbedder, mean_cosine  # noqa: E402


def kb_texts(kb: Path, n: int) -> list[str]:
    """Up to n of the texts ingest embedded for a knowledge base's passages (title + passage), in a fixed
    random order."""
    from index.store import SQLiteStore
    from mentorkb.pipeline import search_texts

    store = SQLiteStore(kb / "mentorkb.sqlite3", readonly=True)
    texts = [t for s in store.sessions() for t in search_texts(s, store.session_passages(s.id))]
    store.close()
    random.Random(1).shuffle(texts)
    return texts[:n]


def matmul_peak(dtype_name: str) -> float:
    """GFLOP/s of one (4864 x 384) @ (384 x 1536) product, the shape of a batch's feed-forward layer."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(4864, 384, dtype=dtype), torch.randn(384, 1536, dtype=dtype)
    for _ in range(3):
        a @ b
    start, n = time.perf_counter(), 20
    for _ in range(n):
        a @ b
    return 2 * 4864 * 384 * 1536 * n / (time.perf_counter() - start) / 1e9


def main() -> None:
    """Load both precisions, time each with both batchings on the same texts, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="passages to embed per run")
    parser.add_argument("--kb", type=Path, help="take the texts from this knowledge base (default: synthetic)")
    parser.add_argument("--chunk", type=int, default=256, help="texts per encode call (ingest hands over 256)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batch-tokens", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs per precision; the best counts")
    parser.add_argument("--model", default="", help="model folder (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = the embedder's choice: all cores)")
    args = parser.parse_args()

    texts = kb_texts(args.kb, args.n) if args.kb else passages(args.n, seed=42)
    words = sum(len(t.split()) for t in texts) / len(texts)
    embedders = {
        p: SentenceTransformerEmbedder(
            args.model, precision=p, batch_size=args.batch_size, batch_tokens=args.batch_tokens
        )
        for p in ("fp32", "auto")
    }
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model = embedders["fp32"]._model
    prepare = getattr(model, "preprocess", None) or model.tokenize
    tokens = float(prepare(texts)["attention_mask"].sum()) / len(texts)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    print(
        f"# {len(texts)} {'passages of ' + str(args.kb) if args.kb else 'synthetic passages'}: {words:.0f} words, "
        f"{tokens:.0f} tokens on average; {args.chunk} per call; torch threads {torch.get_num_threads()}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    runs = {
        (label, batching): (emb, batching)
        for label, emb in embedders.items()
        for batching in (f"{args.batch_size} passages", f"{args.batch_tokens} tokens")
    }

    def encode(emb: SentenceTransformerEmbedder, batching: str) -> list[np.ndarray]:
        emb.batch_tokens = args.batch_tokens if batching.endswith("tokens") else 0
        return [emb.encode(texts[i : i + args.chunk]) for i in range(0, len(texts), args.chunk)]

    best = dict.fromkeys(runs, 0.0)
    vectors = {}
    for emb in embedders.values():
        emb.batch_tokens = 0
        emb.encode(texts[: args.batch_size])  # warm-up: first calls allocate and pick kernels
    for _ in range(args.repeat):
        for key, (emb, batching) in runs.items():
            start = time.perf_counter()
            vectors[key] = np.concatenate(encode(emb, batching))
            best[key] = max(best[key], len(texts) / (time.perf_counter() - start))

    base = next(iter(runs))
    header = f"{'run':<6} {'precision':<9} {'batches of':<15} {'passages/s':>10} {'speed-up':>8} {'cos mean':>9} {'cos min':>9}"
    print(header)
    print("-" * len(header))
    for key, (emb, batching) in runs.items():
        mean, low = mean_cosine(vectors[key], vectors[base])
        print(
            f"{key[0]:<6} {emb.precision:<9} {batching:<15} {best[key]:>10.0f} {best[key] / best[base]:>7.2f}x "
            f"{mean:>9.5f} {low:>9.5f}"
        )
    fast = embedders["auto"].precision
    peak = matmul_peak("bfloat16" if fast == "bf16" else "float32")
    ceiling = peak * 1e9 / (2 * linear * tokens)
    print(
        f"# {fast} matrix-multiply peak on {torch.get_num_threads()} threads: {peak:.0f} GFLOP/s; the model's "
        f"linear layers need {2 * linear * tokens / 1e9:.2f} GFLOP per passage of {tokens:.0f} tokens, so no "
        f"{fast} run on these passages can exceed {ceiling:.0f} passages/s here"
    )


if __name__ == "__main__":
    main()
