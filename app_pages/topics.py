"""Topics (for coordinators): the cluster map and table, drill-down, gaps, knowledge at risk, reverse potential.

The cluster views come from the topic-cluster part of the facade (`kb.topics`, `kb.topic`, `kb.gaps`,
`kb.at_risk`, `kb.reverse_potential`). A small adapter looks them up, so this page works (and says
what is missing) in a version of mentorkb that does not have some of them yet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from mentorkb import ui
from models import AtRiskTopic, Cluster, ClusterDetail, Gap, ReversePotential, Viewer

DIRECTION_LABELS = {"top-down": "Top-down", "bottom-up": "Bottom-up", "peer": "Peer"}
NOT_YET = "Not available in this version of mentorkb yet."


@dataclass(frozen=True)
class TopicAPI:
    """The facade's topic-cluster methods present in this version (None where missing)."""

    topics: Callable[[Viewer], list[Cluster]] | None
    topic: Callable[[str, Viewer], ClusterDetail] | None
    gaps: Callable[[Viewer], list[Gap]] | None
    at_risk: Callable[[Viewer], list[AtRiskTopic]] | None
    reverse_potential: Callable[[Viewer], list[ReversePotential]] | None


def topic_api(kb: Any) -> TopicAPI:
    """Look the cluster methods up on the knowledge base."""
    return TopicAPI(*(getattr(kb, n, None) for n in ("topics", "topic", "gaps", "at_risk", "reverse_potential")))


kb = ui.get_kb()
me = ui.identity()
api = topic_api(kb)

st.title("Topics")
st.caption(
    "For programme coordinators: what is taught and by whom, where demand is unmet, which knowledge sits "
    "with one or two people, and where juniors could teach seniors. Built only from sessions you may read."
)
if ui.empty_kb_notice(kb):
    st.stop()
if api.topics is None:
    st.info(
        "Topic clusters are not available yet in this version of mentorkb. Once they are, this page shows a "
        "map of topic clusters, a sortable table with drill-down, unmet demand, knowledge at risk and "
        "reverse-mentoring potential.",
        icon=":material/hourglass_empty:",
    )
    st.stop()

people = ui.people_by_id(kb, me.viewer)


def who(ids: Sequence[str], n: int = 3) -> str:
    """Plain-text names of the first n people, with a count of the rest."""
    shown = [people[i].name if i in people else i for i in ids[:n]]
    more = len(ids) - n
    return ", ".join(shown) + (f" +{more}" if more > 0 else "")


def main_direction(c: Cluster) -> str:
    """The direction most of a cluster's sessions took."""
    if not c.directions:
        return "Peer"
    return DIRECTION_LABELS.get(max(c.directions, key=c.directions.get), "Peer")


def cluster_map(clusters: Sequence[Cluster]) -> alt.LayerChart:
    """Altair scatter of the clusters: position from the map, size = sessions, colour = main direction."""
    data = pd.DataFrame(
        [
            {
                "x": c.x,
                "y": c.y,
                "topic": c.label,
                "short": c.label if len(c.label) <= 28 else c.label[:27] + "…",
                "sessions": c.sessions,
                "demand": c.demand,
                "teachers": who(c.teachers),
                "direction": main_direction(c),
            }
            for c in clusters
        ]
    )
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", axis=None, scale=alt.Scale(padding=40)),
        y=alt.Y("y:Q", axis=None, scale=alt.Scale(padding=30)),
        tooltip=[
            alt.Tooltip("topic:N", title="Topic"),
            alt.Tooltip("sessions:Q", title="Sessions"),
            alt.Tooltip("teachers:N", title="Taught by"),
            alt.Tooltip("demand:Q", title="Questions asked"),
            alt.Tooltip("direction:N", title="Mostly"),
        ],
    )
    dots = base.mark_circle(opacity=0.7, stroke="white", strokeWidth=1).encode(
        size=alt.Size("sessions:Q", scale=alt.Scale(range=[80, 1800]), legend=None),
        color=alt.Color(
            "direction:N",
            title="Mostly",
            scale=alt.Scale(domain=list(DIRECTION_LABELS.values()), range=["#2f6f5e", "#8e5cc4", "#d08b2c"]),
        ),
    )
    labels = base.mark_text(dy=-14, fontSize=11, color="#444").encode(text="short:N")
    return (dots + labels).properties(height=520)


def cluster_table(clusters: Sequence[Cluster]) -> pd.DataFrame:
    """One row per cluster, for the sortable table."""
    return pd.DataFrame(
        [
            {
                "Topic": c.label,
                "Sessions": c.sessions,
                "Taught by": who(c.teachers),
                "Learners": len(c.learners),
                "Top-down": c.directions.get("top-down", 0),
                "Bottom-up": c.directions.get("bottom-up", 0),
                "Peer": c.directions.get("peer", 0),
                "Questions asked": c.demand,
                "Last activity": c.last_activity,
                "Id": c.id,
            }
            for c in clusters
        ]
    )


