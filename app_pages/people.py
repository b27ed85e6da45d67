"""People: the programme directory and one person's profile (topics, directions, sessions, mentoring links)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mentorkb import ui
from models import Person

DIRECTION_LABELS = {"top-down": "Top-down", "bottom-up": "Bottom-up (reverse)", "peer": "Peer"}

kb = ui.get_kb()
me = ui.identity()
ss = st.session_state

st.title("People")
st.caption("The programme directory. Open a profile to see what someone has taught and learned.")

people = sorted(kb.people(me.viewer), key=lambda p: p.name.lower())
by_id = {p.id: p for p in people}
if not people:
    st.info("Nobody is in the roster yet: ingest a people.csv with `mentorkb ingest NOTES --roster people.csv`.")
    st.stop()

qp_person = st.query_params.get("person")
if qp_person and ss.get("ppl_link") != qp_person:
    ss.ppl_link = qp_person
    if qp_person in by_id:
        ss.ppl_pick = qp_person

departments = sorted({p.department for p in people if p.department})
levels = sorted({p.level for p in people if p.level is not None})
c1, c2, c3 = st.columns([2, 2, 2])
search = c1.text_input("Search", key="ppl_search", placeholder="Name, title or id", icon=":material/search:")
dept = c2.multiselect("Department", departments, key="ppl_dept", placeholder="All departments")
if len(levels) > 1:
    lo, hi = c3.select_slider(
        "Level", options=levels, value=(levels[0], levels[-1]), key="ppl_levels", help="Experience grade."
    )
else:
    lo, hi = (levels[0], levels[0]) if levels else (0, 0)


def keep(p: Person) -> bool:
    """Does a person pass the directory filters?"""
    needle = search.strip().lower()
    if needle and needle not in f"{p.name} {p.title} {p.id}".lower():
        return False
    if dept and p.department not in dept:
        return False
    return p.level is None or lo <= p.level <= hi or len(levels) <= 1


shown = [p for p in people if keep(p)]
st.dataframe(
    pd.DataFrame(
        [
            {
                "Name": p.name,
                "Title": p.title,
                "Level": p.level,
                "Department": p.department,
                "Mentee capacity": p.capacity,
                "Id": p.id,
            }
            for p in shown
        ],
        columns=["Name", "Title", "Level", "Department", "Mentee capacity", "Id"],
    ),
    hide_index=True,
    width="stretch",
    height=min(38 + 35 * max(len(shown), 1), 320),
)
st.caption(f"{len(shown)} of {len(people)} people")

options = [p.id for p in shown]
if ss.get("ppl_pick") in by_id and ss.ppl_pick not in options:
    options = [ss.ppl_pick, *options]
picked = st.selectbox(
    "Open a profile",
    options,
    index=None,
    format_func=lambda pid: ui.person_label(by_id[pid]),
    placeholder="Choose a person…",
    key="ppl_pick",
)
if picked and picked != qp_person:
    st.query_params.update({"person": picked})
    ss.ppl_link = picked


def mentoring_graph(p: Person, mentored: list[str], mentored_by: list[str]) -> str:
    """Graphviz DOT of who this person mentored and was mentored by (labels quoted and escaped)."""

    def node(pid: str) -> str:
        name = by_id[pid].name if pid in by_id else pid
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "digraph { rankdir=LR; bgcolor=transparent;",
        'node [shape=box, style="rounded,filled", fillcolor="#e8f1ee", color="#2f6f5e", fontname="Helvetica"];',
        f'{node(p.id)} [fillcolor="#2f6f5e", fontcolor="white"];',
    ]
    lines += [f"{node(m)} -> {node(p.id)};" for m in mentored_by]
    lines += [f"{node(p.id)} -> {node(m)};" for m in mentored]
    return "\n".join([*lines, "}"])


if picked:
    with ui.guard():
        prof = kb.profile(picked, me.viewer)
        p = prof.person
        st.header(ui.md_escape(p.name), anchor=False)
        facts = [ui.md_escape(p.title or "No title"), ui.level_text(p)]
        if p.department:
            facts.append(ui.md_escape(p.department))
        if p.joined:
            facts.append(f"joined {p.joined:%b %Y}")
        st.markdown(" · ".join(facts))
        if p.capacity is not None:
            st.caption(f"Can mentor up to {p.capacity} people at a time.")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Sessions", len(prof.sessions))
        m2.metric("Mentored", len(prof.mentored))
        m3.metric("Mentored by", len(prof.mentored_by))
        m4.metric("Topics taught", len(prof.taught_topics))

        t1, t2 = st.columns(2)
        with t1:
            st.subheader("Topics taught", anchor=False)
            if prof.taught_topics:
                st.dataframe(
                    pd.DataFrame(prof.taught_topics, columns=["Topic", "Sessions"]),
                    hide_index=True,
                    width="stretch",
                    height=38 + 35 * len(prof.taught_topics),
                )
            else:
                st.caption("None in sessions you may read.")
        with t2:
            st.subheader("Topics learned", anchor=False)
            if prof.learned_topics:
                st.dataframe(
                    pd.DataFrame(prof.learned_topics, columns=["Topic", "Sessions"]),
                    hide_index=True,
                    width="stretch",
                    height=38 + 35 * len(prof.learned_topics),
                )
            else:
                st.caption("None in sessions you may read.")

        if prof.directions:
            st.subheader("Direction of sessions", anchor=False)
            dcols = st.columns(len(DIRECTION_LABELS))
            for col, (key, label) in zip(dcols, DIRECTION_LABELS.items()):
                col.metric(label, prof.directions.get(key, 0))

        if prof.mentored or prof.mentored_by:
            st.subheader("Mentoring links", anchor=False)
            st.caption("Arrows point from mentor to mentee.")
            st.graphviz_chart(mentoring_graph(p, prof.mentored, prof.mentored_by))

        st.subheader("Recent sessions", anchor=False)
        if not prof.sessions:
            st.caption("No sessions you may see.")
        for s in sorted(prof.sessions, key=lambda s: s.date, reverse=True)[:10]:
            role = s.role_of(p.id)
            cols = st.columns([5, 2], vertical_alignment="center")
            cols[0].markdown(
                f"{s.date:%d %b %Y} · **{ui.md_escape(s.title)}** · {ui.type_label(s.type)}"
                + (f" · as {role.value}" if role else "")
                + " "
                + ui.visibility_badge(s.visibility)
            )
            with cols[1]:
                ui.session_link(s.id)
