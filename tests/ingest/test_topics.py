"""Topic extraction: one contract over the spaCy extractor and the dependency-free fake, plus spaCy specifics."""

from __future__ import annotations

import re

import pytest

from ingest.topics import SimpleTopicExtractor, SpacyTopicExtractor, TopicExtractor, load_extractor
from mentorkb.errors import ModelLoadError
from mentorkb.settings import Settings


@pytest.fixture(scope="session")
def spacy_extractor() -> SpacyTopicExtractor:
    """The real spaCy extractor, loaded once per test session."""
    return SpacyTopicExtractor()


@pytest.fixture(params=[pytest.param("spacy", marks=pytest.mark.real), "simple"])
def extractor(request: pytest.FixtureRequest) -> TopicExtractor:
    """Every TopicExtractor implementation."""
    if request.param == "spacy":
        return request.getfixturevalue("spacy_extractor")
    return SimpleTopicExtractor()


def words_of(phrases: list[str]) -> set[str]:
    return {w for p in phrases for w in re.split(r"[\s/-]+", p)}


def test_one_list_per_text_in_order(extractor: TopicExtractor) -> None:
    result = extractor.extract(["We set up Kubernetes.", "", "Budgets live in Excel."])
    assert len(result) == 3
    assert "kubernetes" in result[0]
    assert result[1] == []
    assert "excel" in result[2]
    assert extractor.extract([]) == []


@pytest.mark.parametrize(
    ("text", "skills"),
    [
        ("We set up Kubernetes and CI/CD pipelines", {"kubernetes", "ci/cd"}),
        ("Our k8s cluster and the gen AI pilot", {"kubernetes", "generative ai"}),
        ("She built the dashboards in PowerBI and Excel.", {"power bi", "excel"}),
        ("We practised public speaking and stakeholder management.", {"public speaking", "stakeholder management"}),
        ("Tips for short-video marketing on TikTok", {"short-video marketing", "tiktok"}),
        ("He explained the GDPR rules and how our OKRs are set.", {"gdpr", "okrs"}),
        ("Checking WCAG before launch is part of accessibility work.", {"wcag", "accessibility"}),
    ],
)
def test_known_skills_found(extractor: TopicExtractor, text: str, skills: set[str]) -> None:
    [topics] = extractor.extract([text])
    assert skills <= set(topics)


def test_phrases_are_normalised(extractor: TopicExtractor) -> None:
    [topics] = extractor.extract(["We reviewed the Budgets and the hiring plans, then our E-Mail Etiquette."])
    assert {"budget", "hiring plan", "e-mail etiquette"} <= set(topics)
    for phrase in topics:
        assert phrase == phrase.lower() == phrase.strip()
        assert phrase.split()[0] not in {"the", "a", "our", "we"}
        assert phrase[-1].isalnum()


def test_names_excluded(extractor: TopicExtractor) -> None:
    text = "Ana Ruiz showed Tom her budgets. Ana's tips on negotiation helped Tom Baker a lot."
    [topics] = extractor.extract([text], exclude={"ana ruiz", "ana", "tom baker", "tom"})
    assert {"budget", "negotiation"} <= set(topics)
    assert not words_of(topics) & {"ana", "ruiz", "tom", "baker"}


def test_stop_phrases_dropped(extractor: TopicExtractor) -> None:
    text = "The meeting was a lot of time well spent, thanks. One thing: the question is the way we do it."
    assert extractor.extract([text]) == [[]]


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "...", "2024", "a b c"])
def test_empty_or_contentless_text_gives_no_topics(extractor: TopicExtractor, text: str) -> None:
    assert extractor.extract([text]) == [[]]


def test_numbers_and_single_characters_dropped(extractor: TopicExtractor) -> None:
    [topics] = extractor.extract(["In 2024 we hired 3 analysts, x and y, for 20% more budget."])
    assert "budget" in topics
    assert all(len(p) > 1 and not re.fullmatch(r"[\d\W]+", p) for p in topics)


@pytest.mark.parametrize(
    ("text", "topic", "expected"),
    [
        ("There is some slack in the plan.", "slack", False),
        ("We moved the chat to Slack.", "slack", True),
        ("The notion of ownership matters.", "notion", False),
        ("Notes live in Notion now.", "notion", True),
        ("My teams are all remote.", "microsoft teams", False),
        ("Calls happen on Teams.", "microsoft teams", True),
    ],
)
def test_tools_named_like_everyday_words_need_their_capital(
    extractor: TopicExtractor, text: str, topic: str, expected: bool
) -> None:
    [topics] = extractor.extract([text])
    assert (topic in topics) is expected


def test_a_person_named_like_a_skill_is_a_person(extractor: TopicExtractor) -> None:
    person, framework = extractor.extract(
        ["Ruby reviewed the budget with me.", "We rewrote the billing service in Ruby on Rails."], exclude={"ruby"}
    )
    assert "ruby" not in person
    assert "budget" in person
    assert "ruby on rails" in framework


# -- spaCy specifics -----------------------------------------------------------------------------------------
@pytest.mark.real
def test_spacy_drops_person_entities_without_exclude(spacy_extractor: SpacyTopicExtractor) -> None:
    [topics] = spacy_extractor.extract(["Barack Obama gave a keynote on leadership and public speaking."])
    assert {"leadership", "public speaking"} <= set(topics)
    assert not words_of(topics) & {"barack", "obama"}


@pytest.mark.real
def test_spacy_keeps_useful_entities_and_trims_dates(spacy_extractor: SpacyTopicExtractor) -> None:
    [topics] = spacy_extractor.extract(
        ["Last week the budget review covered the EU AI Act and our Salesforce rollout."]
    )
    assert {"budget review", "eu ai act", "salesforce"} <= set(topics)
    assert "week" not in words_of(topics)


@pytest.mark.real
def test_spacy_batches_give_the_same_result_as_single_texts(spacy_extractor: SpacyTopicExtractor) -> None:
    texts = [f"Session {i}: budgets, Kubernetes and career planning." for i in range(5)] + ["Figma tips."]
    assert spacy_extractor.extract(texts) == [spacy_extractor.extract([t])[0] for t in texts]


@pytest.mark.real
def test_spacy_runs_only_the_components_extraction_reads(spacy_extractor: SpacyTopicExtractor) -> None:
    assert spacy_extractor.nlp.pipe_names == ["tok2vec", "tagger", "ner"]


@pytest.mark.parametrize(
    "make",
    [lambda: SpacyTopicExtractor("no_such_pipeline"), lambda: load_extractor(Settings(spacy_model="no_such_pipeline"))],
)
def test_missing_spacy_model_says_how_to_fix_it(make: object) -> None:
    with pytest.raises(ModelLoadError) as err:
        make()  # type: ignore[operator]
    message = str(err.value)
    assert "no_such_pipeline" in message
    assert "spacy_model" in message
    assert "MENTORKB_SPACY_MODEL" in message
