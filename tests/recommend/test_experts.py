"""Who-can-teach ranking on hand-made retrieval hits: roles, relations, filters, visibility and evidence."""

from __future__ import annotations

from dataclasses import fields
from datetime import date

import pytest

from mentorkb.settings import Settings
from models import Passage, Person, Relation, Session, SessionType, Viewer, Visibility
from recommend.experts import (
    PersonStats,
    RankWeights,
    build_stats,
    passage_relevance,
    rank_experts,
    reference_date,
    relation,
    stats_for_participant,
    suggest_format,
)
from recommend.retrieval import Hit

TODAY = date(2025, 6, 1)
PEOPLE = {
    p.id: p
    for p in [
        Person("ana", "Ana Ruiz", level=7),
        Person("ben", "Ben Okafor", level=2),
        Person("cho", "Cho Lee", level=2),
        Person("dev", "Dev Patel", level=4),
        Person("eve", "Eve Stone", level=7, capacity=1),
        Person("fay", "Fay Wong", level=1),
    ]
}


def session(
    sid: str,
    *,
    mentors: tuple[str, ...] = (),
    mentees: tuple[str, ...] = (),
    participants: tuple[str, ...] = (),
    when: date = date(2025, 5, 1),
    visibility: Visibility = Visibility.PROGRAM,
    transcript: bool = False,
) -> Session:
    return Session(
        id=sid,
        date=when,
        title=f"Session {sid}",
        type=SessionType.TRADITIONAL,
        mentors=mentors,
        mentees=mentees,
        participants=participants,
        visibility=visibility,
        tags=(),
        source=f"notes/{sid}.md",
        content_hash=sid,
        text="",
        is_transcript=transcript,
    )


def hit(
    s: Session,
    *,
    lexical: float = 5.0,
    dense: float = 0.6,
    text: str = "We built the budget from drivers.",
    lines: tuple[int, int] = (5, 7),
    speaker: str | None = None,
    topics: tuple[str, ...] = ("budgeting",),
    ordinal: int = 0,
) -> Hit:
    p = Passage(s.id, ordinal, text, lines[0], lines[1], speaker=speaker, topics=topics)
    return Hit(p, s, score=0.03, dense=dense, lexical=lexical)


def rank(hits, *, asker: str | None = None, viewer: Viewer | None = None, stats=None, weights=None, **kw):
    return rank_experts(
        hits,
        people=PEOPLE,
        asker=PEOPLE[asker] if asker else None,
        viewer=viewer or Viewer(asker),
        question=kw.pop("question", "who can teach me budgeting?"),
        question_topics=kw.pop("question_topics", ("budgeting",)),
        stats=stats or {},
        weights=weights or RankWeights(activity=0.0, topic=0.0),
        today=TODAY,
        top=kw.pop("top", 10),
        **kw,
    )


def ids(recs) -> list[str]:
    return [r.person.id for r in recs]


def test_the_mentor_who_taught_it_ranks_above_those_who_only_learned_it():
    hits = [
        hit(session("s1", mentors=("ana",), mentees=("ben",))),
        hit(session("s2", mentors=("ana",), mentees=("cho",))),
        hit(session("s3", mentors=("dev",), mentees=("ben",)), lexical=2.0, dense=0.4),
    ]
    order = ids(rank(hits))
    assert order[:2] == ["ana", "dev"]
    assert order.index("ben") > order.index("dev")


def test_with_zero_mentee_weight_learners_are_not_recommended_at_all():
    hits = [hit(session("s1", mentors=("ana",), mentees=("ben",)))]
    assert ids(rank(hits, weights=RankWeights(mentee=0.0, activity=0.0, topic=0.0))) == ["ana"]


def test_in_a_transcript_the_speaker_of_the_explaining_turn_gets_the_credit():
    s = session("t1", mentors=("ana",), mentees=("ben",), transcript=True)
    hits = [
        hit(s, speaker="ben", text="I explained how drivers work in my old team.", lexical=6.0, dense=0.7),
        hit(s, speaker="ana", text="What would you change?", lexical=1.0, dense=0.2, ordinal=1),
    ]
    recs = rank(hits, weights=RankWeights(mentee=1.0, activity=0.0, topic=0.0))
    assert ids(recs)[0] == "ben"
    assert recs[0].evidence[0].speaker == "ben"


