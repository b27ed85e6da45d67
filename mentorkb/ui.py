"""Small shared helpers for the Streamlit pages: the cached knowledge base, identity, badges and citations.

Display only. Every answer comes from the KnowledgeBase facade; the visibility rules live behind it and
are applied through the `Viewer` each page passes. Note text is untrusted: it is escaped before it is
shown as HTML, and Markdown special characters are escaped in names and titles.
"""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import streamlit as st

from mentorkb.errors import MentorKBError, UnknownPersonError
from mentorkb.settings import DEFAULT_KB_DIR, KB_ENV
from models import Evidence, Person, Relation, Session, SessionType, Viewer, Visibility

if TYPE_CHECKING:
    from mentorkb.service import KnowledgeBase

SESSIONS_PAGE = "app_pages/sessions.py"
PEOPLE_PAGE = "app_pages/people.py"
UPLOAD_PAGE = "app_pages/upload.py"
IDENTITY_KEY = "ui_identity"
ANONYMOUS_LABEL = "Anonymous programme member"

# Facade calls that never touch the embedder or the topic extractor; every other call waits for the models.
_MODEL_FREE = frozenset(
    {"people", "person", "sessions", "session", "profile", "viewer", "stats", "topic_label", "canon", "close"}
)

RELATION_BADGES: Mapping[Relation, tuple[str, str, str]] = {
    Relation.MENTOR: ("Mentor", "blue", ":material/school:"),
    Relation.REVERSE_MENTOR: ("Reverse mentor", "violet", ":material/swap_vert:"),
    Relation.PEER: ("Peer", "green", ":material/handshake:"),
    Relation.UNKNOWN: ("Relation unknown", "gray", ":material/help:"),
}
VISIBILITY_BADGES: Mapping[Visibility, tuple[str, str, str]] = {
    Visibility.PROGRAM: ("Programme", "green", ":material/public:"),
    Visibility.TOPICS_ONLY: ("Topics only", "orange", ":material/visibility_off:"),
    Visibility.PRIVATE: ("Private", "red", ":material/lock:"),
}
TYPE_LABELS: Mapping[SessionType, str] = {
    SessionType.TRADITIONAL: "Traditional",
    SessionType.REVERSE: "Reverse",
    SessionType.PEER: "Peer",
    SessionType.FLASH: "Flash",
    SessionType.SKILL_SWAP: "Skill swap",
    SessionType.GROUP: "Group",
}

# Words too common to be worth highlighting in a result.
_QUIET_WORDS = frozenset(
    (  # noqa: SIM905 - a word list reads better as text
        "a about after all also an and any are as at be been but by can could did do does for from get got "
        "had has have how i if in into is it its me my no not of on or our should so some than that the their "
        "them then there these they this to us was we were what when where which who whom why will with would "
        "you your teach learn someone anyone somebody help know explain show make use using best way ways "
        "good need want like work"
    ).split()
)
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$>])")


# -- the knowledge base ------------------------------------------------------------------------------------------
class SharedKB:
    """The one cached KnowledgeBase, shared by every browser session, with its calls serialised.

    Streamlit runs each browser session in its own thread and the facade is not thread-safe (lazy models,
    caches, one SQLite connection), so calls take a lock. The models load in a background thread as soon
    as the knowledge base opens, so pages that need no model are usable at once; model calls wait for it.
    """

    def __init__(self, kb: KnowledgeBase, *, warm: bool = True) -> None:
        self._kb = kb
        self._lock = threading.RLock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        if warm:
            threading.Thread(target=self._warm, name="mentorkb-models", daemon=True).start()
        else:
            self._ready.set()

    def _warm(self) -> None:
        try:
            _ = self._kb.embedder, self._kb.extractor
        except Exception as exc:  # noqa: BLE001 - handed to the thread that asks for the models, re-raised there
            self._error = exc
        finally:
            self._ready.set()

    @property
    def kb_dir(self) -> Path:
        """The knowledge-base folder."""
        return self._kb.kb_dir

    def models_ready(self) -> bool:
        """True once the embedder and the topic extractor are loaded (or failed to load)."""
        return self._ready.is_set()

    def wait_for_models(self) -> None:
        """Block until the models are loaded; re-raise the error if loading failed."""
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._kb, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if name not in _MODEL_FREE:
                self.wait_for_models()
            with self._lock:
                return attr(*args, **kwargs)

        return call


