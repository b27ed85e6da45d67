"""The `mentorkb` command line. Thin: parses arguments, calls the KnowledgeBase facade, prints.

Heavy libraries are imported only by the commands that need them, so `mentorkb --help` is instant.
Every MentorKBError becomes a one-line message with its fix and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mentorkb.errors import MentorKBError

if TYPE_CHECKING:
    from mentorkb.service import KnowledgeBase
    from models import Viewer

DEMO_DIR = Path(__file__).parent / "demo"
APP_PATH = Path(__file__).resolve().parent.parent / "app.py"

KB_OPTION = click.option(
    "--kb",
    "kb_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Knowledge-base folder (default: $MENTORKB_KB or ~/.mentorkb/kb).",
)
AS_OPTION = click.option(
    "--as", "as_person", default=None, help="Act as this person (roster id, email or name); default: anonymous."
)
OPERATOR_OPTION = click.option(
    "--operator",
    is_flag=True,
    help="Operator mode: see every session, including private ones. For programme administrators only.",
)
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _quiet_models() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn MentorKBError into a clear message on stderr and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MentorKBError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _open(kb_dir: Path | None, **kw: Any) -> KnowledgeBase:
    _quiet_models()
    from mentorkb.service import KnowledgeBase

    return KnowledgeBase.open(kb_dir, **kw)


def _viewer(kb: KnowledgeBase, as_person: str | None, operator: bool) -> Viewer:
    return kb.viewer(as_person, operator=operator)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, dates and tuples as plain JSON values."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: to_jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(to_jsonable(obj), ensure_ascii=False, indent=2))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[("" if v is None else str(v)) for v in r])
    Console(width=int(os.environ.get("COLUMNS", "140"))).print(t)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mentorkb")
def main() -> None:
    """mentorkb: who can teach me X, earlier insights and topic clusters from mentoring notes."""


# -- ingest & housekeeping --------------------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), help="people.csv to load first.")
@KB_OPTION
@JSON_OPTION
@handle_errors
def ingest(paths: tuple[Path, ...], roster: Path | None, kb_dir: Path | None, as_json: bool) -> None:
    """Ingest note files and folders (.md .txt .vtt .docx .jsonl) or a `mentorkb export` file. Exit 1 if any
    file was rejected."""
    from mentorkb.portable import import_kb, is_export
    from models import IngestReport

    kb = _open(kb_dir)
    exports = [p for p in paths if p.is_file() and p.suffix.lower() == ".jsonl" and is_export(p)]
    notes = [p for p in paths if p not in exports]
    parts = [_ingest(kb, notes, roster, quiet=as_json)] if notes or roster else []
    parts += [import_kb(kb, p) for p in exports]
    report = IngestReport()
    for part in parts:
        for name in ("ingested", "updated", "unchanged", "rejected", "new_people", "notices"):
            getattr(report, name).extend(getattr(part, name))
        report.passages += part.passages
        report.seconds += part.seconds
    if as_json:
        _print_json(report)
    else:
        _print_report(report)
    sys.exit(0 if report.ok else 1)


def _ingest(kb: KnowledgeBase, paths: list[Path], roster: Path | None, *, quiet: bool = False) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(source: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None, description=source[-50:])

        return kb.ingest(paths, roster=roster, progress=progress)


def _print_report(report: Any) -> None:
    _table(
        "Ingest summary",
        ["ingested", "updated", "unchanged", "rejected", "new people", "passages", "seconds"],
        [
            [
                len(report.ingested),
                len(report.updated),
                len(report.unchanged),
                len(report.rejected),
                len(report.new_people),
                report.passages,
                f"{report.seconds:.1f}",
            ]
        ],
    )
    for notice in report.notices:
        click.echo(f"note: {notice}")
    for _source, message in report.rejected:
        click.echo(f"rejected: {message}", err=True)


@main.command()
@click.argument("session_id")
@KB_OPTION
@handle_errors
def remove(session_id: str, kb_dir: Path | None) -> None:
    """Delete one session (its passages and vectors too)."""
    _open(kb_dir).remove(session_id)
    click.echo(f"removed {session_id}")


@main.command()
@KB_OPTION
@JSON_OPTION
@handle_errors
def check(kb_dir: Path | None, as_json: bool) -> None:
    """Check that the store and the vector index agree. Exit 1 if not."""
    report = _open(kb_dir).check()
    if as_json:
        _print_json(report)
    else:
        click.echo("ok" if report["ok"] else "problems:\n  " + "\n  ".join(report["problems"]))
    sys.exit(0 if report["ok"] else 1)


@main.command()
@KB_OPTION
@handle_errors
def reindex(kb_dir: Path | None) -> None:
    """Re-embed every passage and rebuild the vector index (heals a corrupted or mismatched index)."""
    n = _open(kb_dir).reindex()
    click.echo(f"reindexed {n} passages")


@main.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@KB_OPTION
@handle_errors
def export(out: Path, kb_dir: Path | None) -> None:
    """Write everything (people, sessions, topics, settings, questions) to a JSON Lines file; `mentorkb ingest
    FILE` imports it into another knowledge base. The file holds private notes: it is readable by you only."""
    from mentorkb.portable import export_kb

    n = export_kb(_open(kb_dir), out)
    click.echo(f"wrote {n} records to {out}")


# -- listing ----------------------------------------------------------------------------------------------------
@main.command()
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def people(kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """List people."""
    kb = _open(kb_dir)
    rows = kb.people(_viewer(kb, as_person, operator))
    if as_json:
        _print_json(rows)
        return
    _table(
        f"People ({len(rows)})",
        ["id", "name", "title", "level", "department", "capacity"],
        [
            [p.id, p.name, p.title, p.level if p.level is not None else "unknown", p.department, p.capacity]
            for p in rows
        ],
    )


@main.command()
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def sessions(kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """List sessions you may see, newest first."""
    kb = _open(kb_dir)
    rows = kb.sessions(_viewer(kb, as_person, operator))
    if as_json:
        _print_json([{k: v for k, v in to_jsonable(s).items() if k != "text"} for s in rows])
        return
    _table(
        f"Sessions ({len(rows)})",
        ["id", "date", "type", "title", "mentors", "mentees", "visibility"],
        [
            [
                s.id,
                s.date,
                s.type.value,
                s.title[:50],
                ", ".join(s.mentors or s.participants),
                ", ".join(s.mentees),
                s.visibility.value,
            ]
            for s in rows
        ],
    )


@main.command()
@click.argument("session_id")
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def show(session_id: str, kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """Print one session with line numbers."""
    kb = _open(kb_dir)
    s = kb.session(session_id, _viewer(kb, as_person, operator))
    if as_json:
        _print_json(s)
        return
    click.echo(f"{s.title}  ({s.date}, {s.type.value}, {s.visibility.value})  {s.source}")
    if not s.text:
        click.echo("(you may see that this session happened, but not its text)")
    for n, line in enumerate(s.text.splitlines(), start=s.first_line):
        click.echo(f"{n:4d}  {line}")


@main.command()
@KB_OPTION
@JSON_OPTION
@handle_errors
def stats(kb_dir: Path | None, as_json: bool) -> None:
    """Counts of sessions, people, passages and topics."""
    data = _open(kb_dir).stats()
    if as_json:
        _print_json(data)
    else:
        _table("Knowledge base", list(data), [list(data.values())])


# -- questions --------------------------------------------------------------------------------------------------
@main.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.Path(dir_okay=False, path_type=Path), help='JSON Lines of {"id","question","as"?}.')
@AS_OPTION
@OPERATOR_OPTION
@click.option("--direction", type=click.Choice(["any", "mentor", "reverse", "peer"]), default="any", show_default=True)
@click.option("--top", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--opt-in", is_flag=True, help="Record your identity with the question (demand statistics).")
@KB_OPTION
@JSON_OPTION
@handle_errors
def ask(
    question: str | None,
    batch: Path | None,
    as_person: str | None,
    operator: bool,
    direction: str,
    top: int,
    opt_in: bool,
    kb_dir: Path | None,
    as_json: bool,
) -> None:
    """Who can teach me QUESTION? Ranked people, labelled mentor / reverse mentor / peer, with evidence."""
    kb = _open(kb_dir)
    if batch is not None:
        for qid, q, who in _read_batch(batch):
            viewer = _viewer(kb, who or as_person, operator)
            recs = kb.ask(q, viewer=viewer, direction=direction, top=top, opt_in=opt_in)
            click.echo(json.dumps({"id": qid, "results": [_rec_json(r) for r in recs]}, ensure_ascii=False))
        return
    if not question:
        raise click.UsageError("give a QUESTION or --batch FILE")
    recs = kb.ask(question, viewer=_viewer(kb, as_person, operator), direction=direction, top=top, opt_in=opt_in)
    if as_json:
        click.echo(json.dumps({"question": question, "results": [_rec_json(r) for r in recs]}, indent=2))
        return
    if not recs:
        click.echo("Nobody found who has taught this yet. Try other words, or `--direction any`.")
    for i, r in enumerate(recs, start=1):
        p = r.person
        level = f"level {p.level}" if p.level is not None else "level unknown"
        cap = "  [at capacity]" if r.at_capacity else ""
        click.echo(f"{i}. {p.name} ({p.title or 'no title'}, {level}) - {r.relation.value}  score {r.score:.2f}{cap}")
        click.echo(f"   {r.n_sessions} sessions taught, last active {r.last_active}; suggested: {r.suggested_format}")
        if r.topics:
            click.echo(f"   topics: {', '.join(r.topics)}")
        for e in r.evidence:
            quote = f'"{_short(e.quote)}"' if e.quote else "(topics-only session: no quote)"
            click.echo(
                f"   - {quote}  [{e.session_id}, {e.date}, {e.type.value}, {e.source}:{e.lines[0]}-{e.lines[1]}]"
            )
        if r.skill_swap:
            click.echo(f"   {r.skill_swap}")


@main.command()
@click.option("--n", "n", type=click.IntRange(10, 10_000), default=200, show_default=True, help="Sessions to hold out.")
@click.option("--seed", default=0, show_default=True, help="Which sessions are held out.")
@click.option("--dry-run", is_flag=True, help="Report the held-out MRR, but keep the current weights.")
@KB_OPTION
@JSON_OPTION
@handle_errors
def calibrate(n: int, seed: int, dry_run: bool, kb_dir: Path | None, as_json: bool) -> None:
    """Tune the ranking weights on this knowledge base's own history (replayed sessions) into settings.toml."""
    from mentorkb.calibrate import calibrate as run_calibration

    report = run_calibration(_open(kb_dir), n=n, seed=seed, save=not dry_run)
    if as_json:
        _print_json(report)
        return
    before, after = report["mrr_before"], report["mrr_after"]
    click.echo(f"held-out MRR on {report['cases']['check']} sessions: {before['check']:.3f} -> {after['check']:.3f}")
    verdict = "saved to settings.toml" if report["saved"] else "not saved (dry run, or no better than the current ones)"
    click.echo(f"weights {verdict}:")
    for name, value in report["tried"].items():
        click.echo(f"  {name} = {value}")


