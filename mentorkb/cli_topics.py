"""`mentorkb topics` and `mentorkb gaps`: the coordinator's view of the knowledge base.

Thin, like the rest of the CLI: each command calls one KnowledgeBase method and prints a table or JSON.
Registered on the main group by mentorkb.cli (import mentorkb.cli first: this module borrows its options).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mentorkb.cli import (
    AS_OPTION,
    JSON_OPTION,
    KB_OPTION,
    OPERATOR_OPTION,
    _open,
    _print_json,
    _short,
    _table,
    _viewer,
    handle_errors,
)

if TYPE_CHECKING:
    from mentorkb.service import KnowledgeBase
    from models import Cluster, Viewer

DIRECTION_ORDER = ("top-down", "bottom-up", "peer")


def _names(kb: KnowledgeBase, viewer: Viewer) -> dict[str, str]:
    return {p.id: p.name for p in kb.people(viewer)}


def _people(ids: Sequence[str], names: Mapping[str, str], limit: int = 4) -> str:
    shown = [names.get(i, i) for i in ids[:limit]]
    more = f" +{len(ids) - limit}" if len(ids) > limit else ""
    return ", ".join(shown) + more


def _directions(mix: Mapping[str, int]) -> str:
    return ", ".join(f"{d} {mix[d]}" for d in DIRECTION_ORDER if mix.get(d))


def _print_clusters(clusters: Sequence[Cluster]) -> None:
    _table(
        f"Topic clusters ({len(clusters)})",
        ["id", "label", "sessions", "teachers", "learners", "directions", "demand", "last activity"],
        [
            [
                c.id,
                c.label,
                c.sessions,
                len(c.teachers),
                len(c.learners),
                _directions(c.directions),
                c.demand,
                c.last_activity,
            ]
            for c in clusters
        ],
    )


@click.group("topics", invoke_without_command=True)
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@click.pass_context
@handle_errors
def topics_group(ctx: click.Context, kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """Topic clusters: what is taught, by whom, which way, and how much it is asked for. Lists them by default."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_topics, kb_dir=kb_dir, as_person=as_person, operator=operator, as_json=as_json)


