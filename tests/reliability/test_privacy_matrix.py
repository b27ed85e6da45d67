"""Privacy matrix over the demo corpus: every viewer x every query x every surface.

For each viewer the words and word pairs that occur only in sessions they may not read (private ones, and
the text of topics-only ones) are collected automatically ("nightjar", "quality of earnings" ...). No output a
viewer gets (ask evidence and topics, insights, people and profiles, the session list and reader, topic
clusters, gaps, at-risk topics) may contain one of them, nor the id or file name of a private session they
may not know exists. A topics-only session's title and tags are visible by design and so are not secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mentorkb import coordinator
from mentorkb.cli import to_jsonable
from mentorkb.errors import UnknownSessionError
from mentorkb.service import KnowledgeBase
from models import Relation, Role, SessionType, Viewer, Visibility
from recommend import access

QUERIES = [
    "Project Nightjar",
    "due diligence quality of earnings",
    "acquisition of a cold-chain forwarder",
    "salary negotiation",
    "burnout and workload",
    "performance improvement plan for a report",
    "returning from parental leave",
    "grievance and conflict with my manager",
    "director candidacy",
    "budget forecasting",
]
# Words the surfaces add themselves (labels, suggested formats, enum values), never taken from a note.
UI_TEXT = " ".join(
    [
        "mentorship (a few sessions over 2-3 months) flash session (30 minutes)",
        "Skill swap: you have taught, which has been learning. top-down bottom-up peer",
        *(m.value for enum in (SessionType, Visibility, Relation, Role) for m in enum),
    ]
)
_WORD = re.compile(r"[a-z0-9]+")
_BREAK = re.compile(r"[^\w\s'’-]")  # punctuation that ends a phrase: "a, b" holds no pair "a b"


def grams(text: str) -> set[str]:
    """Lower-case words and adjacent word pairs (within a phrase) of a text; numbers alone do not count."""
    out: set[str] = set()
    for chunk in _BREAK.split(text.lower()):
        words = _WORD.findall(chunk)
        out |= set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}
    return {g for g in out if not g.replace(" ", "").isdigit()}


def strings(obj: Any) -> Iterator[str]:
    """Every string value inside a JSON-like structure (keys are field names, not content)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from strings(v)


@dataclass
class Secrets:
    """What one viewer must never see."""

    grams: set[str]
    hidden_ids: set[str]  # ids and file names of private sessions the viewer may not know exist


@dataclass
class Matrix:
    """Leaks found and cells checked."""

    leaks: list[str] = field(default_factory=list)
    cells: int = 0
    classes: int = 0  # access classes the coordinator's views were computed for

    def check(self, viewer: Viewer, surface: str, query: str, output: Any, secrets: Secrets) -> None:
        self.cells += 1
        for s in strings(to_jsonable(output)):
            found = grams(s) & secrets.grams
            found |= {h for h in secrets.hidden_ids if h in s}
            if found:
                who = "operator" if viewer.operator else viewer.person_id or "anonymous"
                self.leaks.append(f"{who} / {surface} / {query!r}: {sorted(found)[:5]} in {s[:120]!r}")


def secrets_for(kb: KnowledgeBase, viewer: Viewer) -> Secrets:
    """Collect the viewer's secret words and pairs: in unreadable text, absent from everything they may see."""
    sessions = kb.store.sessions()
    labels = {t.id: t.label for t in kb.store.topics()}
    allowed = grams(UI_TEXT)
    for p in kb.store.people():
        allowed |= grams(" ".join([p.id, p.name, p.email, p.title, p.department]))
    hidden_text: list[str] = []
    hidden_ids: set[str] = set()
    for s in sessions:
        if access.can_read_text(s, viewer):
            allowed |= grams(s.text) | grams(s.title) | grams(" ".join(s.tags))
            passages = kb.store.session_passages(s.id)
            allowed |= grams(" ".join(p.text for p in passages))  # insights merge adjacent passages
            # Topics are normalised forms of the readable text ("grievances" -> "grievance"): not secrets.
            topics = {t for p in passages for t in p.topics}
            allowed |= grams(" | ".join(topics | {labels.get(t, t) for t in topics}))
            allowed |= grams(" ".join(s.id.split("-")) + " " + s.source)
        else:
            hidden_text.append(s.text)
            if access.can_know_exists(s, viewer):  # topics-only: title, tags, id and file name are shown
                allowed |= grams(s.title) | grams(" ".join(s.tags)) | grams(s.id + " " + s.source)
            else:
                hidden_ids |= {s.id, Path(s.source).name}
    secret = set().union(*(grams(t) for t in hidden_text)) - allowed if hidden_text else set()
    return Secrets(secret, hidden_ids)


