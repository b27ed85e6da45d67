"""Start-up time: `mentorkb --help`, a cold `mentorkb ask` to its answer, and the app to its first answer.

Every figure is a fresh process, so imports and model loading are included; the operating system's file cache
is warm after the first run (the first run is shown separately). The cold `ask` is also broken down, in one
fresh process, into imports, opening the knowledge base, loading each model, loading the vector index and the
question itself. The app is started with `streamlit run app.py` against the same knowledge base and driven in
Debian's headless Chromium (docs/make_screenshots.py): time to the health check, to the rendered Find page,
and to the first rendered answer card.

    python -m benchmarks.bench_startup --work /tmp/mentorkb-bench
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_ingest import (  # noqa: E402
    BACKEND_ENV,
    DEFAULT_WORK,
    REPO,
    apply_index_backend,
    load_line,
    open_real_kb,
    run_timed,
)
from benchmarks.bench_query import BUILT, REAL_UP_TO, ensure_kb, kb_dir_for, load_questions  # noqa: E402
from benchmarks.gen_corpus import print_table  # noqa: E402

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
QUESTION_INDEX = 16  # q17, the incoterms question: one clear expert in the demo world


def _mentorkb_command(*, wrapped: bool = True) -> list[str]:
    """The installed console script (what users run), else `python -m mentorkb`; with another index backend
    set in $MENTORKB_BENCH_INDEX_BACKEND (and wrapped), bench_ingest's CLI wrapper, which applies it."""
    if wrapped and os.environ.get(BACKEND_ENV):
        return [sys.executable, "-m", "benchmarks.bench_ingest", "--as-cli", "baseline"]
    script = Path(sys.executable).with_name("mentorkb")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mentorkb"]


def time_command(cmd: Sequence[str], *, runs: int) -> list[tuple[float, float]]:
    """(wall s, CPU s) of `runs` fresh processes of cmd (each must exit 0)."""
    return [run_timed(cmd, env=os.environ | OFFLINE) for _ in range(runs)]


def breakdown(kb_dir: Path, question: str, asker: str | None) -> dict[str, tuple[float, float]]:
    """In this (fresh) process: (wall s, CPU s) of each step of a cold `ask`, in order."""
    steps: dict[str, tuple[float, float]] = {}
    mark, cpu_mark = time.perf_counter(), time.process_time()

    def step(name: str) -> None:
        nonlocal mark, cpu_mark
        now, cpu_now = time.perf_counter(), time.process_time()
        steps[name] = (now - mark, cpu_now - cpu_mark)
        mark, cpu_mark = now, cpu_now

    os.environ.update(OFFLINE)
    import mentorkb.cli  # noqa: F401 - what `mentorkb` imports before running a command

    step("import mentorkb.cli")
    from mentorkb.service import KnowledgeBase

    apply_index_backend()
    kb = KnowledgeBase.open(kb_dir)
    step("open knowledge base")
    import sentence_transformers  # noqa: F401 - imported by the embedder; timed apart from the model load

    step("import torch + sentence-transformers")
    _ = kb.embedder
    step(f"load embedder ({kb.embedder.precision}, incl. bf16 probe)")
    _ = kb.extractor
    step("load spaCy")
    kb.index()
    step("load vector index")
    kb.ask(question, viewer=kb.viewer(asker), asker=asker, log_question=False)
    step("ask (first question)")
    kb.ask(question, viewer=kb.viewer(asker), asker=asker, log_question=False)
    step("ask (again, warm)")
    return steps


def app_timings(kb_dir: Path, question: str) -> dict[str, float]:
    """Seconds from `streamlit run app.py` to: health check, rendered Find page, first rendered answer."""
    spec = importlib.util.spec_from_file_location("make_screenshots", REPO / "docs" / "make_screenshots.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError("docs/make_screenshots.py is missing")
    shots: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    out: dict[str, float] = {}
    with shots.browser() as page:  # the browser starts first: its own start-up is not the app's
        start = time.perf_counter()
        with shots.running_app(kb_dir, {}, timeout_s=300) as url:
            out["server healthy"] = time.perf_counter() - start
            shots.open_page(page, url, "", "Who can teach me…?")
            out["Find page rendered"] = time.perf_counter() - start
            shots.ask(page, question)
            out["first answer rendered"] = time.perf_counter() - start
    return out


def _stats(runs: Sequence[tuple[float, float]]) -> list[str]:
    walls = [w for w, _ in runs]
    cpus = [c for _, c in runs]
    return [
        f"{walls[0]:.2f}",
        f"{statistics.median(walls):.2f}",
        f"{min(walls):.2f}",
        f"{statistics.median(cpus):.2f}",
        str(len(runs)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: time --help, a cold ask (with its breakdown) and the app."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--breakdown"]:  # child mode: one fresh process, prints JSON
        print(json.dumps(breakdown(Path(argv[1]), argv[2], argv[3] or None)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--passages", type=int, default=10_000, help="size of the knowledge base asked")
    ap.add_argument("--real-up-to", type=int, default=REAL_UP_TO, help="largest size built with the real models")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3, help="fresh processes per command (--help gets 2x)")
    ap.add_argument("--no-app", action="store_true", help="skip the Streamlit app")
    args = ap.parse_args(argv)

    print(load_line())
    embedder = None
    real = args.passages <= args.real_up_to
    if not real and not (kb_dir_for(args.work, args.passages, args.seed, real) / BUILT).exists():
        probe = open_real_kb(args.work / "kb-probe")
        embedder = probe.embedder  # the bulk build records vectors under the real embedder's name
        probe.close()
    kb_dir, _ = ensure_kb(args.work, args.passages, seed=args.seed, real_up_to=args.real_up_to, embedder=embedder)
    question, asker = load_questions()[QUESTION_INDEX]
    mk = _mentorkb_command()
    help_cmd = [*_mentorkb_command(wrapped=False), "--help"]
    rows = [
        ["mentorkb --help", *_stats(time_command(help_cmd, runs=2 * args.runs))],
        [
            f"mentorkb ask (cold, {args.passages:,} passages)",
            *_stats(time_command([*mk, "ask", question, "--as", asker, "--kb", str(kb_dir)], runs=args.runs)),
        ],
    ]
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_startup", "--breakdown", str(kb_dir), question, asker or ""],
        cwd=REPO,
        env=os.environ | OFFLINE,
        capture_output=True,
        text=True,
        check=True,
    )
    steps = json.loads(child.stdout.strip().splitlines()[-1])
    print_table(
        f"Start-up, seconds ({load_line()})",
        ["command", "first wall s", "median wall s", "min wall s", "median CPU s", "runs"],
        rows,
    )
    print_table(
        "A cold ask, step by step (one fresh process)",
        ["step", "wall s", "CPU s"],
        [[k, f"{wall:.2f}", f"{cpu:.2f}"] for k, (wall, cpu) in steps.items()],
    )
    if args.no_app:
        return 0
    if not (REPO / "app.py").exists():
        print("app.py does not exist: no app timing")
        return 0
    app = app_timings(kb_dir, question)
    print_table(
        "streamlit run app.py (real models, headless Chromium)",
        ["milestone", "seconds"],
        [[k, f"{v:.1f}"] for k, v in app.items()],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