def _short(text: str, n: int = 220) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _rec_json(r: Any) -> dict[str, Any]:
    return {
        "person_id": r.person.id,
        "name": r.person.name,
        "title": r.person.title,
        "level": r.person.level,
        "relation": r.relation.value,
        "score": r.score,
        "topics": list(r.topics),
        "n_sessions": r.n_sessions,
        "last_active": r.last_active.isoformat() if r.last_active else None,
        "at_capacity": r.at_capacity,
        "suggested_format": r.suggested_format,
        "skill_swap": r.skill_swap,
        "evidence": [
            {
                "session_id": e.session_id,
                "date": e.date.isoformat(),
                "type": e.type.value,
                "quote": e.quote,
                "source": e.source,
                "lines": list(e.lines),
            }
            for e in r.evidence
        ],
    }


def _read_batch(path: Path) -> list[tuple[str, str, str | None]]:
    from mentorkb.errors import NoteFormatError

    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise NoteFormatError(
            f"cannot read the batch file ({exc})", source=str(path), fix="give a UTF-8 JSON Lines file"
        ) from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NoteFormatError(
                f"not JSON ({exc.msg})",
                source=str(path),
                line=n,
                fix='one object per line: {"id": "q1", "question": "..."}',
            ) from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or not obj["question"].strip():
            raise NoteFormatError(
                "missing 'question'",
                source=str(path),
                line=n,
                field="question",
                fix='give each line a "question" string',
            )
        out.append((str(obj.get("id", n)), obj["question"], obj.get("as")))
    return out


