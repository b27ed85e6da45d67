"""Pure cluster functions: clusterers, stable ids, merges, c-TF-IDF labels, secrecy, asks, gaps, map."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from recommend import clusters as cl


def _blobs(sizes: tuple[int, ...] = (8, 8, 8), dim: int = 16, noise: float = 0.05, seed: int = 0):
    """Unit vectors scattered tightly around orthogonal directions, with their true group."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for g, n in enumerate(sizes):
        centre = np.zeros(dim)
        centre[g] = 1.0
        rows.append(centre + noise * rng.standard_normal((n, dim)))
        truth += [g] * n
    return cl.unit_rows(np.vstack(rows)), np.asarray(truth)


@pytest.mark.parametrize("name", sorted(cl.CLUSTERERS))
def test_every_clusterer_recovers_well_separated_groups(name):
    x, truth = _blobs()
    labels = cl.attach_noise(x, cl.make_clusterer(name).fit_predict(x))
    assert adjusted_rand_score(truth, labels) == 1.0


@pytest.mark.parametrize("name", sorted(cl.CLUSTERERS))
@pytest.mark.parametrize("n", [0, 1, 2])
def test_every_clusterer_copes_with_tiny_inputs(name, n):
    x, _ = _blobs((n,)) if n else (np.zeros((0, 16), np.float32), None)
    labels = cl.make_clusterer(name).fit_predict(x)
    assert labels.shape == (n,) and (labels >= -1).all()


def test_unknown_clusterer_names_the_choices():
    with pytest.raises(ValueError, match="agglomerative"):
        cl.make_clusterer("spectral")


def test_attach_noise_gives_noise_rows_the_nearest_cluster():
    x, truth = _blobs((5, 5))
    labels = truth.copy()
    labels[[0, 7]] = -1
    assert cl.attach_noise(x, labels).tolist() == truth.tolist()


def test_mean_vectors_are_unit_length_and_skip_empty_groups():
    keys, mat = cl.mean_vectors(
        {"b": [np.array([3.0, 0.0]), np.array([0.0, 3.0])], "a": [np.array([0.0, 2.0])], "c": []}
    )
    assert keys == ["a", "b"]
    assert np.allclose(np.linalg.norm(mat, axis=1), 1.0)
    assert np.allclose(mat[1], [2**-0.5, 2**-0.5])


def _stored(cid: str, members: str, centroid: tuple[float, ...] = (1.0, 0.0)) -> cl.StoredCluster:
    return cl.StoredCluster(cid, tuple(members), centroid)


OLD = [_stored("c1", "abcd", (1.0, 0.0)), _stored("c2", "efgh", (0.0, 1.0))]
EAST, NORTH, ELSEWHERE = (1.0, 0.0), (0.0, 1.0), (0.6, 0.8)  # ELSEWHERE is within cosine 0.92 of neither


@pytest.mark.parametrize(
    ("members", "centroids", "expected"),
    [
        (["efgh", "abcd"], [NORTH, EAST], ["c2", "c1"]),  # same clusters, other order: ids follow the members
        (["abcdx", "efghy"], [EAST, NORTH], ["c1", "c2"]),  # new sessions joined both
        (["abcd", "efgh", "xyz"], [EAST, NORTH, ELSEWHERE], ["c1", "c2", "c3"]),  # a new cluster: fresh id
        (["abc", "d", "efgh"], [EAST, EAST, NORTH], ["c1", "c3", "c2"]),  # a split: the larger part keeps the id
        (["xyz"], [ELSEWHERE], ["c3"]),  # nothing in common: fresh id
        (["xyz"], [EAST], ["c1"]),  # other sessions, but in the very same place: the same topic
    ],
)
def test_match_ids_keeps_ids_of_matching_clusters(members, centroids, expected):
    ids, next_id = cl.match_ids(OLD, [set(m) for m in members], np.asarray(centroids), next_id=3)
    assert ids == expected
    assert next_id == 3 + sum(1 for i in expected if i not in {"c1", "c2"})


def test_match_ids_ignores_deleted_sessions_when_measuring_overlap():
    ids, _ = cl.match_ids([_stored("c1", "abcdefgh")], [set("ab")], np.asarray([[0.0, 1.0]]), next_id=2)
    assert ids == ["c2"]  # 2 of 8 members: not the same cluster
    ids, _ = cl.match_ids(
        [_stored("c1", "abcdefgh")], [set("ab")], np.asarray([[0.0, 1.0]]), next_id=2, alive=set("abxy")
    )
    assert ids == ["c1"]  # the other six were deleted: what is left is all still together