def kb_folder() -> Path:
    """The knowledge-base folder the app serves: $MENTORKB_KB, else the default."""
    return Path(os.environ.get(KB_ENV) or DEFAULT_KB_DIR).expanduser()


def _release(shared: SharedKB) -> None:
    shared.close()


@st.cache_resource(show_spinner="Opening the knowledge base…", max_entries=4, on_release=_release)
def _open_kb(kb_dir: str) -> SharedKB:
    from mentorkb.service import KnowledgeBase

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return SharedKB(KnowledgeBase.open(kb_dir))


def get_kb() -> KnowledgeBase:
    """The cached knowledge base (one per folder); pages change it only through facade calls."""
    return cast("KnowledgeBase", _open_kb(str(kb_folder())))


def models_ready(kb: KnowledgeBase) -> bool:
    """Whether the background model load has finished."""
    return cast(SharedKB, kb).models_ready() if isinstance(kb, SharedKB) else True


@contextmanager
def guard() -> Iterator[None]:
    """Show a MentorKBError (which names the file, field and fix) as an error box instead of a traceback."""
    try:
        yield
    except MentorKBError as exc:
        st.error(str(exc), icon=":material/error:")


def model_spinner(kb: KnowledgeBase) -> Any:
    """A spinner whose text says when the first call also loads the language model."""
    if models_ready(kb):
        return st.spinner("Searching…")
    return st.spinner("Loading the language model (first search only, a few seconds)…")


# -- identity ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    """Who is using the app: the Viewer passed to the facade, the roster person (if any) and the mode."""

    viewer: Viewer
    person: Person | None
    mode: str  # "local" (picked in the sidebar) or "auth" (signed in with OIDC)


def auth_config() -> Mapping[str, Any] | None:
    """The `[auth]` section of Streamlit secrets, or None when sign-in is not configured."""
    try:
        auth = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets.toml at all: local mode
        return None
    return auth or None


def identity() -> Identity:
    """The identity chosen by the shared sidebar for this run (anonymous if none was set)."""
    found = st.session_state.get(IDENTITY_KEY)
    return found if isinstance(found, Identity) else Identity(Viewer(None), None, "local")


def sidebar_identity(kb: KnowledgeBase) -> Identity | None:
    """Render the identity part of the sidebar; None means nobody may see anything yet (the page stops)."""
    auth = auth_config()
    ident = _signed_in_identity(kb, auth) if auth is not None else _local_identity(kb)
    if ident is not None:
        st.session_state[IDENTITY_KEY] = ident
    return ident


def _local_identity(kb: KnowledgeBase) -> Identity:
    people = sorted(kb.people(Viewer(None)), key=lambda p: p.name.lower())
    by_id = {p.id: p for p in people}
    with st.sidebar:
        st.badge("LOCAL MODE", icon=":material/computer:", color="orange")
        chosen = st.selectbox(
            "I am",
            [None, *by_id],
            format_func=lambda pid: ANONYMOUS_LABEL if pid is None else person_label(by_id[pid]),
            key="ui_person",
            help="Used for relation labels (mentor, reverse mentor, peer) and for what you may see.",
        )
        st.caption(
            "Single-user mode: pick who you are. Configure `[auth]` in Streamlit secrets to make people sign in."
        )
    person = by_id.get(chosen) if chosen else None
    return Identity(Viewer(person.id if person else None), person, "local")


def _signed_in_identity(kb: KnowledgeBase, auth: Mapping[str, Any]) -> Identity | None:
    user = st.user
    if not user.get("is_logged_in"):
        st.title("mentorkb")
        st.write("Sign in with your company account to find mentors and earlier insights.")
        providers = [k for k, v in auth.items() if isinstance(v, Mapping)]
        for provider in providers or [None]:
            label = f"Log in with {provider.title()}" if provider else "Log in"
            if st.button(label, icon=":material/login:", type="primary", key=f"ui_login_{provider or 'default'}"):
                if provider:
                    st.login(provider)
                else:
                    st.login()
        return None
    email = str(user.get("email") or "")
    try:
        viewer = kb.viewer(email) if email else None
    except UnknownPersonError:
        viewer = None
    if viewer is None:
        st.title("mentorkb")
        st.warning(
            f"You are signed in as {md_escape(email or 'an account without an e-mail address')}, but that address "
            "is not in the programme roster, so there is nothing you may see yet. Ask the programme coordinator "
            "to add you to people.csv with this e-mail address.",
            icon=":material/person_off:",
        )
        st.button("Log out", on_click=st.logout, key="ui_logout_unknown")
        return None
    person = kb.person(viewer.person_id) if viewer.person_id else None
    with st.sidebar:
        st.badge("SIGNED IN", icon=":material/verified_user:", color="green")
        st.markdown(f"**{md_escape(person.name if person else email)}**  \n{md_escape(email)}")
        st.button("Log out", on_click=st.logout, key="ui_logout")
    return Identity(viewer, person, "auth")


