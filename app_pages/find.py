"""Find someone: "who can teach me X?" Ranked people with relation, capacity and cited quotes."""

from __future__ import annotations

import streamlit as st

from mentorkb import ui
from models import Recommendation, Relation

DIRECTIONS = {
    "any": "Anyone",
    "mentor": "Mentor",
    "reverse": "Reverse mentor",
    "peer": "Peer",
}
DIRECTION_HELP = (
    "Mentor: more senior than you. Reverse mentor: more junior than you, but has taught this. "
    "Peer: about your level. Levels are experience grades from the roster, never age."
)
EXAMPLES = (
    "How do I write month-end variance commentary?",
    "Who can show me how to make short videos for TikTok?",
    "What is the difference between Incoterms DAP and DDP?",
    "Can someone teach me Python to automate a weekly report?",
)

kb = ui.get_kb()
me = ui.identity()

st.title("Who can teach me…?")
st.caption(
    "Ask in your own words. People are ranked by what they taught in earlier mentoring sessions, "
    "with the quotes that show it."
)
if ui.empty_kb_notice(kb):
    st.stop()

with st.form("find_form", border=False):
    st.text_input(
        "Your question",
        key="find_q",
        placeholder="e.g. How do I build a driver-based forecast?",
        icon=":material/search:",
    )
    cols = st.columns([3, 1], vertical_alignment="bottom")
    with cols[0]:
        st.segmented_control(
            "Who would you like to learn from?",
            list(DIRECTIONS),
            format_func=DIRECTIONS.get,
            default="any",
            required=True,
            key="find_dir",
            help=DIRECTION_HELP,
        )
    with cols[1]:
        st.select_slider("Results", options=[3, 5, 10], value=5, key="find_top")
    if me.person is not None:
        st.checkbox(
            "Record my name with this question (helps coordinators see who needs what)",
            key="find_optin",
        )
    submitted = st.form_submit_button("Find people", type="primary", icon=":material/person_search:")

st.pills(
    "Or try",
    EXAMPLES,
    key="find_example",
    on_change=lambda: st.session_state.update(
        find_q=st.session_state.find_example or st.session_state.get("find_q", ""), find_go=True
    ),
)

question = (st.session_state.get("find_q") or "").strip()
direction = st.session_state.get("find_dir") or "any"
top = int(st.session_state.get("find_top") or 5)
wanted = (question, direction, top, me.viewer)
last = st.session_state.get("find_result")
go = submitted or st.session_state.pop("find_go", False)
# A result computed for another identity carries the wrong relation labels and visibility: recompute it.
stale = last is not None and last["key"][3] != me.viewer and last["key"][0]

if (go or stale) and question:
    with ui.guard(), ui.model_spinner(kb):
        recs = kb.ask(
            question,
            viewer=me.viewer,
            direction=direction,
            top=top,
            log_question=bool(go),
            opt_in=bool(st.session_state.get("find_optin")),
        )
        last = st.session_state.find_result = {"key": wanted, "recs": recs}
elif go:
    st.warning("Type a question first.", icon=":material/edit:")


def card(rank: int, r: Recommendation, top_score: float, terms: list[str]) -> None:
    """One ranked person."""
    p = r.person
    with st.container(border=True):
        head, side = st.columns([4, 1.4])
        with head:
            st.subheader(f"{rank}. {ui.md_escape(p.name)}", anchor=False)
            facts = [ui.md_escape(p.title or "No title"), ui.level_text(p)]
            if p.department:
                facts.append(ui.md_escape(p.department))
            st.markdown(" · ".join(facts))
            st.markdown(ui.relation_badge(r.relation) + " " + ui.capacity_badge(p, r.at_capacity))
        with side:
            st.progress(min(max(r.score / top_score, 0.0), 1.0) if top_score > 0 else 0.0, text=f"Match {r.score:.2f}")
            ui.person_link(p.id, "View profile")
        details = [f"**{r.n_sessions}** session{'s' if r.n_sessions != 1 else ''} taught"]
        if r.last_active:
            details.append(f"last active {r.last_active:%d %b %Y}")
        if r.suggested_format:
            details.append(f"suggested format: **{ui.md_escape(r.suggested_format)}**")
        st.markdown(" · ".join(details))
        if r.topics:
            st.caption("Topics: " + ", ".join(ui.md_escape(t) for t in r.topics[:8]))
        for e in r.evidence[:3]:
            ui.evidence_block(e, terms)
        if r.skill_swap:
            st.info(ui.md_escape(r.skill_swap), icon=":material/swap_horiz:")


if last is None:
    st.info(
        "Ask a question to see who has taught it. Each person comes with quotes from the sessions where "
        "they taught it, and a link to the exact lines.",
        icon=":material/tips_and_updates:",
    )
else:
    q, d, _, _ = last["key"]
    recs: list[Recommendation] = last["recs"]
    if not recs:
        st.warning(
            f"Nobody found who has taught “{ui.md_escape(q)}” yet. Try other words"
            + (", or choose *Anyone* as the direction." if d != "any" else "."),
            icon=":material/search_off:",
        )
    else:
        st.markdown(f"**{len(recs)}** {'people' if len(recs) != 1 else 'person'} for “{ui.md_escape(q)}”")
        if me.person is None and any(r.relation is Relation.UNKNOWN for r in recs):
            st.caption("Pick who you are in the sidebar to see who is a mentor, reverse mentor or peer for you.")
        terms = ui.query_terms(q)
        best = max(r.score for r in recs)
        for n, r in enumerate(recs, start=1):
            card(n, r, best, terms)