@pytest.mark.parametrize(
    ("cid", "merges", "expected"),
    [
        ("c1", {}, "c1"),
        ("c2", {"c2": "c1"}, "c1"),
        ("c3", {"c3": "c2", "c2": "c1"}, "c1"),
        ("c1", {"c1": "c2", "c2": "c1"}, "c2"),  # a cycle stops instead of looping
    ],
)
def test_resolve_follows_merge_chains(cid, merges, expected):
    assert cl.resolve(cid, merges) == expected


def test_apply_merges_unions_members_and_remembers_what_was_merged():
    groups = cl.apply_merges([_stored("c1", "ab"), _stored("c2", "cd"), _stored("c3", "e")], {"c2": "c1"})
    assert [(g.id, g.members, g.merged) for g in groups] == [("c1", list("abcd"), ["c2"]), ("c3", ["e"], [])]


def test_class_tfidf_prefers_distinctive_topics_over_shared_ones():
    docs = {
        "x": Counter({"budgeting": 5, "meeting": 5}),
        "y": Counter({"prompting": 4, "meeting": 5}),
        "z": Counter({"tiktok": 3, "meeting": 5, "one-off": 1}),
    }
    scored = cl.class_tfidf(docs)
    assert [t for t, _ in scored["x"]] == ["budgeting", "meeting"]
    assert scored["z"][0][0] == "tiktok"
    assert "one-off" not in {t for t, _ in cl.class_tfidf(docs, min_count=2)["z"]}


def test_class_tfidf_of_empty_classes_is_empty():
    assert cl.class_tfidf({"x": Counter()}) == {"x": []}


def test_keyphrases_skip_people_secrets_and_repeats():
    scored = [("priya", 9.0), ("project nightjar", 8.0), ("forecast", 7.0), ("rolling forecast", 6.5), ("budget", 6.0)]
    labels = {"forecast": "forecast", "rolling forecast": "rolling forecast"}
    got = cl.keyphrases(scored, labels=labels, stop={"priya"}, secret={"nightjar"}, top=3)
    assert got == ["forecast", "budget"]  # "rolling forecast" repeats "forecast"; only 2 survive


@pytest.mark.parametrize(
    ("phrase", "shown"),
    [("Project Nightjar", False), ("nightjars", False), ("due diligence", True), ("Rust", True)],
)
def test_a_word_found_only_in_unreadable_notes_is_secret(phrase, shown):
    secret = cl.secret_words(
        ["We reviewed the due diligence checklist."], ["Project Nightjar: due diligence on the target."]
    )
    assert cl.is_shown(phrase, secret) is shown


@pytest.mark.parametrize(
    ("name", "phrases", "expected"),
    [
        ("Money matters", [("budgeting", 1.0)], "Money matters"),
        (
            "",
            [("budgeting", 1.0), ("forecasting", 0.9), ("variance", 0.6), ("capex", 0.5)],
            "budgeting, forecasting, variance",
        ),
        ("", [("python automation", 1.0), ("file", 0.4), ("row", 0.3)], "python automation"),  # weak phrases left out
        ("", [], "unlabelled (no sessions you may read)"),
    ],
)
def test_cluster_label_is_a_name_or_keyphrases_never_a_number(name, phrases, expected):
    assert cl.cluster_label(name, phrases) == expected


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_map_2d_gives_every_cluster_a_point_in_the_unit_square(n):
    x, _ = _blobs((n,), dim=8) if n else (np.zeros((0, 8)), None)
    xy = cl.map_2d(x)
    assert xy.shape == (n, 2)
    assert np.abs(xy).max(initial=0.0) <= 1.0 + 1e-9
    assert np.array_equal(xy, cl.map_2d(x))


def test_map_2d_keeps_distant_clusters_apart():
    x, _ = _blobs((1, 1, 1), dim=8, noise=0.0)
    x = np.vstack([x[0], x[0] * 0.99 + x[1] * 0.01, x[2]])
    xy = cl.map_2d(cl.unit_rows(x))
    assert np.linalg.norm(xy[0] - xy[1]) < np.linalg.norm(xy[0] - xy[2])


def test_monthly_trend_fills_empty_months_across_a_year_end():
    trend = cl.monthly_trend([date(2024, 11, 3), date(2025, 2, 1), date(2024, 11, 20)])
    assert trend == (("2024-11", 2), ("2024-12", 0), ("2025-01", 0), ("2025-02", 1))
    assert cl.monthly_trend([]) == ()