# -- text and badges ---------------------------------------------------------------------------------------------
def md_escape(text: str) -> str:
    """Escape Markdown (and Streamlit's :color[] and $math$) so names and titles from notes show as typed."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def person_label(p: Person) -> str:
    """'Name — Title (L5)' for pickers (plain text, not Markdown)."""
    level = f"L{p.level}" if p.level is not None else "level unknown"
    return f"{p.name} — {p.title} ({level})" if p.title else f"{p.name} ({level})"


def level_text(p: Person) -> str:
    """'Level 5' or 'Level unknown'."""
    return f"Level {p.level}" if p.level is not None else "Level unknown"


def badge_md(label: str, color: str, icon: str = "") -> str:
    """Markdown for one inline badge (label is our own text, never user input)."""
    return f":{color}-badge[{icon + ' ' if icon else ''}{label}]"


def relation_badge(relation: Relation) -> str:
    """Inline badge for a candidate's relation to the asker."""
    return badge_md(*RELATION_BADGES[relation])


def visibility_badge(visibility: Visibility) -> str:
    """Inline badge for a session's visibility."""
    return badge_md(*VISIBILITY_BADGES[visibility])


def type_label(t: SessionType) -> str:
    """Display name of a session type."""
    return TYPE_LABELS.get(t, t.value)


def capacity_badge(person: Person, at_capacity: bool) -> str:
    """Inline badge for a mentor's capacity: at capacity, open, or not stated."""
    if at_capacity:
        return badge_md("At capacity", "orange", ":material/hourglass_full:")
    if person.capacity is None:
        return badge_md("Capacity not stated", "gray", ":material/help:")
    return badge_md(f"Open to mentees (up to {person.capacity})", "green", ":material/event_available:")


def names(ids: Iterable[str], people: Mapping[str, Person]) -> str:
    """Comma-separated display names for person ids (ids shown when unknown), Markdown-escaped."""
    return ", ".join(md_escape(people[i].name if i in people else i) for i in ids)


def is_readable(session: Session) -> bool:
    """True when the facade handed over the session's text (it blanks the text of sessions one may not read)."""
    return bool(session.text)


# -- highlighting and notes (pure: escaped HTML out) -------------------------------------------------------------
def query_terms(question: str) -> list[str]:
    """The words of a query worth highlighting: lower-cased, 3+ characters, no filler words, no repeats."""
    words = [w.strip("'’-") for w in _WORD.findall(question)]
    # Two-letter words count only as acronyms ("AI", "HR"): "me" and "to" are not worth marking.
    kept = (w.lower() for w in words if len(w) >= 3 or (len(w) == 2 and w.isupper()))
    return list(dict.fromkeys(w for w in kept if w not in _QUIET_WORDS))


