"""Who-can-teach-me quality on real data: a Stack Exchange dump read as flash-mentoring sessions.

Every corpus answer becomes one flash session (mentor = answerer, mentee = asker, date = answer date,
text = question title + body + answer), written as JSON Lines with a roster of unknown levels into a temporary
folder and ingested through the KnowledgeBase facade with the real models. The held-out questions are then asked
("who can teach me <title>?", as the asker) through `kb.ask_batch`, and two baselines are computed on the same
notes in the same run: BM25 (bm25s; a person scores the sum of their 5 best documents) and popularity (answer
count). Nothing is tuned on the evaluation queries; `--calibrate` tunes on the knowledge base's own sessions.

    python -m benchmarks.eval_experts --data ../shared/data/quantumcomputing-stackexchange --split random
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._metrics import EXPERT_METRICS, Summary, summarise  # noqa: E402

SPLITS = ("random", "temporal")
QUESTION_TEMPLATE = "who can teach me {title}?"
NOTES_FILE = "sessions.jsonl"
ROSTER_FILE = "people.csv"


@dataclass(frozen=True)
class Note:
    """One corpus answer as a flash-mentoring session (a JSON Lines record of the notes format)."""

    id: str
    date: str
    title: str
    mentor: str
    mentee: str
    text: str
    tags: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """The JSON Lines record mentorkb ingests."""
        return {
            "id": self.id,
            "date": self.date,
            "title": self.title,
            "type": "flash",
            "mentors": [self.mentor],
            "mentees": [self.mentee] if self.mentee else [],
            "tags": list(self.tags),
            "text": self.text,
        }


@dataclass(frozen=True)
class Query:
    """A held-out question: its id, title and asker (a roster id)."""

    id: str
    title: str
    asker: str

    @property
    def question(self) -> str:
        """The question as a programme member would ask it."""
        return QUESTION_TEMPLATE.format(title=self.title.rstrip("?").strip())


@dataclass
class EvalSet:
    """Corpus notes, people, held-out queries and their graded judgements for one split."""

    split: str
    notes: list[Note]
    people: list[str]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    answerable: set[str] = field(default_factory=set)


def person_id(user_id: str) -> str:
    """Roster id of a Stack Exchange user."""
    return f"u{user_id}"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _check_data(data: Path, split: str) -> None:
    needed = ["questions.jsonl", "answers.jsonl", f"queries_{split}.tsv", f"qrels_{split}.tsv"]
    missing = [name for name in needed if not (data / name).is_file()]
    if missing:
        raise SystemExit(
            f"{data}: missing {', '.join(missing)}. Fix: point --data at the quantumcomputing-stackexchange folder."
        )


def load_split(data: Path, split: str) -> EvalSet:
    """Read the data set by path and turn one split's corpus answers into notes (nothing is copied)."""
    if split not in SPLITS:
        raise SystemExit(f"--split must be one of {', '.join(SPLITS)}, not '{split}'")
    _check_data(data, split)
    questions = {q["question_id"]: q for q in _read_jsonl(data / "questions.jsonl")}
    key = f"split_{split}"
    notes: list[Note] = []
    people: set[str] = set()
    for a in _read_jsonl(data / "answers.jsonl"):
        q = questions.get(a["question_id"])
        if a[key] != "corpus" or not a["author_user_id"] or q is None:
            continue  # an answer by a deleted account has nobody to credit
        mentor, mentee = person_id(a["author_user_id"]), person_id(q["asker_user_id"]) if q["asker_user_id"] else ""
        if mentee == mentor:
            mentee = ""  # a self-answer teaches nobody
        text = f"{q['title']}\n\n{q['body'].strip()}\n\n{a['body'].strip()}"
        notes.append(
            Note(
                id=f"a{a['answer_id']}",
                date=a["created"][:10],
                title=q["title"],
                mentor=mentor,
                mentee=mentee,
                text=text,
                tags=tuple(q.get("tags") or ()),
            )
        )
        people.update(p for p in (mentor, mentee) if p)
    queries = [
        Query(r["question_id"], r["title"], person_id(r["asker_user_id"]))
        for r in _read_tsv(data / f"queries_{split}.tsv")
    ]
    people.update(q.asker for q in queries)
    answerable = {
        r["question_id"]
        for r in _read_tsv(data / f"queries_{split}.tsv")
        if r["accepted_author_corpus_answers"] and int(r["accepted_author_corpus_answers"]) >= 3
    }
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    askers = {q.id: q.asker for q in queries}
    for r in _read_tsv(data / f"qrels_{split}.tsv"):
        pid = person_id(r["user_id"])
        if pid != askers.get(r["question_id"]):
            qrels[r["question_id"]][pid] = max(int(r["grade"]), qrels[r["question_id"]].get(pid, 0))
    return EvalSet(split, notes, sorted(people), queries, dict(qrels), answerable)