def viewers(kb: KnowledgeBase) -> list[Viewer]:
    """Everyone on the demo roster, and an anonymous programme member."""
    return [Viewer(None)] + [Viewer(p.id) for p in kb.store.people()]


def class_views(kb: KnowledgeBase, viewer: Viewer, *, details: bool) -> list[tuple[str, Any]]:
    """Views that depend on the viewer only through access: profiles and the coordinator's topic views.

    Profiles of everyone the viewer may see; topic clusters (with each cluster's detail when `details`), gaps,
    at-risk topics and reverse-mentoring potential.
    """
    out: list[tuple[str, Any]] = [("profile", kb.profile(p.id, viewer)) for p in kb.people(viewer)]
    clusters = coordinator.topics(kb, viewer)
    out.append(("topic clusters", clusters))
    if details:
        out += [("topic detail", coordinator.topic(kb, c.id, viewer)) for c in clusters]
    out += [
        ("gaps", coordinator.gaps(kb, viewer)),
        ("at-risk topics", coordinator.at_risk(kb, viewer)),
        ("reverse potential", coordinator.reverse_potential(kb, viewer)),
    ]
    return out


def access_class(kb: KnowledgeBase, viewer: Viewer) -> tuple[frozenset[str], frozenset[str]]:
    """The sessions a viewer may know of and may read: all that profiles and topic views depend on."""
    sessions = kb.store.sessions()
    return (
        frozenset(s.id for s in access.known(sessions, viewer)),
        frozenset(s.id for s in access.readable(sessions, viewer)),
    )


def run_matrix(kb: KnowledgeBase, who: list[Viewer], queries: list[str], *, details: bool = False) -> Matrix:
    """Check every surface for every viewer (and every query for ask and insights).

    Profiles and topic views are computed once per access class (the sessions a viewer may know of and read:
    all they depend on) and checked for every viewer of the class; cluster details (slow: each one clusters
    again) only for the first viewer's class when `details`.
    """
    m = Matrix()
    views: dict[tuple, list[tuple[str, Any]]] = {}
    known_ids = {s.id for s in kb.store.sessions()}
    for v in who:
        secrets = secrets_for(kb, v)
        listed = kb.sessions(v)
        m.check(v, "session list", "", listed, secrets)
        for s in listed:
            m.check(v, "session reader", "", kb.session(s.id, v), secrets)
            m.check(v, "session passages", "", kb.session_passages(s.id, v), secrets)
        m.check(v, "people", "", kb.people(v), secrets)
        key = access_class(kb, v)
        if key not in views:
            views[key] = class_views(kb, v, details=details and not views)
        for surface, output in views[key]:
            m.check(v, surface, "", output, secrets)
        for q in queries:
            m.check(v, "ask", q, kb.ask(q, viewer=v, log_question=False, top=10), secrets)
            m.check(v, "insights", q, kb.insights(q, viewer=v, log_question=False, top=10), secrets)
        for hidden in secrets.hidden_ids & known_ids:
            m.cells += 1
            if _refusal(kb, hidden, v) != _refusal(kb, "no-such-session", v).replace("no-such-session", hidden):
                m.leaks.append(f"{v.person_id or 'anonymous'} / session reader: '{hidden}' reads unlike an unknown id")
    m.classes = len(views)
    return m


