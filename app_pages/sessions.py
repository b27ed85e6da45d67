"""Sessions: browse the sessions you may see and read one note with line numbers and cited lines marked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mentorkb import ui
from mentorkb.errors import UnknownSessionError
from models import Session, SessionType

kb = ui.get_kb()
me = ui.identity()
ss = st.session_state

st.title("Sessions")
st.caption("Every session you may know about, newest first. Private sessions appear only to their participants.")
if ui.empty_kb_notice(kb):
    st.stop()


@st.cache_data(max_entries=64, show_spinner=False)
def note_html(text: str, first_line: int, marked: tuple[int, int] | None) -> str:
    """Line-numbered, escaped note (pure, so cached)."""
    return ui.numbered_note_html(text, first_line, marked)


sessions = kb.sessions(me.viewer)
people = ui.people_by_id(kb, me.viewer)
by_id = {s.id: s for s in sessions}

# A link from a result (?session=...&lines=...) opens that session; remember which link we followed, so
# picking another session afterwards is not undone on the next rerun.
qp_session = st.query_params.get("session")
qp_lines = ui.parse_lines(st.query_params.get("lines"))
if qp_session and ss.get("ses_link") != (qp_session, qp_lines):
    ss.ses_link = (qp_session, qp_lines)
    ss.ses_marked = qp_lines
    if qp_session in by_id:
        ss.ses_pick = qp_session

with st.expander(f"Browse {len(sessions)} session{'s' if len(sessions) != 1 else ''}", expanded=not qp_session):
    f1, f2 = st.columns([2, 1])
    text_filter = f1.text_input("Filter by title, id or person", key="ses_filter", icon=":material/filter_list:")
    type_filter = f2.multiselect("Type", list(SessionType), format_func=ui.type_label, key="ses_types")
    needle = text_filter.strip().lower()

    def keep(s: Session) -> bool:
        """Does a session pass the browse filters?"""
        if type_filter and s.type not in type_filter:
            return False
        if not needle:
            return True
        hay = " ".join([s.id, s.title, *(people[p].name if p in people else p for p in s.people)]).lower()
        return needle in hay

    shown = [s for s in sessions if keep(s)]
    table = pd.DataFrame(
        [
            {
                "Date": s.date,
                "Title": s.title,
                "Type": ui.type_label(s.type),
                "Taught by": ", ".join(people[p].name if p in people else p for p in (s.mentors or s.participants)),
                "Learners": ", ".join(people[p].name if p in people else p for p in s.mentees),
                "Visibility": s.visibility.value,
                "Id": s.id,
            }
            for s in shown
        ]
    )
    if shown:
        st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(shown), 360))
    else:
        st.caption("No session matches these filters.")

options = [s.id for s in shown] if needle or type_filter else list(by_id)
if ss.get("ses_pick") and ss.ses_pick not in options and ss.ses_pick in by_id:
    options = [ss.ses_pick, *options]
picked = st.selectbox(
    "Read a session",
    options,
    index=None,
    format_func=lambda sid: f"{by_id[sid].date} · {by_id[sid].title}" if sid in by_id else sid,
    placeholder="Choose a session…",
    key="ses_pick",
)

if qp_session and qp_session not in by_id:
    # Unknown and invisible ids read the same: the facade says "no session" for both.
    try:
        kb.session(qp_session, me.viewer)
    except UnknownSessionError as exc:
        st.error(str(exc), icon=":material/error:")

if picked:
    if picked != qp_session:
        st.query_params.update({"session": picked})
        st.query_params.pop("lines", None)
        ss.ses_marked = None
        ss.ses_link = (picked, None)
    with ui.guard():
        s = kb.session(picked, me.viewer)
        st.header(ui.md_escape(s.title), anchor=False)
        st.markdown(
            " ".join(
                [
                    ui.badge_md(f"{s.date:%d %b %Y}", "gray", ":material/calendar_today:"),
                    ui.badge_md(ui.type_label(s.type), "blue", ":material/category:"),
                    ui.visibility_badge(s.visibility),
                ]
            )
        )
        roles = []
        if s.mentors:
            roles.append(f"**Taught by** {ui.names(s.mentors, people)}")
        if s.mentees:
            roles.append(f"**Learners** {ui.names(s.mentees, people)}")
        if s.participants:
            roles.append(f"**Participants** {ui.names(s.participants, people)}")
        st.markdown(" · ".join(roles))
        st.caption(f"Source {ui.code(s.source)} · id {ui.code(s.id)}")
        if not ui.is_readable(s):
            st.info(
                "You may see that this session happened and who took part, but only its participants read "
                "the notes (topics-only session).",
                icon=":material/visibility_off:",
            )
        else:
            if s.tags:
                st.markdown(" ".join(ui.badge_md(ui.md_escape(t), "green") for t in s.tags))
            marked = ss.get("ses_marked") if ss.get("ses_link", (None,))[0] == picked else None
            if marked:
                lines = s.text.splitlines()
                lo, hi = max(marked[0], s.first_line), min(marked[1], s.first_line + len(lines) - 1)
                excerpt = "\n".join(lines[lo - s.first_line : hi - s.first_line + 1])
                st.markdown(f"**Cited lines {marked[0]}–{marked[1]}**")
                st.html(ui.quote_html(excerpt))
            st.html(note_html(s.text, s.first_line, marked))