@topics_group.command("list")
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def list_topics(kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """List topic clusters, largest first (re-clustered when notes changed)."""
    kb = _open(kb_dir)
    clusters = kb.topics(_viewer(kb, as_person, operator))
    if as_json:
        _print_json(clusters)
    elif not clusters:
        click.echo("No topic clusters yet: ingest some notes first (`mentorkb ingest PATH`).")
    else:
        _print_clusters(clusters)


@topics_group.command("show")
@click.argument("cluster_id")
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def show_topic(cluster_id: str, kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """One cluster: people, direction mix, demand vs supply, monthly trend and evidence passages."""
    kb = _open(kb_dir)
    viewer = _viewer(kb, as_person, operator)
    detail = kb.topic(cluster_id, viewer)
    if as_json:
        _print_json(detail)
        return
    c, names = detail.cluster, _names(kb, viewer)
    click.echo(f"{c.id}  {c.label}")
    if c.name and c.keyphrases:
        click.echo(f"  keyphrases: {', '.join(c.keyphrases)}")
    elif c.keyphrases[3:]:
        click.echo(f"  more keyphrases: {', '.join(c.keyphrases[3:])}")
    if c.merged:
        click.echo(f"  merged from: {', '.join(c.merged)}")
    click.echo(f"  sessions: {c.sessions}, last activity {c.last_activity}; directions: {_directions(c.directions)}")
    click.echo(f"  taught by ({len(c.teachers)}): {_people(c.teachers, names, 8)}")
    click.echo(f"  learned by ({len(c.learners)}): {_people(c.learners, names, 8)}")
    click.echo(f"  demand vs supply: {c.demand} logged question(s), {len(c.teachers)} people who teach it")
    click.echo("  monthly sessions: " + " ".join(f"{m}:{n}" for m, n in detail.trend if n))
    if detail.evidence:
        click.echo("  evidence:")
    for e in detail.evidence:
        quote = f'"{_short(e.quote)}"' if e.quote else "(topics-only session: no quote)"
        click.echo(f"   - {quote}  [{e.session_id}, {e.date}, {e.source}:{e.lines[0]}-{e.lines[1]}]")


@topics_group.command("rename")
@click.argument("cluster_id")
@click.argument("name")
@KB_OPTION
@handle_errors
def rename_topic(cluster_id: str, name: str, kb_dir: Path | None) -> None:
    """Name a cluster (an empty NAME clears it). The name is kept when clusters are recomputed."""
    target = _open(kb_dir).rename_topic(cluster_id, name)
    click.echo(f"{target} is now called '{' '.join(name.split())}'" if name.strip() else f"{target}: name cleared")


@topics_group.command("merge")
@click.argument("keep_id")
@click.argument("absorb_id")
@KB_OPTION
@handle_errors
def merge_topics(keep_id: str, absorb_id: str, kb_dir: Path | None) -> None:
    """Merge cluster ABSORB_ID into KEEP_ID; the merge is kept when clusters are recomputed."""
    target = _open(kb_dir).merge_topics(keep_id, absorb_id)
    click.echo(f"merged {absorb_id} into {target}")


@topics_group.command("recluster")
@click.option(
    "--method",
    type=click.Choice(["agglomerative", "agglomerative-average", "kmeans", "hdbscan"]),
    default=None,
    help="Clustering algorithm (default: the one used last, else agglomerative).",
)
@KB_OPTION
@handle_errors
def recluster(method: str | None, kb_dir: Path | None) -> None:
    """Cluster again now; ids, names and merges carry over to the clusters that match."""
    kb = _open(kb_dir)
    state = kb.recluster(method) if method else kb.recluster()
    click.echo(f"{len(state.clusters)} clusters ({state.method}) in {state.seconds:.2f}s")


@topics_group.command("at-risk")
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def at_risk(kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """Knowledge held by only one or two teachers."""
    kb = _open(kb_dir)
    viewer = _viewer(kb, as_person, operator)
    rows = kb.at_risk(viewer)
    if as_json:
        _print_json(rows)
        return
    names = _names(kb, viewer)
    _table(
        f"At-risk topics ({len(rows)})",
        ["topic", "taught by", "sessions", "last taught", "cluster"],
        [[r.topic, _people(r.teachers, names), r.sessions, r.last_taught, r.cluster_id] for r in rows],
    )


@topics_group.command("reverse")
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def reverse(kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """Reverse-mentoring potential: clusters where juniors teach and seniors learn or ask."""
    kb = _open(kb_dir)
    viewer = _viewer(kb, as_person, operator)
    rows = kb.reverse_potential(viewer)
    if as_json:
        _print_json(rows)
        return
    names = _names(kb, viewer)
    _table(
        f"Reverse-mentoring potential ({len(rows)})",
        ["cluster", "label", "junior teachers", "senior learners", "levels (teach / learn)", "bottom-up sessions"],
        [
            [
                r.cluster_id,
                r.label,
                _people(r.junior_teachers, names),
                _people(r.senior_learners, names),
                f"{r.teacher_level:g} / {r.learner_level:g}",
                r.bottom_up_sessions,
            ]
            for r in rows
        ],
    )


@click.command("gaps")
@KB_OPTION
@AS_OPTION
@OPERATOR_OPTION
@JSON_OPTION
@handle_errors
def gaps_command(kb_dir: Path | None, as_person: str | None, operator: bool, as_json: bool) -> None:
    """Topics people ask about (questions, open questions in notes) that nobody teaches yet."""
    kb = _open(kb_dir)
    viewer = _viewer(kb, as_person, operator)
    rows = kb.gaps(viewer)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        click.echo("No gaps: every topic asked about has someone who teaches it.")
        return
    names = _names(kb, viewer)
    _table(
        f"Gaps: asked for, not taught ({len(rows)})",
        ["topic", "logged questions", "asked in sessions", "asked by", "teachers", "nearest cluster"],
        [
            [
                g.topic,
                g.questions,
                g.asked_in_sessions,
                _people(g.askers, names),
                _people(g.teachers, names) or "nobody",
                g.cluster_id,
            ]
            for g in rows
        ],
    )