@main.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.Path(dir_okay=False, path_type=Path), help='JSON Lines of {"id","question","as"?}.')
@AS_OPTION
@OPERATOR_OPTION
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--topic", default=None, help="Only passages on this topic.")
@click.option("--person", default=None, help="Only sessions with this person (id, email or name).")
@click.option(
    "--type",
    "session_type",
    default=None,
    type=click.Choice(["traditional", "reverse", "peer", "flash", "skill-swap", "group"]),
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Earliest session date.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Latest session date.")
@click.option("--direction", type=click.Choice(["top-down", "bottom-up", "peer"]), default=None)
@click.option("--opt-in", is_flag=True, help="Record your identity with the question (demand statistics).")
@KB_OPTION
@JSON_OPTION
@handle_errors
def insights(
    question: str | None,
    batch: Path | None,
    as_person: str | None,
    operator: bool,
    top: int,
    topic: str | None,
    person: str | None,
    session_type: str | None,
    since: Any,
    until: Any,
    direction: str | None,
    opt_in: bool,
    kb_dir: Path | None,
    as_json: bool,
) -> None:
    """Passages from earlier sessions that answer QUESTION, cited to file and lines."""
    from models import SessionType
    from recommend.insights import InsightFilters

    kb = _open(kb_dir)
    filters = InsightFilters(
        topic=kb.canon().canonical(topic) if topic else None,
        person=kb.person(person).id if person else None,
        type=SessionType(session_type) if session_type else None,
        since=since.date() if since else None,
        until=until.date() if until else None,
        direction=direction,
    )
    if batch is not None:
        for qid, q, who in _read_batch(batch):
            res = kb.insights(
                q, viewer=_viewer(kb, who or as_person, operator), top=top, filters=filters, opt_in=opt_in
            )
            click.echo(json.dumps({"id": qid, "results": [_ins_json(i) for i in res]}, ensure_ascii=False))
        return
    if not question:
        raise click.UsageError("give a QUESTION or --batch FILE")
    res = kb.insights(question, viewer=_viewer(kb, as_person, operator), top=top, filters=filters, opt_in=opt_in)
    if as_json:
        click.echo(json.dumps({"question": question, "results": [_ins_json(i) for i in res]}, indent=2))
        return
    if not res:
        click.echo("No earlier session answers this yet.")
    for n, i in enumerate(res, start=1):
        who = f"{i.speaker}: " if i.speaker else ""
        click.echo(
            f"{n}. {i.title} ({i.date}, {i.type.value}) {i.source}:{i.lines[0]}-{i.lines[1]}  score {i.score:.3f}"
        )
        click.echo(f"   {who}{_short(i.text, 400)}")
        if i.also_in:
            click.echo(f"   also said in {len(i.also_in)} other session(s): {', '.join(i.also_in)}")


def _ins_json(i: Any) -> dict[str, Any]:
    return {
        "session_id": i.session_id,
        "title": i.title,
        "source": i.source,
        "lines": list(i.lines),
        "speaker": i.speaker,
        "text": i.text,
        "score": i.score,
        "date": i.date.isoformat(),
        "type": i.type.value,
        "topics": list(i.topics),
        "also_in": list(i.also_in),
    }


# -- demo & app -------------------------------------------------------------------------------------------------
@main.command()
@KB_OPTION
@click.option("--no-app", is_flag=True, help="Only ingest the demo corpus; do not start the app.")
@click.option("--port", default=8501, show_default=True)
@handle_errors
def demo(kb_dir: Path | None, no_app: bool, port: int) -> None:
    """Ingest the built-in demo corpus (a fictional company) and start the app on 127.0.0.1."""
    kb = _open(kb_dir)
    report = _ingest(kb, [DEMO_DIR / "notes"], DEMO_DIR / "people.csv")
    _print_report(report)
    click.echo(f"knowledge base: {kb.kb_dir}")
    if not no_app:
        _run_app(kb.kb_dir, port)


@main.command()
@KB_OPTION
@click.option("--port", default=8501, show_default=True)
@handle_errors
def app(kb_dir: Path | None, port: int) -> None:
    """Start the Streamlit app on 127.0.0.1 (single-user local mode unless [auth] is configured)."""
    from mentorkb.settings import Settings

    _run_app(Settings.load(kb_dir).kb_dir, port)


def _run_app(kb_dir: Path, port: int) -> None:
    import subprocess

    if not APP_PATH.exists():
        raise MentorKBError(
            f"app.py not found next to the package ({APP_PATH})", fix="install from a checkout with `pip install -e .`"
        )
    env = dict(os.environ, MENTORKB_KB=str(kb_dir))
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
    ]
    click.echo(f"starting the app on http://127.0.0.1:{port} (Ctrl+C to stop)")
    subprocess.run(cmd, env=env, check=False)


@main.command("settings")
@KB_OPTION
@click.option("--markdown", is_flag=True, help="Print the settings table as Markdown (used for the README).")
@handle_errors
def settings_command(kb_dir: Path | None, markdown: bool) -> None:
    """Show every setting: its current value, default and meaning (env MENTORKB_<NAME> overrides)."""
    from dataclasses import fields

    from mentorkb.settings import Settings

    current = Settings.load(kb_dir)
    if markdown:
        click.echo("| setting | env | default | meaning |\n|---|---|---|---|")
        for name, default, doc in Settings.documented():
            click.echo(f"| `{name}` | `MENTORKB_{name.upper()}` | `{default}` | {doc} |")
        return
    _table(
        "Settings",
        ["setting", "value", "meaning"],
        [[f.name, getattr(current, f.name), f.metadata["doc"]] for f in fields(Settings)],
    )


def _register_coordinator_commands() -> None:
    from mentorkb.cli_topics import gaps_command, topics_group

    main.add_command(topics_group, "topics")
    main.add_command(gaps_command, "gaps")


_register_coordinator_commands()
