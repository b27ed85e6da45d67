"""Acceptance: "surface earlier insights" on the built-in demo corpus with the real models.

A programme member asks in their own words; they should see the passage that answers it, cited to lines where the
quoted words really are, never anything from a session they may not read, filters that do what they say, and a
point made in two sessions shown once ("also said in 1 other session").
"""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from ingest.topics import load_extractor
from mentorkb.service import KnowledgeBase
from mentorkb.settings import Settings
from models import Insight, SessionType, Viewer
from recommend import access
from recommend.insights import InsightFilters, session_direction

DEMO = Path(__file__).resolve().parents[2] / "mentorkb" / "demo"
pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory, real_embedder) -> Path:
    kb_dir = tmp_path_factory.mktemp("demo-insights") / "kb"
    settings = Settings.load(kb_dir)
    kb = KnowledgeBase(settings, embedder=real_embedder, extractor=load_extractor(settings))
    report = kb.ingest([DEMO / "notes"], roster=DEMO / "people.csv")
    assert report.ok, report.rejected
    kb.close()
    return kb_dir


@pytest.fixture(scope="module")
def kb(kb_dir, real_embedder):
    settings = Settings.load(kb_dir)
    k = KnowledgeBase(settings, embedder=real_embedder, extractor=load_extractor(settings))
    yield k
    k.close()


def insights(kb: KnowledgeBase, question: str, viewer: Viewer | None = None, **kw) -> list[Insight]:
    return kb.insights(question, viewer=viewer or Viewer(None), log_question=False, **kw)


INCOTERMS = {"2025-02-04-incoterms-dap-vs-ddp", "2026-04-09-incoterms-for-ops"}


@pytest.mark.parametrize(
    ("question", "sessions", "words"),
    [
        (
            "If we agree to deliver duty paid into France, what do we need before the truck leaves?",
            INCOTERMS,
            ["EORI"],
        ),
        (
            "How should seasonal peaks be handled in a driver-based forecast model?",
            {"2025-05-06-driver-based-forecast-walkthrough"},
            ["volume driver"],
        ),
        (
            "Why does a blind visitor hear 'link image' over and over on our homepage?",
            {"2025-06-03-teams-call"},
            ["alt text"],
        ),
        (
            "How do I pair up the invoices of two ledgers in pandas?",
            {"2025-08-05-intercompany-reconciliation-in-python"},
            ["merge"],
        ),
    ],
)
def test_a_question_in_other_words_finds_the_passage_that_answers_it(kb, question, sessions, words):
    found = insights(kb, question, top=5)
    answers = [i for i in found[:3] if i.session_id in sessions and all(w.lower() in i.text.lower() for w in words)]
    assert answers, [(i.session_id, i.text[:80]) for i in found]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


_CUE_TIMING = re.compile(r"^\d{2}:\d{2}(:\d{2})?\.\d{3} --> .*$", re.M)


def _spoken(text: str) -> str:
    """Source lines as read: WebVTT cue timings and <v Name> voice tags dropped (a turn may span several cues)."""
    return _norm(re.sub(r"</?v[^>]*>", "", _CUE_TIMING.sub("", text)))


def _pieces(i: Insight, names: set[str]) -> list[str]:
    """The quoted words of an insight without the 'Name: ' labels an exchange adds to each turn."""
    out = []
    for line in i.text.split("\n"):
        name, sep, rest = line.partition(": ")
        out.append(rest if sep and name in names else line)
    return [p for p in out if p.strip()]


@pytest.mark.parametrize(
    ("question", "viewer"),
    [
        ("How do I write variance commentary for month-end?", None),
        ("What is the difference between DAP and DDP?", "lucy.chen"),
        ("How did Amara show the website with a screen reader?", "catherine.doyle"),
        ("How do I handle an angry customer on the phone?", "mia.rossi"),
        ("How do you turn the reconciliation into a script that runs every month?", "rajiv.menon"),
    ],
)
def test_every_quote_is_found_at_its_cited_lines(kb, question, viewer):
    v = kb.viewer(viewer)
    names = {p.name for p in kb.store.people()}
    found = insights(kb, question, v, top=10)
    assert found
    for i in found:
        text = kb.session(i.session_id, v).text
        start, end = i.lines
        assert 1 <= start <= end
        cited = _spoken("\n".join(text.split("\n")[start - 1 : end]))
        for piece in _pieces(i, names):
            assert _norm(piece) in cited, (i.source, i.lines, piece)
        assert i.source == kb.session(i.session_id, v).source and i.date and i.title


SECRETS = [
    "Project Nightjar acquisition due diligence and the data room",
    "burnout, workload and saying no",
    "coaching for my salary negotiation",
    "running a performance improvement plan for a report",
    "stepping back for health leave",
    "applying for the director role internally",
]