def write_notes(ev: EvalSet, folder: Path) -> tuple[Path, Path]:
    """Write the notes (JSON Lines) and a roster with unknown levels; returns (notes folder, roster path)."""
    notes_dir = folder / "notes"
    notes_dir.mkdir(parents=True, exist_ok=True)
    with (notes_dir / NOTES_FILE).open("w", encoding="utf-8") as fh:
        for n in ev.notes:
            fh.write(json.dumps(n.record(), ensure_ascii=False) + "\n")
    roster = folder / ROSTER_FILE
    with roster.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "email", "title", "level", "department", "joined", "capacity"])
        for pid in ev.people:
            w.writerow([pid, f"User {pid[1:]}", "", "", "", "", "", ""])
    return notes_dir, roster


# -- baselines -------------------------------------------------------------------------------------------------
def bm25_baseline(notes: Sequence[Note], queries: Sequence[Query], *, top_docs: int = 5) -> dict[str, list[str]]:
    """BM25 (bm25s) over whole notes; a person scores the sum of their `top_docs` best documents."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([n.text for n in notes], stopwords="en", show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([q.title for q in queries], stopwords="en", return_ids=False, show_progress=False)
    runs: dict[str, list[str]] = {}
    for q, toks in zip(queries, tokens):
        scores = retriever.get_scores(toks) if toks else [0.0] * len(notes)
        per: dict[str, list[float]] = defaultdict(list)
        for n, s in zip(notes, scores):
            if s > 0 and n.mentor != q.asker:
                per[n.mentor].append(float(s))
        total = {p: sum(sorted(v, reverse=True)[:top_docs]) for p, v in per.items()}
        runs[q.id] = sorted(total, key=lambda p: (-total[p], p))
    return runs


def popularity_baseline(notes: Sequence[Note], queries: Sequence[Query]) -> dict[str, list[str]]:
    """Everyone ranked by how many answers they gave, whatever the question."""
    count: dict[str, int] = defaultdict(int)
    for n in notes:
        count[n.mentor] += 1
    order = sorted(count, key=lambda p: (-count[p], p))
    return {q.id: [p for p in order if p != q.asker] for q in queries}


# -- mentorkb ---------------------------------------------------------------------------------------------------
def _offline() -> None:
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def open_kb(work: Path, overrides: Mapping[str, Any] | None = None) -> Any:
    """The evaluation knowledge base under work/, with its settings (and settings.toml) plus overrides."""
    _offline()
    from mentorkb.service import KnowledgeBase

    return KnowledgeBase.open(work / "kb", settings_overrides=dict(overrides or {}))


def build_kb(ev: EvalSet, work: Path, overrides: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Ingest the split's notes into a knowledge base under work/; returns (kb, timings and counts)."""
    notes_dir, roster = write_notes(ev, work)
    kb = open_kb(work, overrides)
    started = time.perf_counter()
    report = kb.ingest([notes_dir], roster=roster)
    if report.rejected:
        raise SystemExit(f"ingest rejected {len(report.rejected)} file(s): {report.rejected[:3]}")
    info = {
        "ingest_s": round(time.perf_counter() - started, 1),
        "sessions": kb.stats()["sessions"],
        "passages": kb.stats()["passages"],
    }
    return kb, info


def mentorkb_runs(kb: Any, queries: Sequence[Query], *, top: int = 100) -> dict[str, list[str]]:
    """Ask every held-out question through the batch interface, as its asker; returns ranked person ids."""
    items = [(q.id, q.question, q.asker) for q in queries]
    return {qid: [r.person.id for r in recs] for qid, recs in kb.ask_batch(items, top=top, log_question=False)}