@pytest.mark.parametrize(
    ("text", "topics", "turn", "taught", "asked"),
    [
        ("Open question: does anyone here know Rust? Parked.", ["rust"], False, set(), {"rust"}),
        (
            "I asked whether anyone can help with carbon accounting.",
            ["carbon accounting"],
            False,
            set(),
            {"carbon accounting"},
        ),
        (
            "Nobody in the room knew about post-quantum encryption.",
            ["post-quantum encryption"],
            False,
            set(),
            {"post-quantum encryption"},
        ),
        ("Priya showed the prompt library. Nobody had seen it.", ["prompt library"], False, {"prompt library"}, set()),
        ("Build the forecast from drivers.", ["forecast"], False, {"forecast"}, set()),
        ("How do I build a forecast?", ["forecast"], True, set(), {"forecast"}),  # a mentee's transcript turn
    ],
)
def test_split_taught_asked(text, topics, turn, taught, asked):
    assert cl.split_taught_asked(text, topics, asked_turn=turn) == (taught, asked)


def _stats() -> dict[str, cl.TopicStats]:
    stats: dict[str, cl.TopicStats] = {}
    for sid in ("s1", "s2", "s3"):
        cl.add_taught(stats, "customs", sid, date(2025, 1, int(sid[1])), ["henrik"])
        cl.add_taught(stats, "budgeting", sid, date(2025, 2, 1), ["helena", f"t{sid}"])
    cl.add_taught(stats, "sap", "s4", date(2025, 3, 1), ["bogdan"])
    cl.add_asked(stats, "rust", "s5", ["sam"])
    cl.add_asked(stats, "rust", "s6", ["nadia"])
    cl.add_asked(stats, "kotlin", "s6", ["nadia"])
    cl.add_asked(stats, "customs", "s6", ["ravi"])
    cl.add_asked(stats, "customs", "s7", ["liam"])
    stats["quantum"] = cl.TopicStats(questions={1, 2, 3})
    return stats


def test_gaps_are_asked_topics_nobody_teaches_most_wanted_first():
    assert [t for t, _, _ in cl.gap_topics(_stats())] == ["quantum", "rust"]
    assert [t for t, _, _ in cl.gap_topics(_stats(), max_teachers=1)] == ["quantum", "rust", "customs"]
    assert [t for t, _, _ in cl.gap_topics(_stats(), min_demand=1)] == ["quantum", "rust", "kotlin"]


def test_a_subject_asked_in_different_words_is_one_gap():
    stats: dict[str, cl.TopicStats] = {}
    cl.add_asked(stats, "post-quantum encryption", "s1", ["ines"])
    cl.add_asked(stats, "quantum-safe encryption", "s2", ["robert"])
    cl.add_asked(stats, "open question", "s1", ["ines"])
    cl.add_asked(stats, "open question", "s2", ["robert"])
    cl.add_taught(stats, "encryption", "s3", date(2025, 1, 1), ["nadia"])  # taught: not folded into the gap
    (topic, merged, variants), *rest = cl.gap_topics(stats)
    assert rest == [] and topic == "post-quantum encryption" and variants == ["quantum-safe encryption"]
    assert merged.demand == 2 and merged.askers == {"ines", "robert"} and not merged.teachers


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("quantum", "post-quantum encryption", True),
        ("quantum-safe encryption", "post-quantum encryption", True),
        ("carbon accounting", "accounting", True),
        ("optimiser team", "data team", False),
        ("rust", "trust", False),
    ],
)
def test_related_topic_phrases(a, b, expected):
    assert cl.related(a, b) is expected


def test_at_risk_topics_have_one_or_two_teachers_and_repeated_sessions():
    stats = _stats()
    got = cl.at_risk_topics(stats, {"customs", "budgeting", "sap", "rust"})
    assert [t for t, _ in got] == ["customs"]  # sap: one session only; budgeting: 4 teachers; rust: none
    assert got[0][1].last_taught == date(2025, 1, 3)
    assert [t for t, _ in cl.at_risk_topics(stats, {"customs", "sap"}, min_sessions=1)] == ["customs", "sap"]


@pytest.mark.parametrize(
    ("teachers", "learners", "expected"),
    [
        ({"priya": 2, "sam": 2}, {"margaret": 8, "helena": 7}, (2.0, 7.5, ["priya", "sam"], ["margaret", "helena"])),
        ({"helena": 7}, {"ben": 3}, None),
        ({}, {"ben": 3}, None),
    ],
)
def test_reverse_score_finds_juniors_teaching_seniors(teachers, learners, expected):
    assert cl.reverse_score(teachers, learners) == expected


def test_questions_match_clusters_by_topic_or_nearest_centroid():
    centroids = np.eye(3, dtype=np.float32)
    qvecs = np.asarray([[0.9, 0.1, 0.0], [0.2, 0.2, 0.2], [0.0, 0.0, 1.0]], dtype=np.float32)
    got = cl.match_questions([["rust"], ["budgeting"], []], cl.unit_rows(qvecs), [["budgeting"], [], []], centroids)
    assert got == [{0}, {0}, {2}]  # the second is near nothing, but shares a topic with cluster 0