def test_the_asker_never_appears_even_as_the_strongest_teacher():
    hits = [hit(session("s1", mentors=("ana",))), hit(session("s2", mentors=("dev",)), lexical=1.0)]
    assert "ana" not in ids(rank(hits, asker="ana"))
    assert ids(rank(hits, asker="ana")) == ["dev"]


def test_two_sessions_outweigh_many_passages_of_one_session():
    one = session("s1", mentors=("ana",))
    hits = [hit(one, ordinal=i, lines=(i * 3 + 1, i * 3 + 2)) for i in range(5)]
    hits += [hit(session("s2", mentors=("dev",))), hit(session("s3", mentors=("dev",)))]
    assert ids(rank(hits))[:2] == ["dev", "ana"]


@pytest.mark.parametrize(
    ("candidate", "asker", "band", "expected"),
    [
        (7, 2, 0, Relation.MENTOR),
        (2, 7, 0, Relation.REVERSE_MENTOR),
        (4, 4, 0, Relation.PEER),
        (5, 4, 1, Relation.PEER),
        (3, 4, 1, Relation.PEER),
        (6, 4, 1, Relation.MENTOR),
        (None, 4, 0, Relation.UNKNOWN),
        (4, None, 0, Relation.UNKNOWN),
    ],
)
def test_relation_comes_from_levels_with_a_peer_band(candidate, asker, band, expected):
    assert relation(Person("c", "C", level=candidate), Person("a", "A", level=asker), band) is expected


def test_relation_is_unknown_without_an_asker():
    assert relation(PEOPLE["ana"], None) is Relation.UNKNOWN


@pytest.mark.parametrize(
    ("direction", "expected"),
    [
        ("any", {"ana", "cho", "fay"}),
        ("mentor", {"ana"}),
        ("reverse", {"fay"}),
        ("peer", {"cho"}),
    ],
)
def test_direction_filter_keeps_only_that_relation(direction, expected):
    hits = [hit(session(f"s{p}", mentors=(p,))) for p in ("ana", "cho", "fay")]
    recs = rank(hits, asker="ben", direction=direction)
    assert set(ids(recs)) == expected
    labels = {"ana": Relation.MENTOR, "cho": Relation.PEER, "fay": Relation.REVERSE_MENTOR}
    assert all(r.relation is labels[r.person.id] for r in recs)


def test_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="direction"):
        rank([], direction="sideways")


def test_a_mentor_at_capacity_is_flagged_and_gently_down_ranked():
    hits = [hit(session("s1", mentors=("eve",))), hit(session("s2", mentors=("ana",)))]
    stats = {"eve": PersonStats(taught_sessions=1, current_mentees={"cho"}), "ana": PersonStats(taught_sessions=1)}
    recs = rank(hits, stats=stats)
    assert ids(recs) == ["ana", "eve"]
    assert [r.at_capacity for r in recs] == [False, True]
    assert recs[1].score == pytest.approx(recs[0].score * RankWeights().capacity_penalty, rel=1e-3)


def test_newer_evidence_wins_when_everything_else_is_equal():
    hits = [
        hit(session("old", mentors=("ana",), when=date(2021, 5, 1))),
        hit(session("new", mentors=("dev",), when=date(2025, 5, 1))),
    ]
    assert ids(rank(hits))[:2] == ["dev", "ana"]
    no_decay = RankWeights(half_life_days=0.0, activity=0.0, topic=0.0)
    assert rank(hits, weights=no_decay)[0].score == rank(hits, weights=no_decay)[1].score


def test_age_is_counted_from_the_latest_session_for_an_old_archive():
    stats = {"ana": PersonStats(last_active=date(2018, 9, 1)), "dev": PersonStats(last_active=date(2018, 3, 1))}
    assert reference_date(stats, today=date(2025, 1, 1)) == date(2018, 9, 1)
    assert reference_date(stats, today=date(2018, 5, 1)) == date(2018, 5, 1)
    assert reference_date({}, today=TODAY) == TODAY


@pytest.mark.parametrize("prior", ["topic", "activity"])
def test_topic_match_and_activity_break_a_tie_between_equal_evidence(prior):
    hits = [hit(session("s1", mentors=("ana",))), hit(session("s2", mentors=("dev",)))]
    stats = {
        "ana": PersonStats(taught_sessions=1, taught_topics={"sql"}),
        "dev": PersonStats(taught_sessions=9, taught_topics={"budgeting"}),
    }
    weights = RankWeights(topic=0.3 if prior == "topic" else 0.0, activity=0.1 if prior == "activity" else 0.0)
    assert ids(rank(hits, stats=stats, weights=weights))[0] == "dev"