def _calibrated(kb: Any, work: Path, overrides: Mapping[str, Any], *, n: int, info: dict[str, Any]) -> tuple[Any, dict]:
    """Calibrate on the kb's own sessions, then reopen it with the weights written to settings.toml."""
    from mentorkb.calibrate import calibrate
    from mentorkb.service import KnowledgeBase
    from mentorkb.settings import Settings

    t0 = time.perf_counter()
    report = calibrate(kb, n=n, seed=0)
    info["calibrate_s"] = round(time.perf_counter() - t0, 1)
    embedder, extractor = kb.embedder, kb.extractor
    kb.close()
    return KnowledgeBase(Settings.load(work / "kb", **overrides), embedder=embedder, extractor=extractor), report


# -- report -----------------------------------------------------------------------------------------------------
def evaluate(ev: EvalSet, runs: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, dict[str, Summary]]:
    """Per system: metrics over all judged queries and over the answerable subset."""
    subsets = {"all": None, "answerable": sorted(ev.answerable)}
    return {
        name: {sub: summarise(run, ev.qrels, EXPERT_METRICS, queries=qs) for sub, qs in subsets.items()}
        for name, run in runs.items()
    }


def format_table(results: Mapping[str, Mapping[str, Summary]]) -> str:
    """A plain-text table: one row per system and query subset, one column per metric."""
    names = [m.name for m in EXPERT_METRICS]
    head = f"{'system':<22}{'queries':<12}" + "".join(f"{n:>10}" for n in names)
    lines = [head, "-" * len(head)]
    for system, subs in results.items():
        for sub, s in subs.items():
            lines.append(f"{system:<22}{sub:<12}" + "".join(f"{s.means[n]:>10.3f}" for n in names))
    first = next(iter(results.values()))
    judged = "; ".join(
        f"{sub}: {s.counts['MRR']} for MRR/P@1, {s.counts['Hit@10']} for nDCG/Hit" for sub, s in first.items()
    )
    lines.append(f"(queries judged - {judged})")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: convert, ingest, ask, score and print the table (and optionally JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the quantumcomputing-stackexchange folder")
    ap.add_argument("--split", choices=SPLITS, default="random")
    ap.add_argument("--work", type=Path, default=None, help="keep notes and kb here (default: a temp folder)")
    ap.add_argument("--top", type=int, default=100, help="people ranked per question")
    ap.add_argument("--calibrate", type=int, default=0, metavar="N", help="calibrate on N held-out kb sessions first")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a setting")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here as JSON")
    args = ap.parse_args(argv)

    ev = load_split(args.data, args.split)
    overrides = dict(kv.split("=", 1) for kv in args.set)
    work = args.work or Path(tempfile.mkdtemp(prefix="mentorkb-eval-"))
    # Weights calibrated by an earlier run in the same --work folder must not leak into this one's defaults.
    (work / "kb" / "settings.toml").unlink(missing_ok=True)
    try:
        started = time.perf_counter()
        kb, info = build_kb(ev, work, overrides)
        t0 = time.perf_counter()
        runs = {"mentorkb": mentorkb_runs(kb, ev.queries, top=args.top)}
        info["ask_s"] = round(time.perf_counter() - t0, 1)
        calibration = None
        if args.calibrate:
            kb, calibration = _calibrated(kb, work, overrides, n=args.calibrate, info=info)
            runs["mentorkb calibrated"] = mentorkb_runs(kb, ev.queries, top=args.top)
        runs["BM25 top-5 sum"] = bm25_baseline(ev.notes, ev.queries)
        runs["popularity"] = popularity_baseline(ev.notes, ev.queries)
        results = evaluate(ev, runs)
        info["total_s"] = round(time.perf_counter() - started, 1)
        kb.close()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"split={args.split}  notes={len(ev.notes)}  queries={len(ev.queries)}  {info}")
    if calibration:
        print("calibration:", json.dumps(calibration))
    print(format_table(results))
    if args.json:
        payload = {
            "split": args.split,
            "info": info,
            "calibration": calibration,
            "results": {
                sys_: {sub: {"means": s.means, "counts": s.counts} for sub, s in subs.items()}
                for sys_, subs in results.items()
            },
        }
        args.json.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
