"""Insight retrieval measured on real meeting transcripts (QMSum Product / Academic).

Each meeting becomes a `Name: utterance` transcript (one turn per line), all meetings of a domain are ingested into
a fresh knowledge base through the facade, and every span query runs across all meetings of that domain. A result is
a hit when it comes from the right meeting and its cited line range overlaps the relevant turns.

    python benchmarks/eval_insights.py --data ../shared/data/qmsum-product-academic [--domain Product] [--limit N]
        [--work DIR]

Prints recall@10, MRR@10 and nDCG@10 per domain beside two BM25 baselines (single turns; windows of 5 turns)
computed in the same run, the mean width of a cited range in turns (a wider citation overlaps the relevant turns
more easily, so widths must stay comparable for the comparison to be fair), ingest time, and p50/p95 query latency
with and without the query embedding. `--work DIR` keeps each domain's knowledge base there and reuses it on the
next run (unchanged transcripts are not re-ingested), for quick iterations on the query side. `--embed-device cuda`
runs the same embedding model on a GPU (in fp32) instead of the CPU, for full-size runs on a machine that has one;
the knowledge base, retrieval and ranking are unchanged.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from benchmarks._metrics import percentile  # noqa: E402

FRONT_LINES = 6  # lines of front matter written before the first turn


@dataclass
class Meeting:
    id: str
    domain: str
    turn_line: dict[int, int]  # turn number -> 1-based line in the transcript file

    def lines(self) -> list[int]:
        """The lines that hold a turn, ascending."""
        return sorted(self.turn_line.values())


def speaker_name(label: str) -> str:
    """A transcript speaker name: letters, digits and spaces only (the reader splits on the first colon)."""
    return re.sub(r"[^A-Za-z0-9 ]+", " ", label).strip() or "Speaker"


def clean(text: str) -> str:
    """QMSum marks disfluencies with {disfmarker} and similar tags; drop them so text reads naturally."""
    return re.sub(r"\s+", " ", re.sub(r"\{[a-z_]+\}", " ", text)).strip()


def write_transcripts(meetings: list[dict], out: Path) -> dict[str, Meeting]:
    """Write one .txt transcript per meeting; remember which line holds each turn."""
    info: dict[str, Meeting] = {}
    base = date(2024, 1, 1)
    for n, m in enumerate(meetings):
        turn_line: dict[int, int] = {}
        lines = [
            "---",
            f"date: {(base + timedelta(days=n)).isoformat()}",
            f"title: Meeting {m['meeting_id']}",
            "type: group",
            f"id: {m['meeting_id'].lower()}",
            "---",
        ]
        assert len(lines) == FRONT_LINES
        for t in m["turns"]:
            text = clean(t["text"])
            if not text:
                continue
            lines.append(f"{speaker_name(t['speaker_label'])}: {text}")
            turn_line[int(t["turn"])] = len(lines)
        (out / f"{m['meeting_id']}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        info[m["meeting_id"].lower()] = Meeting(m["meeting_id"].lower(), m["domain"], turn_line)
    return info


def score_ranking(results: list[tuple[str, int, int]], meeting: Meeting, relevant_turns: list[int], k: int = 10):
    """(hit@k, reciprocal rank@k, nDCG@k) for results given as (session_id, line_start, line_end)."""
    rel_lines = {meeting.turn_line[t] for t in relevant_turns if t in meeting.turn_line}
    for rank, (sid, a, b) in enumerate(results[:k], start=1):
        if sid == meeting.id and any(a <= ln <= b for ln in rel_lines):
            return 1.0, 1.0 / rank, 1.0 / math.log2(rank + 1)
    return 0.0, 0.0, 0.0


def bm25_baseline(meetings: list[dict], info: dict[str, Meeting], queries: list[dict], window: int):
    """BM25 (bm25s) over single turns (window=1) or windows of consecutive turns."""
    import bm25s

    docs, meta = [], []
    for m in meetings:
        turns = [t for t in m["turns"] if clean(t["text"])]
        mi = info[m["meeting_id"].lower()]
        step = 1 if window == 1 else max(1, window // 2)
        for i in range(0, len(turns), step):
            chunk = turns[i : i + window]
            docs.append(" ".join(clean(t["text"]) for t in chunk))
            meta.append((mi.id, mi.turn_line[int(chunk[0]["turn"])], mi.turn_line[int(chunk[-1]["turn"])]))
            if i + window >= len(turns):
                break
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(docs, stopwords="en", show_progress=False), show_progress=False)
    out = []
    for q in queries:
        ids, _ = retriever.retrieve(
            bm25s.tokenize([q["query"]], stopwords="en", show_progress=False), k=10, show_progress=False
        )
        out.append([meta[i] for i in ids[0]])
    return out


def cited_turns(result: tuple[str, int, int], meeting: Meeting) -> int:
    """How many transcript turns a cited line range spans (what a reader has to read)."""
    _, a, b = result
    lines = meeting.lines()
    return bisect.bisect_right(lines, b) - bisect.bisect_left(lines, a)


def evaluate(name: str, rankings, queries, info) -> dict[str, float]:
    hits, rr, nd, widths = [], [], [], []
    for q, res in zip(queries, rankings, strict=True):
        h, r, n = score_ranking(res, info[q["meeting_id"].lower()], q["relevant_turns"])
        hits.append(h)
        rr.append(r)
        nd.append(n)
        widths += [cited_turns(x, info[x[0]]) for x in res[:10]]
    return {
        "system": name,
        "recall@10": statistics.mean(hits),
        "MRR@10": statistics.mean(rr),
        "nDCG@10": statistics.mean(nd),
        "turns/result": statistics.mean(widths) if widths else 0.0,
    }


class DeviceEmbedder:
    """The configured sentence-transformers model on another torch device (a GPU), fp32, unit-length rows."""

    def __init__(self, device: str, batch_size: int = 256) -> None:
        from sentence_transformers import SentenceTransformer

        from index.embedder import default_model_path

        folder = os.environ.get("MENTORKB_EMBEDDER_MODEL") or default_model_path()
        self._model = SentenceTransformer(folder, device=device, local_files_only=True)
        self.name = "all-MiniLM-L6-v2" if not os.environ.get("MENTORKB_EMBEDDER_MODEL") else Path(folder).name
        # sentence-transformers 6 renamed the method; 5 has only the old name.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.precision = "fp32"
        self.batch_size = batch_size

    def encode(self, texts: list[str]):  # noqa: ANN201 - numpy array, numpy imported lazily
        """Embed texts as unit float32 rows."""
        import numpy as np

        out = self._model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        out = np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def encode_query(self, text: str):  # noqa: ANN201 - numpy array
        """One question (the device does the work; no CPU threads to share)."""
        return self.encode([text])


def run_domain(
    domain: str,
    meetings: list[dict],
    queries: list[dict],
    work: Path | None = None,
    *,
    embedder: object | None = None,
    index_backend: str = "faiss",
) -> list[dict]:
    from mentorkb.service import KnowledgeBase
    from models import Viewer

    with contextlib.ExitStack() as stack:
        if work is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            root = work / f"{domain.lower()}-{len(meetings)}"
        notes = root / "notes"
        notes.mkdir(parents=True, exist_ok=True)
        info = write_transcripts(meetings, notes)
        kb = KnowledgeBase.open(root / "kb", embedder=embedder, index_backend=index_backend)
        stack.callback(kb.close)
        t0 = time.perf_counter()
        report = kb.ingest([notes])
        ingest_s = time.perf_counter() - t0
        if report.rejected:
            print(f"warning: {len(report.rejected)} rejected, first: {report.rejected[0][1]}", file=sys.stderr)
        viewer = Viewer(None)
        kb.insights("warm up", viewer=viewer, log_question=False)
        ours, lat, embed = [], [], []
        for q in queries:
            t = time.perf_counter()
            kb.embedder.encode([q["query"]])
            embed.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            res = kb.insights(q["query"], viewer=viewer, top=10, log_question=False)
            lat.append((time.perf_counter() - t) * 1000)
            ours.append([(i.session_id, i.lines[0], i.lines[1]) for i in res])
        rows = [
            evaluate("BM25 single turns", bm25_baseline(meetings, info, queries, 1), queries, info),
            evaluate("BM25 windows of 5 turns", bm25_baseline(meetings, info, queries, 5), queries, info),
            evaluate("mentorkb insights", ours, queries, info),
        ]
        lat.sort()
        embed.sort()
        for r in rows:
            r["domain"] = domain
        rows[-1]["ingest_s"] = ingest_s
        rows[-1]["ingested"] = len(report.ingested) + len(report.updated)
        rows[-1]["passages"] = kb.stats()["passages"]
        rows[-1]["p50_ms"] = percentile(lat, 50)
        rows[-1]["p95_ms"] = percentile(lat, 95)
        rows[-1]["embed_p50_ms"] = percentile(embed, 50)
        return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="folder in the layout of qmsum-product-academic")
    ap.add_argument("--domain", action="append", help="Product and/or Academic (default: both)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N meetings per domain (quick runs)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    ap.add_argument("--work", type=Path, help="keep (and reuse) each domain's knowledge base in this folder")
    ap.add_argument("--embed-device", help="run the embedding model on this torch device (e.g. cuda) instead of CPU")
    ap.add_argument("--index-backend", choices=["faiss", "numpy"], default="faiss", help="exact vector index backend")
    args = ap.parse_args()
    meetings = [json.loads(line) for line in (args.data / "meetings.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (args.data / "span_queries.jsonl").open(encoding="utf-8")]
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for m in meetings:
        by_domain[m["domain"]].append(m)
    embedder = DeviceEmbedder(args.embed_device) if args.embed_device else None
    all_rows = []
    for domain in args.domain or ["Product", "Academic"]:
        ms = by_domain[domain][: args.limit or None]
        ids = {m["meeting_id"] for m in ms}
        qs = [q for q in queries if q["meeting_id"] in ids]
        rows = run_domain(domain, ms, qs, args.work, embedder=embedder, index_backend=args.index_backend)
        all_rows += rows
        ours = rows[-1]
        print(
            f"\n{domain}: {len(ms)} meetings, {len(qs)} span queries, {ours['passages']} passages, "
            f"ingest {ours['ingest_s']:.0f} s ({ours['ingested']} meetings ingested), "
            f"query p50 {ours['p50_ms']:.0f} ms / p95 {ours['p95_ms']:.0f} ms "
            f"(of which the query embedding p50 {ours['embed_p50_ms']:.0f} ms)"
        )
        print(f"{'system':28s} {'recall@10':>9s} {'MRR@10':>7s} {'nDCG@10':>8s} {'turns/result':>12s}")
        for r in rows:
            print(
                f"{r['system']:28s} {r['recall@10']:9.3f} {r['MRR@10']:7.3f} {r['nDCG@10']:8.3f} "
                f"{r['turns/result']:12.1f}"
            )
        best = max(rows[:2], key=lambda r: r["recall@10"])
        print(
            f"ratio to the better baseline ({best['system']}): recall {ours['recall@10'] / max(best['recall@10'], 1e-9):.2f}x, "
            f"MRR {ours['MRR@10'] / max(max(r['MRR@10'] for r in rows[:2]), 1e-9):.2f}x (target 1.3x)"
        )
    if args.json:
        args.json.write_text(json.dumps(all_rows, indent=2))


if __name__ == "__main__":
    main()