def test_lexical_only_passage_gets_the_lowest_dense_score_not_zero():
    s = session("s1", mentors=("ana",))
    hits = [hit(s, lexical=10.0, dense=0.8), hit(s, lexical=0.0, dense=0.3), hit(s, lexical=5.0, dense=0.0)]
    assert passage_relevance(hits, RankWeights()) == pytest.approx([1.8, 0.3, 0.8])


def test_evidence_cites_up_to_three_sessions_with_their_lines_best_first():
    hits = [
        hit(session(f"s{i}", mentors=("ana",)), lexical=10.0 - i, lines=(i + 1, i + 3), text=f"quote {i}")
        for i in range(5)
    ]
    ev = rank(hits)[0].evidence
    assert [e.session_id for e in ev] == ["s0", "s1", "s2"]
    assert [e.lines for e in ev] == [(1, 3), (2, 4), (3, 5)]
    assert [e.quote for e in ev] == ["quote 0", "quote 1", "quote 2"]
    assert all(e.source == f"notes/{e.session_id}.md" and e.date == date(2025, 5, 1) for e in ev)


def test_topics_only_evidence_is_cited_without_quote_title_or_topics_to_outsiders():
    s = session("secret", mentors=("ana",), mentees=("ben",), visibility=Visibility.TOPICS_ONLY)
    hits = [hit(s, text="Salary bands for Nightjar", topics=("salary negotiation",))]
    outsider = rank(hits, viewer=Viewer("cho"), question_topics=())[0]
    assert outsider.evidence[0].quote == "" and outsider.evidence[0].title == ""
    assert outsider.evidence[0].lines == (5, 7)
    assert outsider.topics == ()
    insider = rank(hits, viewer=Viewer("ben"), question_topics=())[0]
    assert insider.evidence[0].quote == "Salary bands for Nightjar"
    assert insider.topics == ("salary negotiation",)


def test_contacts_in_quotes_are_masked_for_non_participants():
    s = session("s1", mentors=("ana",), mentees=("ben",))
    hits = [hit(s, text="Mail ana@corp.example for the template.")]
    assert "ana@corp.example" not in rank(hits, viewer=Viewer("cho"))[0].evidence[0].quote
    assert "ana@corp.example" in rank(hits, viewer=Viewer("ben"))[0].evidence[0].quote


def test_skill_swap_hint_names_what_the_asker_taught_and_the_candidate_learned():
    hits = [hit(session("s1", mentors=("ana",)))]
    stats = {"ben": PersonStats(taught_topics={"tiktok"}), "ana": PersonStats(learned_topics={"tiktok", "sql"})}
    rec = rank(hits, asker="ben", stats=stats)[0]
    assert "tiktok" in rec.skill_swap and "Ana Ruiz" in rec.skill_swap


def test_skill_swap_names_the_first_two_shared_topics_by_name_and_follows_topics_added_later():
    hits = [hit(session("s1", mentors=("ana",)))]
    ben = PersonStats(taught_topics={"sql", "tiktok", "excel", "python"})
    stats = {"ben": ben, "ana": PersonStats(learned_topics={"tiktok", "sql", "python", "rust"})}
    assert rank(hits, asker="ben", stats=stats)[0].skill_swap.startswith("Skill swap: you have taught python, sql,")
    ben.taught_topics.add("figma")  # a later session of ben's adds a topic ana is also learning
    stats["ana"].learned_topics.add("figma")
    assert rank(hits, asker="ben", stats=stats)[0].skill_swap.startswith("Skill swap: you have taught figma, python,")
    stats["ana"] = PersonStats(learned_topics={"rust"})
    assert rank(hits, asker="ben", stats=stats)[0].skill_swap == ""


@pytest.mark.parametrize(
    ("question", "n_topics", "expected"),
    [
        ("who can teach me pivot tables?", 1, "flash"),
        ("how do I grow into a leadership role?", 1, "mentorship"),
        ("budgets, forecasts, variance and headcount?", 4, "mentorship"),
    ],
)
def test_suggested_format(question, n_topics, expected):
    assert suggest_format(question, n_topics).startswith(expected)