def _refusal(kb: KnowledgeBase, session_id: str, viewer: Viewer) -> str:
    with pytest.raises(UnknownSessionError) as err:
        kb.session(session_id, viewer)
    return str(err.value)


@pytest.fixture(scope="module")
def demo(demo_kb_shared: KnowledgeBase) -> KnowledgeBase:
    return demo_kb_shared


def test_the_secret_words_are_found_automatically(demo: KnowledgeBase) -> None:
    anonymous = secrets_for(demo, Viewer(None))
    assert {"nightjar", "project nightjar"} <= anonymous.grams
    assert "2025-09-02-confidential-due-diligence-workstream" in anonymous.hidden_ids
    assert "nightjar" not in secrets_for(demo, Viewer("rajiv.menon")).grams  # he took part
    assert not secrets_for(demo, Viewer(None, operator=True)).grams


def test_the_matrix_would_catch_a_leak(demo: KnowledgeBase) -> None:
    """The operator sees private text: checked against an anonymous viewer's secrets, it must be flagged."""
    m = Matrix()
    shown = demo.insights("Project Nightjar", viewer=Viewer(None, operator=True), log_question=False)
    m.check(Viewer(None), "insights", "Project Nightjar", shown, secrets_for(demo, Viewer(None)))
    assert any("nightjar" in leak for leak in m.leaks)


def _report(name: str, who: list[Viewer], m: Matrix) -> str:
    return (
        f"\n{name}: {len(who)} viewers x {len(QUERIES)} queries, {m.classes} access classes; "
        f"{m.cells} surface checks; leaks: {len(m.leaks)}"
    )


def test_no_leak_for_an_outsider_and_a_participant(demo: KnowledgeBase) -> None:
    """The quick matrix: an anonymous member, and someone who took part in one private and one topics-only session."""
    who = [Viewer(None), Viewer("chloe.martin")]
    m = run_matrix(demo, who, QUERIES)
    print(_report("privacy matrix (quick)", who, m))
    assert m.cells > 500 and not m.leaks, "\n".join(m.leaks[:20])


@pytest.mark.slow
def test_no_viewer_of_the_roster_sees_what_they_may_not(demo: KnowledgeBase) -> None:
    """The full matrix: every viewer of the demo roster and an anonymous one, every query, every surface."""
    who = viewers(demo)
    m = run_matrix(demo, who, QUERIES, details=True)
    print(_report("privacy matrix (full)", who, m))
    assert not m.leaks, "\n".join(m.leaks[:20])


@pytest.fixture(scope="module")
def real_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The demo corpus ingested with the real models (sentence-transformers and spaCy)."""
    demo_dir = Path(__file__).resolve().parents[2] / "mentorkb" / "demo"
    with pytest.MonkeyPatch.context() as mp:
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
            mp.setenv(key, "1")
        for key in ("MENTORKB_EMBEDDER_MODEL", "MENTORKB_SPACY_MODEL"):
            mp.delenv(key, raising=False)
        kb = KnowledgeBase.open(tmp_path_factory.mktemp("real") / "kb")
        report = kb.ingest([demo_dir / "notes"], roster=demo_dir / "people.csv")
        assert report.ok, report.rejected
        yield kb
        kb.close()


@pytest.mark.slow
@pytest.mark.real
def test_no_leak_on_the_real_models(real_demo: KnowledgeBase) -> None:
    """A smaller matrix on the real models: their keyphrases and neighbours differ from the fakes'."""
    who = [Viewer(None), Viewer("chloe.martin"), Viewer("rajiv.menon"), Viewer("diego.ramos")]
    m = run_matrix(real_demo, who, QUERIES)
    print(_report("privacy matrix (real models)", who, m))
    assert not m.leaks, "\n".join(m.leaks[:20])
