"""mentorkb's Streamlit app: page config, the shared sidebar (knowledge base, identity), then the chosen page.

Run with `mentorkb app` (or `streamlit run app.py`); the knowledge base is $MENTORKB_KB or ~/.mentorkb/kb.
Pages live in app_pages/ and talk only to the KnowledgeBase facade, through mentorkb.ui.
"""

from __future__ import annotations

import streamlit as st

from mentorkb import ui
from mentorkb.errors import MentorKBError

st.set_page_config(page_title="mentorkb", page_icon=":material/diversity_3:", layout="wide")

PAGES = {
    "Ask": [
        st.Page("app_pages/find.py", title="Find someone", icon=":material/person_search:", default=True),
        st.Page("app_pages/insights.py", title="Insights", icon=":material/lightbulb:"),
    ],
    "Browse": [
        st.Page("app_pages/people.py", title="People", icon=":material/groups:"),
        st.Page("app_pages/sessions.py", title="Sessions", icon=":material/article:"),
    ],
    "Coordinate": [
        st.Page("app_pages/topics.py", title="Topics", icon=":material/bubble_chart:"),
        st.Page("app_pages/upload.py", title="Upload notes", icon=":material/upload:"),
    ],
}

try:
    kb = ui.get_kb()
except MentorKBError as exc:  # e.g. a database of another schema: say what to do instead of a traceback
    st.error(str(exc), icon=":material/error:")
    st.stop()
with st.sidebar:
    st.markdown("### :material/diversity_3: mentorkb")
    st.caption("Who can teach me X? — from your mentoring notes.")

if ui.sidebar_identity(kb) is None:
    st.stop()  # sign-in configured and nobody (known) is signed in: show nothing else

page = st.navigation(PAGES)
with st.sidebar:
    st.divider()
    counts = kb.stats()
    st.caption(
        f"{counts.get('sessions', 0)} sessions · {counts.get('people', 0)} people · "
        f"search model {'ready' if ui.models_ready(kb) else 'loading…'}"
    )
page.run()