def show_detail(d: ClusterDetail) -> None:
    """A cluster's keyphrases, people, monthly trend, sessions and cited evidence."""
    c = d.cluster
    st.subheader(ui.md_escape(c.label), anchor=False)
    if c.keyphrases:
        st.markdown(" ".join(ui.badge_md(ui.md_escape(k), "green") for k in c.keyphrases[:10]))
    a, b, m = st.columns(3)
    a.metric("Sessions", c.sessions)
    b.metric("Teachers", len(c.teachers))
    m.metric("Questions asked", c.demand)
    left, right = st.columns([1, 1])
    with left:
        st.markdown("**Taught by**")
        for pid in c.teachers[:8]:
            ui.person_link(pid, people[pid].name if pid in people else pid)
        if not c.teachers:
            st.caption("Nobody in sessions you may see.")
    with right:
        if d.trend:
            st.markdown("**Sessions per month**")
            trend = pd.DataFrame(d.trend, columns=["Month", "Sessions"])
            st.bar_chart(trend, x="Month", y="Sessions", height=220, color="#2f6f5e")
    if d.evidence:
        st.markdown("**What was said**")
        for e in d.evidence[:5]:
            ui.evidence_block(e)
    if d.session_ids:
        with st.expander(f"All {len(d.session_ids)} sessions", icon=":material/article:"):
            for sid in d.session_ids:
                ui.session_link(sid, label=sid)


def section(
    title: str, help_text: str, fn: Callable[[Viewer], list[Any]] | None, to_row: Callable[[Any], dict]
) -> None:
    """One coordinator list (gaps, at risk, reverse potential) as a table."""
    st.subheader(title, anchor=False)
    st.caption(help_text)
    if fn is None:
        st.info(NOT_YET, icon=":material/hourglass_empty:")
        return
    with ui.guard():
        rows = fn(me.viewer)
        if rows:
            st.dataframe(pd.DataFrame([to_row(r) for r in rows]), hide_index=True, width="stretch")
        else:
            st.caption("Nothing to report.")


with ui.guard(), st.spinner("Building the topic map (the first time after new notes takes a while)…"):
    clusters = api.topics(me.viewer)
    labels = {c.id: c.label for c in clusters}

    if not clusters:
        st.info("No topics yet in the sessions you may read.", icon=":material/bubble_chart:")
    else:
        map_tab, table_tab = st.tabs([":material/bubble_chart: Map", ":material/table: Table"])
        with map_tab:
            st.altair_chart(cluster_map(clusters), width="stretch")
            st.caption("Nearby bubbles are related topics; bubble size is the number of sessions.")
        with table_tab:
            st.dataframe(cluster_table(clusters), hide_index=True, width="stretch")

        chosen = st.selectbox(
            "Drill down into a topic",
            list(labels),
            index=None,
            format_func=lambda cid: labels.get(cid, cid),
            placeholder="Choose a topic…",
            key="top_pick",
        )
        if chosen:
            if api.topic is None:
                st.info(NOT_YET, icon=":material/hourglass_empty:")
            else:
                with st.container(border=True):
                    show_detail(api.topic(chosen, me.viewer))

    section(
        "Gaps: asked for, rarely or never taught",
        "Topics people ask about (in questions and in notes) that few or no sessions teach.",
        api.gaps,
        lambda g: {
            "Topic": g.topic,
            "Questions": g.questions,
            "Asked in sessions": g.asked_in_sessions,
            "Asked by": who(g.askers, 4),
            "Taught by": who(g.teachers, 4) or "nobody",
            "Nearest cluster": labels.get(g.cluster_id or "", ""),
        },
    )
    section(
        "At risk: knowledge held by one or two people",
        "If they leave, the knowledge leaves with them: good candidates for a second mentor.",
        api.at_risk,
        lambda r: {
            "Topic": r.topic,
            "Taught by": who(r.teachers, 4),
            "Sessions": r.sessions,
            "Last taught": r.last_taught,
            "Cluster": labels.get(r.cluster_id or "", ""),
        },
    )
    section(
        "Reverse-mentoring potential",
        "Clusters where juniors teach and seniors learn or ask: pair them up.",
        api.reverse_potential,
        lambda r: {
            "Topic": r.label,
            "Junior teachers": who(r.junior_teachers, 4),
            "Senior learners": who(r.senior_learners, 4),
            "Teacher level (median)": r.teacher_level,
            "Learner level (median)": r.learner_level,
            "Bottom-up sessions": r.bottom_up_sessions,
        },
    )