def test_build_stats_counts_private_sessions_only_for_their_participants():
    sessions = [
        session("p1", mentors=("ana",), mentees=("ben",), when=date(2025, 5, 1)),
        session("x1", mentors=("ana",), mentees=("cho",), visibility=Visibility.PRIVATE, when=date(2025, 5, 20)),
        session("t1", mentors=("ana",), mentees=("dev",), visibility=Visibility.TOPICS_ONLY),
    ]
    topics = {"p1": {"budgeting"}, "x1": {"acquisition"}, "t1": {"salary negotiation"}}
    outsider = build_stats(sessions, Viewer("fay"), lambda s: topics[s.id], today=TODAY)
    assert outsider["ana"].taught_sessions == 2
    assert outsider["ana"].taught_topics == {"budgeting"}
    assert outsider["ana"].last_active == date(2025, 5, 1)
    insider = build_stats(sessions, Viewer("cho"), lambda s: topics[s.id], today=TODAY)
    assert insider["ana"].taught_sessions == 3
    assert insider["ana"].taught_topics == {"budgeting", "acquisition"}
    assert insider["ana"].current_mentees == {"ben", "cho", "dev"}
    assert insider["cho"].learned_topics == {"acquisition"}


def test_a_participants_statistics_from_the_shared_ones_equal_a_full_count_for_every_viewer():
    import copy
    import random

    rng = random.Random(7)
    names = ["ana", "ben", "cho", "dev", "eve", "fay"]
    sessions = []
    for n in range(60):
        a, b, c = rng.sample(names, 3)
        group = rng.random() < 0.3
        sessions.append(
            session(
                f"s{n}",
                mentors=() if group else (a,),
                mentees=() if group else (b,),
                participants=(a, b, c) if group else (),
                visibility=rng.choice(list(Visibility)),
                when=date(2025, 1 + n % 5, 1 + n % 28),
            )
        )
    topics = {s.id: {f"topic {rng.randrange(12)}", f"topic {rng.randrange(12)}"} for s in sessions}
    shared = build_stats(sessions, Viewer(None), lambda s: topics[s.id], today=TODAY)
    frozen = copy.deepcopy(shared)
    for pid in names:
        own = [s for s in sessions if pid in s.people]
        fast = stats_for_participant(shared, own, lambda s: topics[s.id], today=TODAY)
        full = build_stats(sessions, Viewer(pid), lambda s: topics[s.id], today=TODAY)
        assert fast == full, pid
        assert reference_date(fast, date.max) == reference_date(full, date.max)
        for a in fast:  # what the skill-swap hint intersects
            for b in fast:
                assert fast[a].taught_topics & fast[b].learned_topics == full[a].taught_topics & full[b].learned_topics
                assert len(fast[a].current_mentees) == len(full[a].current_mentees)
    assert shared == frozen  # never changed, its sets included


def test_weights_map_one_to_one_onto_documented_settings():
    names = {f.name for f in fields(Settings)}
    assert set(RankWeights().as_settings()) <= names
    tuned = Settings(weight_mentee=0.0, evidence_sharpness=5.0, person_top_passages=3)
    w = RankWeights.from_settings(tuned)
    assert (w.mentee, w.sharpness, w.top_passages) == (0.0, 5.0, 3)
    assert RankWeights.from_settings(Settings()) == RankWeights()


def test_top_limits_the_number_of_people():
    hits = [hit(session(f"s{p}", mentors=(p,))) for p in ("ana", "cho", "dev", "fay")]
    assert len(rank(hits, top=2)) == 2


def test_a_participants_private_session_can_be_the_latest_activity():
    sessions = [
        session("p1", mentors=("ana",), mentees=("ben",), when=date(2025, 1, 10)),
        session("x1", mentors=("ana",), mentees=("cho",), visibility=Visibility.PRIVATE, when=date(2025, 6, 1)),
    ]
    shared = build_stats(sessions, Viewer(None), lambda s: set(), today=TODAY)
    mine = stats_for_participant(shared, [sessions[1]], lambda s: set(), today=TODAY)
    assert reference_date(shared, date.max) == date(2025, 1, 10)
    assert reference_date(mine, date.max) == date(2025, 6, 1) == mine["cho"].last_active
    assert len(mine) == len(build_stats(sessions, Viewer("cho"), lambda s: set(), today=TODAY))
