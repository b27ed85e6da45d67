"""Insight ranking on hand-made hits: visibility, filters, evidence, diversity, duplicates, widening, citations."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from models import Passage, Person, Session, SessionType, Viewer, Visibility
from recommend.insights import (
    InsightFilters,
    InsightParams,
    evidence_scores,
    named_speakers,
    search_insights,
    session_direction,
    widen,
)
from recommend.retrieval import Hit

PEOPLE = {
    p.id: p
    for p in [
        Person("ana", "Ana Ruiz", level=7),
        Person("ben", "Ben Okafor", level=2),
        Person("cy", "Cy Park", level=4),
        Person("dee", "Dee Moss", level=4),
    ]
}
DIM = 8


def unit(i: int, j: int | None = None) -> np.ndarray:
    """A unit vector along axis i (or halfway between axes i and j)."""
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    if j is not None:
        v[j] = 1.0
    return v / np.linalg.norm(v)


def session(
    sid: str,
    *,
    mentors: tuple[str, ...] = ("ana",),
    mentees: tuple[str, ...] = ("ben",),
    participants: tuple[str, ...] = (),
    visibility: Visibility = Visibility.PROGRAM,
    type: SessionType = SessionType.TRADITIONAL,
    day: date = date(2025, 3, 1),
    transcript: bool = False,
    tags: tuple[str, ...] = (),
) -> Session:
    return Session(
        id=sid,
        date=day,
        title=f"Session {sid}",
        type=type,
        mentors=mentors,
        mentees=mentees,
        participants=participants,
        visibility=visibility,
        tags=tags,
        source=f"notes/{sid}.md",
        content_hash=sid,
        is_transcript=transcript,
    )


class Corpus:
    """Sessions, their passages (ids unique across sessions) and vectors, as the store would hold them."""

    def __init__(self) -> None:
        self.passages: dict[str, list[Passage]] = {}
        self.sessions: dict[str, Session] = {}
        self.vectors: dict[int, np.ndarray] = {}
        self.calls: list[str] = []

    def add(self, s: Session, texts: list[tuple[str | None, str]], vecs: list[np.ndarray] | None = None) -> None:
        """One passage per (speaker, text); passage n of a session sits on source line n + 1."""
        self.sessions[s.id] = s
        base = 1000 * (len(self.sessions))
        self.passages[s.id] = [
            Passage(s.id, n, text, n + 1, n + 1, speaker=who, id=base + n, topics=(f"t{n}",))
            for n, (who, text) in enumerate(texts)
        ]
        for n, v in enumerate(vecs or [unit(len(self.sessions) % DIM)] * len(texts)):
            self.vectors[base + n] = v

    def hit(self, sid: str, ordinal: int, score: float) -> Hit:
        return Hit(self.passages[sid][ordinal], self.sessions[sid], score)

    def neighbours(self, sid: str) -> list[Passage]:
        self.calls.append(sid)
        return self.passages[sid]

    def search(self, hits: list[Hit], viewer: Viewer = Viewer(None), **kw):  # noqa: B008 - immutable
        kw.setdefault("filters", InsightFilters())
        return search_insights(
            hits, viewer=viewer, people=PEOPLE, vectors=self.vectors, neighbours=self.neighbours, **kw
        )


LONG = "We built the driver-based forecast from volumes and rates, then checked it against last year's actuals. " * 2


@pytest.fixture
def corpus() -> Corpus:
    c = Corpus()
    c.add(session("open"), [(None, "Open session on forecasting. " + LONG)])
    c.add(
        session("topics", visibility=Visibility.TOPICS_ONLY, mentors=("cy",), mentees=("dee",)),
        [(None, "Topics-only: salary talk. " + LONG)],
    )
    c.add(
        session("private", visibility=Visibility.PRIVATE, mentors=("cy",), mentees=("dee",)),
        [(None, "Private: burnout. " + LONG)],
    )
    return c


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        (Viewer(None), {"open"}),
        (Viewer("ben"), {"open"}),
        (Viewer("dee"), {"open", "topics", "private"}),
        (Viewer("ana", operator=True), {"open", "topics", "private"}),
    ],
)
def test_text_of_topics_only_and_private_sessions_reaches_only_participants(corpus, viewer, visible):
    hits = [corpus.hit(s, 0, 1.0) for s in ("private", "topics", "open")]
    got = corpus.search(hits, viewer=viewer, top=10)
    assert {i.session_id for i in got} == visible
    assert all(i.text for i in got)
    shown = " ".join(i.text for i in got)
    for hidden in {"topics", "private"} - visible:
        assert hidden.capitalize() not in shown


def test_a_hidden_session_is_never_named_as_saying_the_same():
    c = Corpus()
    c.add(session("open"), [(None, "Keep a 5% contingency. " + LONG)], [unit(0)])
    c.add(
        session("private", visibility=Visibility.PRIVATE, mentors=("cy",), mentees=("dee",)),
        [(None, "Keep a 5% contingency. " + LONG)],
        [unit(0)],
    )
    hits = [c.hit("private", 0, 1.0), c.hit("open", 0, 0.9)]
    assert [(i.session_id, i.also_in) for i in c.search(hits, viewer=Viewer("ben"))] == [("open", ())]
    assert [(i.session_id, i.also_in) for i in c.search(hits, viewer=Viewer("dee"))] == [("private", ("open",))]


def test_contacts_are_masked_for_non_participants_only():
    c = Corpus()
    c.add(session("s"), [(None, "Write to ana.ruiz@example.com or call +44 20 7946 0958 about the forecast. " + LONG)])
    assert "[email hidden]" in c.search([c.hit("s", 0, 1.0)], viewer=Viewer("cy"))[0].text
    assert "ana.ruiz@example.com" in c.search([c.hit("s", 0, 1.0)], viewer=Viewer("ben"))[0].text


def filtered_corpus() -> Corpus:
    c = Corpus()
    c.add(session("jan-trad", day=date(2025, 1, 10), tags=("generative-ai",)), [(None, "Budget basics. " + LONG)])
    c.add(
        session("jun-rev", day=date(2025, 6, 10), type=SessionType.REVERSE, mentors=("ben",), mentees=("ana",)),
        [(None, "Prompting tips. " + LONG)],
    )
    c.add(
        session(
            "sep-peer", day=date(2025, 9, 10), type=SessionType.PEER, mentors=(), mentees=(), participants=("cy", "dee")
        ),
        [("cy", "SQL windows. " + LONG)],
    )
    return c


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (InsightFilters(), {"jan-trad", "jun-rev", "sep-peer"}),
        (InsightFilters(topic="generative ai"), {"jan-trad"}),  # a tag, written with a hyphen
        (InsightFilters(topic="t0"), {"jan-trad", "jun-rev", "sep-peer"}),  # a passage topic
        (InsightFilters(topic="nothing"), set()),
        (InsightFilters(person="cy"), {"sep-peer"}),
        (InsightFilters(person="ana"), {"jan-trad", "jun-rev"}),
        (InsightFilters(type=SessionType.REVERSE), {"jun-rev"}),
        (InsightFilters(since=date(2025, 6, 1)), {"jun-rev", "sep-peer"}),
        (InsightFilters(until=date(2025, 6, 10)), {"jan-trad", "jun-rev"}),
        (InsightFilters(since=date(2025, 2, 1), until=date(2025, 8, 1)), {"jun-rev"}),
        (InsightFilters(direction="top-down"), {"jan-trad"}),
        (InsightFilters(direction="bottom-up"), {"jun-rev"}),
        (InsightFilters(direction="peer"), {"sep-peer"}),
    ],
)
def test_filters_narrow_results(filters, expected):
    c = filtered_corpus()
    hits = [c.hit(s, 0, 1.0 - n / 10) for n, s in enumerate(c.sessions)]
    assert {i.session_id for i in c.search(hits, filters=filters)} == expected


@pytest.mark.parametrize(
    ("mentors", "mentees", "type", "direction"),
    [
        (("ana",), ("ben",), SessionType.TRADITIONAL, "top-down"),
        (("ben",), ("ana",), SessionType.TRADITIONAL, "bottom-up"),
        (("ana",), ("ben",), SessionType.REVERSE, "bottom-up"),  # declared reverse wins
        (("cy",), ("dee",), SessionType.PEER, "peer"),  # same level
        ((), (), SessionType.GROUP, "peer"),  # nobody leads
    ],
)
def test_direction_follows_levels(mentors, mentees, type, direction):
    assert session_direction(session("s", mentors=mentors, mentees=mentees, type=type), PEOPLE) == direction


def test_near_copies_from_one_session_do_not_crowd_out_another_session():
    c = Corpus()
    c.add(session("a"), [(None, f"Forecast point {n}. " + LONG) for n in range(0, 40, 10)], [unit(0)] * 4)
    c.add(session("b"), [(None, "A different angle on forecasting. " + LONG)], [unit(1)])
    c.add(session("weak"), [(None, f"Barely related {n}. " + LONG) for n in range(5)], [unit(2)] * 5)
    hits = [c.hit("a", n, 1.0 - n / 100) for n in range(4)] + [c.hit("b", 0, 0.7)]
    hits += [c.hit("weak", n, 0.2) for n in range(5)]
    got = c.search(hits, top=2, params=InsightParams(session_weight=0.0))
    assert [i.session_id for i in got] == ["a", "b"]


def test_neighbouring_turns_of_one_stretch_make_one_result():
    c = Corpus()
    turns = [
        ("ana" if n % 2 else "ben", f"Turn {n} about the forecast drivers and their assumptions, explained.")
        for n in range(30)
    ]
    c.add(session("t", transcript=True), turns, [unit(n % DIM) for n in range(30)])
    hits = [c.hit("t", n, 1.0 - n / 100) for n in (10, 11, 12)] + [c.hit("t", 25, 0.5)]
    got = c.search(hits, top=5, params=InsightParams(session_penalty=0.0))
    assert len(got) == 2
    first, second = got
    assert first.lines[0] <= 11 <= first.lines[1] and second.lines[0] <= 26 <= second.lines[1]


def test_a_stretch_where_many_turns_match_beats_one_stray_match():
    c = Corpus()
    turns = [
        ("ana" if n % 2 else "ben", f"Turn number {n} of the meeting, with enough words to stand on its own.")
        for n in range(60)
    ]
    c.add(session("t", transcript=True), turns, [unit(n % DIM) for n in range(60)])
    stray = c.hit("t", 50, 1.0)
    stretch = [c.hit("t", n, 0.95) for n in (10, 11, 12, 13)]
    got = c.search([stray, *stretch], top=2)
    assert got[0].lines[0] <= 12 <= got[0].lines[1]
    alone = c.search([stray, *stretch], top=2, params=InsightParams(neighbour_weight=0.0))
    assert alone[0].lines[0] <= 51 <= alone[0].lines[1]


def test_the_session_that_discusses_the_question_throughout_comes_first():
    c = Corpus()
    vecs = [unit(n) for n in range(5)]
    c.add(session("one-mention"), [(None, f"Mostly about something else {n}. " + LONG) for n in range(5)], vecs)
    c.add(session("deep-dive"), [(None, f"Forecasting detail {n}. " + LONG) for n in range(5)], vecs)
    hits = [c.hit("one-mention", 0, 1.0)] + [c.hit("one-mention", n, 0.3) for n in range(1, 5)]
    hits += [c.hit("deep-dive", n, 0.95) for n in range(5)]
    assert c.search(hits, top=3)[0].session_id == "deep-dive"
    assert c.search(hits, top=3, params=InsightParams(session_weight=0.0))[0].session_id == "one-mention"


def test_a_speaker_named_in_the_question_comes_first():
    c = Corpus()
    c.add(
        session("t", transcript=True, mentors=("ana",), mentees=("cy",)),
        [
            ("cy", "Cy thinks the forecast should start from volumes, not from last year's totals, every month."),
            ("ana", "Ana thinks the forecast should start from rates and carrier contracts, then volumes follow."),
        ],
        [unit(0), unit(1)],
    )
    hits = [c.hit("t", 0, 1.0), c.hit("t", 1, 0.95)]
    params = InsightParams(same_stretch_turns=0, min_chars=0, neighbour_weight=0.0)
    assert c.search(hits, top=2, params=params)[0].speaker == "cy"
    assert (
        c.search(hits, top=2, params=params, question="What did Ana Ruiz say about the forecast?")[0].speaker == "ana"
    )


def test_near_duplicates_across_sessions_are_grouped():
    c = Corpus()
    c.add(session("first"), [(None, "Keep a 5% contingency in the budget. " + LONG)], [unit(0)])
    c.add(
        session("again", day=date(2025, 5, 1)),
        [(None, "Keep a 5 percent contingency in the budget. " + LONG)],
        [unit(0)],
    )
    c.add(session("third", day=date(2025, 7, 1)), [(None, "Keep contingency. " + LONG)], [unit(0, 1)])  # cosine 0.71
    hits = [c.hit("first", 0, 1.0), c.hit("again", 0, 0.99), c.hit("third", 0, 0.9)]
    got = c.search(hits, top=5)
    assert [(i.session_id, i.also_in) for i in got] == [("first", ("again",)), ("third", ())]


def test_adjacent_passages_of_one_speaker_are_joined_with_their_line_range():
    c = Corpus()
    c.add(
        session("t", transcript=True),
        [
            ("ben", "So how do I start the forecast?"),
            ("ana", "Start from volumes."),
            ("ana", "Then apply rates per lane."),
            ("ana", "Then check against last year."),
            ("ben", "Thanks, that helps a lot."),
        ],
    )
    got = c.search([c.hit("t", 2, 1.0)], top=1, params=InsightParams(min_chars=0))
    assert got[0].lines == (2, 4)
    assert got[0].text == "Start from volumes. Then apply rates per lane. Then check against last year."
    assert got[0].speaker == "ana"


PEERS = {"mentors": (), "mentees": (), "participants": ("ana", "ben"), "type": SessionType.PEER}


def test_a_very_short_turn_is_shown_with_the_exchange_around_it():
    c = Corpus()
    c.add(
        session("t", transcript=True, **PEERS),
        [
            ("ana", "Intro."),
            ("ben", "Should the buttons be rubber or hard plastic, given the budget we have?"),
            ("ana", "Rubber."),
            ("ben", "Fine, rubber it is, then we stay under twelve euro per unit."),
            ("ana", "Next point."),
        ],
    )
    short = c.search([c.hit("t", 2, 1.0)], top=1, params=InsightParams(min_chars=100))[0]
    assert short.lines == (2, 4)
    assert short.text.splitlines() == [
        "Ben Okafor: Should the buttons be rubber or hard plastic, given the budget we have?",
        "Ana Ruiz: Rubber.",
        "Ben Okafor: Fine, rubber it is, then we stay under twelve euro per unit.",
    ]
    assert short.speaker == "ana"
    alone = c.search([c.hit("t", 1, 1.0)], top=1, params=InsightParams(min_chars=50))[0]
    assert alone.lines == (2, 2)


def test_a_short_question_is_shown_with_the_answer_after_it():
    c = Corpus()
    c.add(
        session("t", transcript=True, **PEERS),
        [
            ("ana", "One assumptions tab, blue cells for inputs, each with an owner and a date."),
            ("ben", "What about seasonality?"),
            ("ana", "Apply it to the volume driver, not to costs."),
            ("ben", "Okay."),
        ],
    )
    got = c.search([c.hit("t", 1, 1.0)], top=1, params=InsightParams(min_chars=60))[0]
    assert got.lines == (2, 3)
    assert got.text.splitlines()[-1] == "Ana Ruiz: Apply it to the volume driver, not to costs."


def test_a_mentees_turn_comes_with_the_mentors_reply():
    turns = [
        ("ana", "How do you match them by hand today?"),
        ("ben", "Jonas matches the receivable against the payable on invoice number, then on amount and date."),
        ("ana", "So two passes. First an exact match: in pandas that is a merge on the invoice number."),
        ("ana", "Then the leftovers on amount and date."),
        ("ben", "And the FX differences?"),
    ]
    c = Corpus()
    c.add(session("mentoring", transcript=True), turns)  # ana mentors ben
    c.add(session("peers", transcript=True, **PEERS), turns)
    params = InsightParams(min_chars=50)
    assert c.search([c.hit("mentoring", 1, 1.0)], top=1, params=params)[0].lines == (2, 4)
    assert c.search([c.hit("peers", 1, 1.0)], top=1, params=params)[0].lines == (2, 2)


def test_narrative_notes_are_never_widened_with_other_paragraphs():
    c = Corpus()
    c.add(session("n"), [(None, "Short."), (None, "Also short."), (None, "Third.")])
    assert c.search([c.hit("n", 1, 1.0)], top=1)[0].lines == (2, 2)


def test_widening_stops_at_the_character_budget():
    turns = [("ben", "x" * 500), ("ana", "Yes."), ("ben", "y" * 500)]
    c = Corpus()
    c.add(session("t", transcript=True, **PEERS), turns)
    parts = widen(
        c.passages["t"][1], c.passages["t"], session=c.sessions["t"], params=InsightParams(min_chars=200, max_chars=600)
    )
    assert sum(len(p.text) for p in parts) <= 600 and len(parts) == 2


def test_each_result_session_is_read_once():
    c = Corpus()
    turns = [("ana" if n % 2 else "ben", f"Turn {n}: a point about forecasting drivers.") for n in range(40)]
    c.add(session("t", transcript=True), turns, [unit(n % DIM) for n in range(40)])
    c.search([c.hit("t", n, 1.0 - n / 100) for n in range(0, 40, 8)], top=5)
    assert c.calls == ["t"]


def test_vectors_may_be_looked_up_on_demand():
    c = Corpus()
    c.add(session("first"), [(None, "Keep a 5% contingency. " + LONG)], [unit(0)])
    c.add(session("again"), [(None, "Keep 5% contingency. " + LONG)], [unit(0)])
    asked: list[list[int]] = []

    def lookup(ids):
        asked.append(list(ids))
        return {i: c.vectors[i] for i in ids}

    hits = [c.hit("first", 0, 1.0), c.hit("again", 0, 0.9)]
    got = search_insights(
        hits, viewer=Viewer(None), people=PEOPLE, filters=InsightFilters(), vectors=lookup, neighbours=c.neighbours
    )
    assert [i.also_in for i in got] == [("again",)]
    assert len(asked) == 1 and set(asked[0]) == {1000, 2000}


def test_citations_and_metadata_come_from_the_session():
    c = Corpus()
    c.add(session("s", day=date(2025, 4, 2), type=SessionType.FLASH), [(None, "Intro."), (None, LONG)])
    (i,) = c.search([c.hit("s", 1, 0.5)], top=3)
    assert (i.session_id, i.title, i.date, i.type, i.source, i.lines) == (
        "s",
        "Session s",
        date(2025, 4, 2),
        SessionType.FLASH,
        "notes/s.md",
        (2, 2),
    )
    assert i.topics == ("t1",) and i.score > 0


def test_no_hits_give_no_insights():
    assert Corpus().search([], top=5) == []


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What did Ana Ruiz say about budgets?", {"ana"}),
        ("what did ana ruiz think?", {"ana"}),
        ("Summarise what cy said on SQL", set()),  # ids shorter than three letters are too ambiguous
        ("What did Ben Okafor and Dee Moss agree?", {"ben", "dee"}),
        ("How do I forecast?", set()),
        ("Bena Okaforth's idea", set()),  # whole words only
    ],
)
def test_named_speakers(question, named):
    assert named_speakers(question, PEOPLE.values()) == named


def test_matching_neighbours_lift_a_transcript_turn_but_never_above_a_note_that_matches_as_well():
    c = Corpus()
    c.add(session("t", transcript=True), [("ana", f"Turn {n} with some words.") for n in range(40)])
    c.add(session("n"), [(None, f"Paragraph {n}.") for n in range(5)])
    params = InsightParams(session_weight=0.0)
    alone = evidence_scores([c.hit("t", 20, 1.0)], params)[0]
    among = evidence_scores([c.hit("t", n, 1.0) for n in range(10, 31)], params)[10]
    note = evidence_scores([c.hit("n", 1, 1.0), c.hit("n", 2, 1.0)], params)
    assert alone < among <= note[0] == note[1] == pytest.approx(1.0)


@pytest.mark.parametrize("ordinal", [0, 1, 5, 39])
def test_a_turn_whose_whole_neighbourhood_matches_keeps_its_own_score(ordinal):
    c = Corpus()
    c.add(session("t", transcript=True), [("ana", f"Turn {n}.") for n in range(40)])
    scores = evidence_scores([c.hit("t", n, 1.0) for n in range(40)], InsightParams(session_weight=0.0))
    assert scores[ordinal] <= 1.0 + 1e-9 and scores[ordinal] > 0.8
