"""Upload notes: files in any supported format, or pasted text with a small form; searchable at once."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import streamlit as st
import yaml

from mentorkb import ui
from models import IngestReport, SessionType, Visibility

FILE_TYPES = ["md", "markdown", "txt", "vtt", "docx", "jsonl"]
FORMATS_HELP = (
    "**Markdown** (`.md`) with YAML front matter · **plain text** (`.txt`, transcripts as `Name: text`) · "
    "**WebVTT** (`.vtt`, e.g. a Teams transcript) · **Word** (`.docx`) · **JSON Lines** (`.jsonl`, one session "
    "per line). Metadata a file carries wins over the defaults below."
)

kb = ui.get_kb()
me = ui.identity()
ss = st.session_state

st.title("Upload notes")
st.caption("Add mentoring notes to the knowledge base. They are searchable as soon as the upload finishes.")

people = sorted(kb.people(me.viewer), key=lambda p: p.name.lower())
by_id = {p.id: p for p in people}


def slug(text: str) -> str:
    """A file-name-safe lower-case slug."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "note"


def people_picker(label: str, key: str) -> list[str]:
    """Pick roster people (or type a new name, which creates a person at ingest)."""
    return st.multiselect(
        label,
        list(by_id),
        format_func=lambda pid: ui.person_label(by_id[pid]) if pid in by_id else pid,
        key=key,
        accept_new_options=True,
        placeholder="Choose or type a name",
    )


def defaults_from_form(prefix: str) -> dict[str, Any]:
    """Metadata the user set in a form (unset fields are left for the file to decide)."""
    out: dict[str, Any] = {}
    for field in ("date", "title", "type", "visibility", "mentors", "mentees"):
        value = ss.get(f"{prefix}_{field}")
        if isinstance(value, SessionType | Visibility):
            value = value.value
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, str):
            value = value.strip()
        if value:
            out[field] = list(value) if isinstance(value, list | tuple) else value
    return out


def ingest(items: list[tuple[str, bytes]], defaults: dict[str, Any]) -> list[tuple[str, IngestReport]]:
    """Ingest uploads one by one, with a progress bar; returns each file's report."""
    out = []
    bar = st.progress(0.0, text="Starting…")
    with ui.model_spinner(kb):
        for n, (name, data) in enumerate(items, start=1):
            bar.progress((n - 1) / len(items), text=f"Ingesting {name} ({n} of {len(items)})")
            out.append((name, kb.ingest_bytes(name, data, defaults=defaults)))
    bar.progress(1.0, text=f"Done: {len(items)} file{'s' if len(items) != 1 else ''}")
    return out


def show_results(results: list[tuple[str, IngestReport]]) -> None:
    """Per-file outcome: new or updated sessions with links, unchanged files, and validation errors inline."""
    ok = sum(1 for _, r in results if r.ok)
    if ok == len(results):
        st.success(
            f"Added {ok} file{'s' if ok != 1 else ''}. The new sessions are searchable now.",
            icon=":material/check_circle:",
        )
    elif ok:
        st.warning(
            f"{ok} of {len(results)} files added; fix the others and upload them again.", icon=":material/warning:"
        )
    else:
        st.error("Nothing was added: see the problems below.", icon=":material/error:")
    for name, r in results:
        with st.container(border=True):
            st.markdown(f"**{ui.md_escape(name)}**")
            for _, message in r.rejected:
                st.error(message, icon=":material/error:")
            for sid in r.ingested:
                c = st.columns([4, 2], vertical_alignment="center")
                c[0].markdown(f":material/add_circle: New session {ui.code(sid)} ({r.passages} passages)")
                with c[1]:
                    ui.session_link(sid)
            for sid in r.updated:
                c = st.columns([4, 2], vertical_alignment="center")
                c[0].markdown(f":material/sync: Replaced the earlier version of {ui.code(sid)}")
                with c[1]:
                    ui.session_link(sid)
            for sid in r.unchanged:
                st.caption(f"{ui.code(sid)} is already stored with exactly this content: nothing to do.")
            for pid in r.new_people:
                st.caption(f"New person created: {ui.code(pid)} (level unknown until added to people.csv).")
            for notice in r.notices:
                st.caption(ui.md_escape(notice))


files_tab, paste_tab = st.tabs([":material/upload_file: Upload files", ":material/edit_note: Paste text"])

with files_tab, st.form("up_files_form", clear_on_submit=True):
    st.file_uploader(
        "Note files",
        type=FILE_TYPES,
        accept_multiple_files=True,
        key="up_files",
        max_upload_size=max(1, math.ceil(kb.settings.max_file_bytes / 2**20)),  # in MB; the facade checks bytes
    )
    st.caption(FORMATS_HELP)
    with st.expander("Defaults for files that do not say", icon=":material/tune:"):
        a, b, c = st.columns(3)
        a.date_input("Date", value=None, key="up_file_date", format="YYYY-MM-DD")
        b.selectbox("Type", list(SessionType), index=None, format_func=ui.type_label, key="up_file_type")
        c.selectbox(
            "Visibility",
            list(Visibility),
            index=None,
            format_func=lambda v: ui.VISIBILITY_BADGES[v][0],
            key="up_file_visibility",
            help="Programme: everyone reads it. Topics only: everyone sees it happened; participants read it. "
            "Private: only participants know it exists.",
        )
        d, e = st.columns(2)
        with d:
            people_picker("Mentors", "up_file_mentors")
        with e:
            people_picker("Mentees", "up_file_mentees")
    files_go = st.form_submit_button("Add files", type="primary", icon=":material/upload:")

with paste_tab, st.form("up_paste_form"):
    st.text_input("Title", key="up_paste_title", placeholder="e.g. Budget basics for first-time managers")
    a, b, c = st.columns(3)
    a.date_input("Date", value=date.today(), key="up_paste_date", format="YYYY-MM-DD")
    b.selectbox("Type", list(SessionType), format_func=ui.type_label, key="up_paste_type")
    c.selectbox(
        "Visibility", list(Visibility), format_func=lambda v: ui.VISIBILITY_BADGES[v][0], key="up_paste_visibility"
    )
    d, e = st.columns(2)
    with d:
        people_picker("Mentors", "up_paste_mentors")
    with e:
        people_picker("Mentees", "up_paste_mentees")
    st.text_area("Notes", key="up_paste_text", height=220, placeholder="What was discussed, advice given, follow-ups…")
    paste_go = st.form_submit_button("Add note", type="primary", icon=":material/note_add:")

if files_go:
    uploads = ss.get("up_files") or []
    if not uploads:
        st.warning("Choose one or more files first.", icon=":material/upload_file:")
    else:
        ss.up_results = ingest([(f.name, f.getvalue()) for f in uploads], defaults_from_form("up_file"))

if paste_go:
    meta = defaults_from_form("up_paste")
    body = (ss.get("up_paste_text") or "").strip()
    if not body:
        st.warning("Write or paste the notes first.", icon=":material/edit_note:")
    elif not meta.get("title"):
        st.warning("Give the note a title.", icon=":material/title:")
    else:
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
        note = f"---\n{front}---\n{body}\n".encode()
        ss.up_results = ingest([(f"{meta.get('date', 'undated')}-{slug(meta['title'])}.md", note)], {})

if ss.get("up_results"):
    show_results(ss.up_results)