def test_private_and_topics_only_text_never_reaches_a_non_participant(kb):
    viewers = [Viewer(None)] + [Viewer(p) for p in sorted(kb.store.roster_ids())]
    sessions = {s.id: s for s in kb.store.sessions()}
    hidden = {s.id for s in sessions.values() if s.visibility.value != "program"}
    assert len(hidden) >= 6
    nightjar = {s.id for s in sessions.values() if "Nightjar" in s.text}
    leaked, seen_hidden = [], set()
    for v in viewers:
        for q in SECRETS:
            for i in insights(kb, q, v, top=10):
                s = sessions[i.session_id]
                if not access.can_read_text(s, v):
                    leaked.append((v.person_id, i.session_id))
                if "nightjar" in i.text.lower() and i.session_id not in nightjar:
                    leaked.append((v.person_id, "nightjar quoted from elsewhere"))
                if i.session_id in hidden:
                    seen_hidden.add(i.session_id)
                hidden_also = [sid for sid in i.also_in if not access.can_read_text(sessions[sid], v)]
                leaked.extend((v.person_id, sid) for sid in hidden_also)
    assert not leaked
    assert seen_hidden, "participants should find their own private and topics-only sessions"


def test_a_participant_finds_their_private_session_and_others_do_not(kb):
    question = "Project Nightjar due diligence"
    assert any("Nightjar" in i.text for i in insights(kb, question, kb.viewer("rajiv.menon")))
    for outsider in (None, "ben.okafor", "sofia.castellano"):
        assert not any("Nightjar" in i.text for i in insights(kb, question, kb.viewer(outsider)))


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        (InsightFilters(type=SessionType.REVERSE), lambda i, s, kb: i.type is SessionType.REVERSE),
        (InsightFilters(person="priya.nair"), lambda i, s, kb: "priya.nair" in s.people),
        (
            InsightFilters(since=date(2025, 6, 1), until=date(2025, 12, 31)),
            lambda i, s, kb: date(2025, 6, 1) <= i.date <= date(2025, 12, 31),
        ),
        (
            InsightFilters(direction="bottom-up"),
            lambda i, s, kb: session_direction(s, {p.id: p for p in kb.store.people()}) == "bottom-up",
        ),
        (
            "prompt-engineering",
            lambda i, s, kb: (
                "prompt-engineering" in s.tags or kb.topic_label(kb.canon().canonical("prompt engineering")) in i.topics
            ),
        ),
    ],
)
def test_filters_narrow_the_results(kb, filters, check):
    question = "How can I write better prompts for ChatGPT at work?"
    if isinstance(filters, str):  # a topic, canonicalised as the app and the CLI do
        filters = InsightFilters(topic=kb.canon().canonical(filters))
    everything = insights(kb, question, top=20)
    narrowed = insights(kb, question, top=20, filters=filters)
    assert narrowed
    assert all(check(i, kb.store.session(i.session_id), kb) for i in narrowed)
    assert not all(check(i, kb.store.session(i.session_id), kb) for i in everything)


def test_a_point_made_in_two_sessions_is_shown_once(kb_dir, real_embedder, tmp_path):
    copy = tmp_path / "kb"
    shutil.copytree(kb_dir, copy)
    note = tmp_path / "notes" / "2025-11-03-incoterms-refresher.md"
    note.parent.mkdir()
    source = (DEMO / "notes" / "2025" / "2025-02-04-incoterms-dap-vs-ddp.md").read_text(encoding="utf-8")
    body = source.split("---", 2)[2]
    note.write_text(
        '---\ndate: 2025-11-03\ntitle: "Incoterms 2020 for planners: DAP vs DDP refresher"\ntype: traditional\n'
        "mentors: [henrik.dahl]\nmentees: [liam.murphy]\ntags: [incoterms]\n---\n" + body,
        encoding="utf-8",
    )
    settings = Settings.load(copy)
    kb = KnowledgeBase(settings, embedder=real_embedder, extractor=load_extractor(settings))
    try:
        assert kb.ingest([note]).ok
        found = insights(kb, "Under DDP who has to clear import customs and pay the VAT?", top=10)
        ids = [i.session_id for i in found]
        pair = {"2025-02-04-incoterms-dap-vs-ddp", "2025-11-03-incoterms-refresher"}
        grouped = [i for i in found if i.session_id in pair and set(i.also_in) & pair]
        assert grouped, [(i.session_id, i.also_in) for i in found]
        lead = grouped[0]
        twin = (pair - {lead.session_id}).pop()
        assert twin in lead.also_in
        assert not any(i.session_id == twin and _norm(i.text) == _norm(lead.text) for i in found), (
            "the same point must not be listed twice"
        )
        assert lead.session_id in ids
    finally:
        kb.close()
