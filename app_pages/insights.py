"""Insights: passages from earlier sessions that answer a question, with filters and citations."""

from __future__ import annotations

import streamlit as st

from mentorkb import ui
from models import Insight, SessionType
from recommend.insights import InsightFilters

DIRECTIONS = {"top-down": "Top-down (senior → junior)", "bottom-up": "Bottom-up (reverse)", "peer": "Peer"}

kb = ui.get_kb()
me = ui.identity()

st.title("Earlier insights")
st.caption("What has already been said in mentoring sessions, cited to the file and lines it came from.")
if ui.empty_kb_notice(kb):
    st.stop()

people = ui.people_by_id(kb, me.viewer)
canon = kb.canon()
# Topic choices come only from sessions this viewer may read (topics are derived from text).
topic_choices: dict[str, str] = {}
for s in kb.sessions(me.viewer):
    if ui.is_readable(s):
        for tag in s.tags:
            topic_choices.setdefault(canon.canonical(tag), tag.replace("-", " "))

with st.form("ins_form", border=False):
    st.text_input(
        "Search earlier sessions",
        key="ins_q",
        placeholder="e.g. how to explain a forecast miss to the board",
        icon=":material/search:",
    )
    with st.expander("Filters", icon=":material/filter_list:"):
        c1, c2, c3 = st.columns(3)
        c1.selectbox(
            "Topic",
            sorted(topic_choices, key=lambda t: topic_choices[t].lower()),
            index=None,
            format_func=lambda t: topic_choices.get(t, t),
            placeholder="Any topic",
            accept_new_options=True,
            key="ins_topic",
        )
        c2.selectbox(
            "Person",
            sorted(people, key=lambda pid: people[pid].name.lower()),
            index=None,
            format_func=lambda pid: ui.person_label(people[pid]),
            placeholder="Anyone",
            key="ins_person",
        )
        c3.selectbox(
            "Session type",
            list(SessionType),
            index=None,
            format_func=ui.type_label,
            placeholder="Any type",
            key="ins_type",
        )
        c4, c5, c6 = st.columns(3)
        c4.date_input("From", value=None, key="ins_since", format="YYYY-MM-DD")
        c5.date_input("Until", value=None, key="ins_until", format="YYYY-MM-DD")
        c6.selectbox(
            "Direction",
            list(DIRECTIONS),
            index=None,
            format_func=DIRECTIONS.get,
            placeholder="Any direction",
            key="ins_direction",
            help="Which way knowledge flowed, from the experience levels of the people in the session.",
        )
        st.select_slider("Results", options=[5, 10, 20], value=10, key="ins_top")
    submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")

ss = st.session_state
question = (ss.get("ins_q") or "").strip()
topic = ss.get("ins_topic")
filters = InsightFilters(
    topic=canon.canonical(topic) if topic else None,
    person=ss.get("ins_person"),
    type=ss.get("ins_type"),
    since=ss.get("ins_since"),
    until=ss.get("ins_until"),
    direction=ss.get("ins_direction"),
)
top = int(ss.get("ins_top") or 10)
last = ss.get("ins_result")
stale = last is not None and last["key"][3] != me.viewer and last["key"][0]

if (submitted or stale) and question:
    if filters.since and filters.until and filters.since > filters.until:
        st.error("“From” is after “Until”: swap the two dates.", icon=":material/event_busy:")
    else:
        with ui.guard(), ui.model_spinner(kb):
            found = kb.insights(question, viewer=me.viewer, top=top, filters=filters, log_question=bool(submitted))
            last = ss.ins_result = {"key": (question, filters, top, me.viewer), "insights": found}
elif submitted:
    st.warning("Type what you are looking for first.", icon=":material/edit:")


def show(i: Insight, terms: list[str]) -> None:
    """One cited passage."""
    with st.container(border=True):
        st.markdown(f"**{ui.md_escape(i.title)}**")
        who = ui.names([i.speaker], people) if i.speaker else "Session notes"
        st.caption(f"{who} · {i.date:%d %b %Y} · {ui.type_label(i.type)}")
        st.html(ui.quote_html(i.text, terms))
        cols = st.columns([5, 2], vertical_alignment="center")
        cols[0].caption(ui.citation_text(i.session_id, i.date, i.type, i.source, i.lines))
        with cols[1]:
            ui.session_link(i.session_id, i.lines)
        if i.topics:
            st.caption("Topics: " + ", ".join(ui.md_escape(t) for t in i.topics[:8]))
        if i.also_in:
            n = len(i.also_in)
            with st.expander(f"Also said in {n} other session{'s' if n != 1 else ''}", icon=":material/content_copy:"):
                for sid in i.also_in:
                    ui.session_link(sid, label=sid)


if last is None:
    st.info(
        "Search what colleagues have already explained in mentoring sessions. Results are diverse (not five "
        "copies of one answer) and each links to the exact lines of its note.",
        icon=":material/tips_and_updates:",
    )
else:
    q = last["key"][0]
    found: list[Insight] = last["insights"]
    if not found:
        st.warning(
            f"No earlier session answers “{ui.md_escape(q)}” yet. Try other words or fewer filters.",
            icon=":material/search_off:",
        )
    else:
        st.markdown(f"**{len(found)}** passage{'s' if len(found) != 1 else ''} for “{ui.md_escape(q)}”")
        terms = ui.query_terms(q)
        for i in found:
            show(i, terms)