def highlight_html(text: str, terms: Sequence[str]) -> str:
    """Escape untrusted text for HTML, wrapping words that start with a query term in <mark>.

    Matches are found in the raw text and every piece is escaped on its own, so nothing in the text can
    become markup and no term can match inside an entity such as `&amp;`.
    """
    if not terms:
        return html.escape(text)
    # Long terms also match their inflections ("forecast" -> "forecasting"); short ones only whole words,
    # so "AI" does not light up "aisle".
    alternatives = [re.escape(t) + (r"\w*" if len(t) >= 4 else r"s?\b") for t in sorted(terms, key=len, reverse=True)]
    pattern = re.compile(r"\b(?:" + "|".join(alternatives) + ")", re.IGNORECASE)
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[pos : m.start()]))
        out.append(f"<mark>{html.escape(m.group())}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


QUOTE_STYLE = (
    "margin:0.25rem 0 0.35rem 0;padding:0.45rem 0.8rem;border-left:3px solid #2f6f5e;"
    "background:rgba(47,111,94,0.07);border-radius:4px;white-space:pre-wrap;line-height:1.5"
)


def quote_html(text: str, terms: Sequence[str] = ()) -> str:
    """A block quote of untrusted text, escaped, with query terms highlighted."""
    return f'<blockquote style="{QUOTE_STYLE}">{highlight_html(text, terms)}</blockquote>'


def numbered_note_html(text: str, first_line: int = 1, marked: tuple[int, int] | None = None) -> str:
    """The note with line numbers, escaped; lines in `marked` (inclusive) get a highlighted background."""
    rows = []
    for n, line in enumerate(text.splitlines() or [""], start=first_line):
        hit = marked is not None and marked[0] <= n <= marked[1]
        bg = "background:rgba(255,200,0,0.22);" if hit else ""
        anchor = ' id="cited"' if marked is not None and n == marked[0] else ""
        rows.append(
            f'<div{anchor} style="display:flex;{bg}">'
            f'<span style="flex:0 0 3.2em;text-align:right;padding-right:0.9em;color:#8a8f98;user-select:none">{n}</span>'
            f'<span style="white-space:pre-wrap;word-break:break-word">{html.escape(line) or "&nbsp;"}</span></div>'
        )
    return (
        '<div style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:0.84rem;'
        'line-height:1.5;border:1px solid rgba(128,128,128,0.25);border-radius:6px;padding:0.4rem 0">'
        + "".join(rows)
        + "</div>"
    )


def parse_lines(value: str | None) -> tuple[int, int] | None:
    """'12-18' (or '12') from a query parameter as an inclusive line range; None when absent or malformed."""
    if not value:
        return None
    m = re.fullmatch(r"\s*(\d{1,7})\s*(?:[-–]\s*(\d{1,7}))?\s*", value)
    if not m:
        return None
    start = int(m[1])
    end = int(m[2]) if m[2] else start
    return (start, end) if start <= end else (end, start)


# -- citations ---------------------------------------------------------------------------------------------------
def citation_text(session_id: str, when: Any, kind: SessionType, source: str, lines: tuple[int, int]) -> str:
    """'session · date · type · source:12–18' as escaped Markdown."""
    span = f"{lines[0]}–{lines[1]}" if lines[1] != lines[0] else str(lines[0])
    return " · ".join([code(session_id), md_escape(str(when)), md_escape(type_label(kind)), code(f"{source}:{span}")])


def code(text: str) -> str:
    """Inline code Markdown for untrusted text (a backtick inside cannot close the span)."""
    return "`" + text.replace("`", "'") + "`"


def session_link(session_id: str, lines: tuple[int, int] | None = None, *, label: str | None = None) -> None:
    """A link that opens the Sessions page at this session (and these lines)."""
    params = {"session": session_id}
    if lines is not None:
        params["lines"] = f"{lines[0]}-{lines[1]}"
    if label is None and lines is not None:
        label = f"Open lines {lines[0]}–{lines[1]}" if lines[1] != lines[0] else f"Open line {lines[0]}"
    text = label or "Open session"
    st.page_link(SESSIONS_PAGE, label=text, icon=":material/article:", query_params=params)


def person_link(person_id: str, label: str = "Profile") -> None:
    """A link that opens the People page at this person's profile."""
    st.page_link(PEOPLE_PAGE, label=label, icon=":material/account_circle:", query_params={"person": person_id})


def evidence_block(e: Evidence, terms: Sequence[str] = ()) -> None:
    """One cited quote: the quote (escaped), its citation, and a link to those lines."""
    if e.quote:
        st.html(quote_html(e.quote, terms))
    else:
        st.caption("Topics-only session: you may see that it happened, not what was said.")
    cols = st.columns([5, 2], vertical_alignment="center")
    cols[0].caption(citation_text(e.session_id, e.date, e.type, e.source, e.lines))
    with cols[1]:
        session_link(e.session_id, e.lines if e.quote else None)


def empty_kb_notice(kb: KnowledgeBase) -> bool:
    """Show a hint and return True when the knowledge base holds no sessions yet."""
    if kb.stats().get("sessions", 0):
        return False
    st.info(
        f"The knowledge base at `{kb.kb_dir}` holds no sessions yet. Add notes on the **Upload notes** page, "
        "or load the demo with `mentorkb demo --no-app`.",
        icon=":material/inbox:",
    )
    st.page_link(UPLOAD_PAGE, label="Upload notes", icon=":material/upload:")
    return True


def people_by_id(kb: KnowledgeBase, viewer: Viewer) -> dict[str, Person]:
    """Everyone the viewer may know about, by id."""
    return {p.id: p for p in kb.people(viewer)}