@pytest.mark.parametrize(
    ("labels", "expected"),
    [([0, 0, 1, 1], 1.0), ([0, 1, 0, 1], 0.0), ([0, 0, 0, 0], 0.5)],
)
def test_pairwise_tag_f1(labels, expected):
    tags = [{"a"}, {"a"}, {"b"}, {"b"}]
    assert cl.pairwise_tag_f1(labels, tags) == pytest.approx(expected)


def test_quality_rewards_the_clustering_that_follows_the_tags():
    x, truth = _blobs((6, 6))
    tags = [{f"tag{g}"} for g in truth]
    good, bad = cl.quality(x, truth, tags), cl.quality(x, np.arange(12) % 2, tags)
    assert good.nmi == 1.0 and good.tag_f1 == 1.0 and good.silhouette > 0.8
    assert bad.nmi < 0.2 and bad.silhouette < 0


def test_majority_labels_turn_passage_clusters_into_session_clusters():
    got = cl.majority_labels([0, 0, 1, 1, 1, -1], ["s1", "s1", "s1", "s2", "s2", "s3"], ["s1", "s2", "s3"])
    assert got.tolist() == [0, 1, -1]


def test_stored_cluster_round_trips_through_json():
    c = _stored("c4", "ab", (0.25, -0.5))
    assert cl.StoredCluster.from_json(c.to_json()) == c


def _two_topics_four_subgroups():
    """Two tagged topics, each made of two tight sub-groups (say, two mentor pairs on one subject)."""
    rng = np.random.default_rng(0)
    rows, tags = [], []
    for g in range(2):
        for sub in range(2):
            centre = np.zeros(16)
            centre[g], centre[2 + 2 * g + sub] = 1.0, 0.7
            rows.append(centre + 0.04 * rng.standard_normal((6, 16)))
            tags += [{f"topic{g}"}] * 6
    return cl.unit_rows(np.vstack(rows)), tags


def test_tags_choose_the_number_of_clusters_among_sound_ones():
    x, tags = _two_topics_four_subgroups()
    clusterer = cl.AgglomerativeClusterer()
    assert len(set(clusterer.fit_predict(x).tolist())) == 4  # silhouette alone splits the sub-groups
    labels = clusterer.fit_predict(x, cl.tag_aware_score(x, tags))
    assert cl.pairwise_tag_f1(labels.tolist(), tags) == 1.0


def test_untagged_items_fall_back_to_silhouette():
    x, tags = _two_topics_four_subgroups()
    mostly_untagged = [t if i < 3 else set() for i, t in enumerate(tags)]
    labels = cl.AgglomerativeClusterer().fit_predict(x, cl.tag_aware_score(x, mostly_untagged))
    assert len(set(labels.tolist())) == 4


@pytest.mark.parametrize("seed", range(4))
def test_silhouette_agrees_with_scikit_learn(seed):
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    x = cl.unit_rows(rng.standard_normal((30, 8)))
    labels = rng.integers(0, 4, size=30)
    labels[0] = 5  # a singleton cluster
    assert cl.cosine_silhouette(x, labels) == pytest.approx(silhouette_score(x, labels, metric="cosine"), abs=1e-6)


def test_topic_matrix_keeps_shared_topics_and_weighs_rare_ones_up():
    docs = [["rust", "meeting"], ["rust", "meeting"], ["meeting", "budget"], ["meeting", "once"]]
    m = cl.topic_matrix(docs)
    assert m.shape == (4, 2)  # "budget" and "once" occur in one doc only
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0)
    assert float(m[0] @ m[1]) == pytest.approx(1.0) and float(m[0] @ m[2]) < 0.6
    assert cl.topic_matrix([["a"], ["b"]]).shape == (2, 0)


def test_with_topics_puts_topics_beside_the_embedding():
    emb = cl.unit_rows(np.asarray([[1.0, 0.0], [1.0, 0.1]]))
    topics = np.asarray([[1.0, 0.0], [0.0, 1.0]])
    assert np.allclose(cl.with_topics(emb, topics, 0.0), emb)
    both = cl.with_topics(emb, topics, 1.0)
    assert both.shape == (2, 4) and float(both[0] @ both[1]) < float(emb[0] @ emb[1])


def test_quality_reports_sessions_stranded_in_tiny_clusters():
    x, truth = _blobs((6, 6))
    labels = truth.copy()
    labels[:2] = 7  # two items split off as a pair
    assert cl.quality(x, labels, [{"t"}] * 12).small == pytest.approx(2 / 12, abs=1e-4)
