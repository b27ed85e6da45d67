"""Canonical topics: many ways of writing a keyphrase, one topic id with a display label and aliases.

Deterministic rules run first (case, punctuation, hyphens and dots, British spelling, plural of
the head noun, the built-in skill and alias tables of `ingest.skills`). `TopicCanon.fit` then
learns merges among observed phrases: spellings that differ only in spaces/hyphens/dots, and, when
an embedding function is given, close variants by cosine similarity. Known skills are never
merged with each other, so "Python" and "Java" stay apart however close their vectors are.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from ingest.skills import ALIASES, CASED, SKILLS
from mentorkb.errors import StoreError
from models import Topic

FORMAT = "mentorkb.topic-canon"
VERSION = 1


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split(":", 1) for item in text.split())


# Words that never start a topic: determiners, possessives, quantifiers and vague time/amount words.
LEADING_WORDS = _wordset(
    """a an the this that these those my your his her its our their some any each every all both either neither
    no another other such what which whose whatever many much few several various more most less least own same
    lot lots kind sort couple bunch certain particular different whole entire next last previous upcoming usual
    actual"""
)

_NUMBER_WORDS = _wordset(
    "zero one two three four five six seven eight nine ten eleven twelve twenty hundred thousand million"
)

# Plural nouns the suffix rules get wrong; mapped to their singular.
_IRREGULAR = _pairs(
    """analyses:analysis crises:crisis diagnoses:diagnosis hypotheses:hypothesis theses:thesis syntheses:synthesis
    emphases:emphasis criteria:criterion phenomena:phenomenon indices:index matrices:matrix appendices:appendix
    vertices:vertex men:man women:woman children:child feet:foot teeth:tooth mice:mouse lives:life wives:wife
    knives:knife halves:half selves:self shelves:shelf movies:movie cookies:cookie selfies:selfie
    rookies:rookie calories:calorie caches:cache niches:niche headaches:headache heroes:hero potatoes:potato
    echoes:echo vetoes:veto quizzes:quiz buses:bus statuses:status bonuses:bonus campuses:campus viruses:virus
    focuses:focus kpis:kpi apis:api uis:ui guis:gui rois:roi cvs:cv"""
)

# Words ending in -s that are not plurals (fields of study, product names, mass nouns).
_INVARIANT = _wordset(
    """kubernetes jenkins pandas sales news series species means lens bias alias atlas canvas chaos kudos
    christmas thanks savings earnings premises headquarters whereas postgres macos saas paas iaas devops
    mlops finops secops devsecops gitops dataops aiops llmops ops analytics ethics economics logistics
    statistics mathematics physics politics geopolitics optics ergonomics electronics robotics genomics
    informatics bioinformatics linguistics aesthetics mechanics semantics athletics acoustics demographics
    graphics basics dynamics forensics diagnostics econometrics tokenomics"""
)

_AMERICAN = _pairs(
    "isation:ization modelling:modeling labelling:labeling behaviour:behavior programme:program centre:center analyse:analyze"
)
_AMERICAN_RE = re.compile(r"isation|\b(?:behaviour|programme|centre)|\b(?:modelling|labelling|analyse)\b")
_BRITISH = (
    (re.compile(r"ization"), "isation"),
    (re.compile(r"\bmodeling\b"), "modelling"),
    (re.compile(r"\blabeling\b"), "labelling"),
    (re.compile(r"\bbehavior"), "behaviour"),
    (re.compile(r"\bprogram\b"), "programme"),
    (re.compile(r"\bcenter"), "centre"),
)

_PUNCT_MAP = str.maketrans(
    "\u2010\u2011\u2012\u2013\u2014\u2212\u2018\u2019\u201c\u201d", "------''\"\""
)  # dashes, quotes
_LEAD = re.compile(r"^(?:[^\w.]|_|\.(?!\w))+")  # keeps the dot of ".NET"
_TAIL = re.compile(r"(?:[^\w+#]|_)+$")  # keeps "C++" and "C#"
_SPACE = re.compile(r"\s+")
_SLASH = re.compile(r"\s*/\s*")
_POSSESSIVE = re.compile(r"'s?$")
_FOLD = re.compile(r"[\s\-_/]+|(?<=\w)\.(?=\w)")
_DIGITS = re.compile(r"\d+")
_MEMO_LIMIT = 200_000
_WORD = re.compile(r"[^\W_]+")
_FUNCTION_WORDS = _wordset("of the a an and or for with to in on at by from into about as vs via per")
_NUMERAL = re.compile(r"[$€£#+-]?\d[\d.,:%]*(st|nd|rd|th|s|k|m|bn)?")


def singular_word(word: str) -> str:
    """The singular of a lower-case English noun by suffix rules; words that are not plurals come back as is."""
    if "-" in word:  # "one-on-ones", "check-ins": only the last part inflects
        head, _, last = word.rpartition("-")
        if len(last) == 3 and last.isalpha() and last.endswith("s") and not last.endswith("ss"):
            return f"{head}-{last[:-1]}"  # "check-ins", "follow-ups": too short for the rules below
        return f"{head}-{singular_word(last)}" if last else word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha() or word in _INVARIANT or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-1] if len(word) <= 4 else word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def plural_word(word: str) -> str:
    """The regular plural of a lower-case singular noun (used to widen skill match patterns)."""
    if "-" in word:
        head, _, last = word.rpartition("-")
        return f"{head}-{plural_word(last)}" if last else word
    if len(word) <= 2 or not word.isalpha() or word.endswith(("s", "ing")) or word in _INVARIANT:
        return word
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("ch", "sh", "x", "z")):
        return word + "es"
    return word + "s"


def _last_word(phrase: str, fn: Callable[[str], str]) -> str:
    head, sep, last = phrase.rpartition(" ")
    return f"{head}{sep}{fn(last)}"


def clean_surface(phrase: str) -> str:
    """A phrase as it should be displayed: unified punctuation and spacing, no leading determiner or number."""
    text = unicodedata.normalize("NFKC", phrase).translate(_PUNCT_MAP)
    words = _trim(_SLASH.sub("/", _SPACE.sub(" ", text))).split(" ")
    while words and (words[0].lower() in LEADING_WORDS or is_number(words[0])):
        words.pop(0)
    return _trim(_POSSESSIVE.sub("", _trim(" ".join(words))))


def _trim(text: str) -> str:
    return _TAIL.sub("", _LEAD.sub("", text))


def is_number(word: str) -> bool:
    """True for numerals, number words, ordinals and amounts ("3", "2024", "twenty", "5th", "10k")."""
    w = word.lower()
    return w in _NUMBER_WORDS or bool(_NUMERAL.fullmatch(w))


def normalise(phrase: str) -> str:
    """The lookup key of a phrase: cleaned, lower-cased, American spelling (plural left as written)."""
    return _AMERICAN_RE.sub(lambda m: _AMERICAN[m.group(0)], clean_surface(phrase).lower())


def content_words(key: str) -> frozenset[str]:
    """The singular content words of a key ("negotiation with hauliers" -> negotiation, haulier)."""
    return frozenset(singular_word(w) for w in _WORD.findall(key) if w not in _FUNCTION_WORDS)


def fold(key: str) -> str:
    """Key with spaces, hyphens, slashes and inner dots removed: "e-mail", "e mail" and "email" coincide."""
    return _FOLD.sub("", key)


def _british(key: str) -> str:
    for pattern, repl in _BRITISH:
        key = pattern.sub(repl, key)
    return key


def skill_surfaces(extra_aliases: Mapping[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(lower-case surface -> topic id, exact-case surface -> topic id) for every built-in skill and alias.

    Lower-case surfaces include singular, plural and British forms, so a matcher built from them finds
    "design system", "code reviews" and "organisational design". Exact-case surfaces are skills whose
    name is also an everyday word ("Slack", "Teams"): they match only when written that way.
    """
    ids = {label.lower(): label.lower() for label in SKILLS}
    pairs: list[tuple[str, str]] = [(label.lower(), label.lower()) for label in SKILLS]
    pairs += [(variant.lower(), target.lower()) for variant, target in ALIASES.items()]
    for variant, target in (extra_aliases or {}).items():
        target_id = ids.get(target.lower()) or _last_word(normalise(target), singular_word)
        pairs.append((normalise(variant), target_id))
        pairs.append((target_id, target_id))
    everyday = {surface.lower() for surface in CASED if " " not in surface}  # "slack", "teams": cased only
    lower: dict[str, str] = {}
    for surface, topic_id in pairs:
        if surface in everyday:
            continue
        forms = {surface, _last_word(surface, singular_word), _last_word(surface, plural_word)}
        for form in forms | {_british(f) for f in forms}:
            if lower.setdefault(form, topic_id) != topic_id and form == surface:
                raise ValueError(f"skill surface {form!r} maps to both {lower[form]!r} and {topic_id!r}")
    cased = {surface: target.lower() for surface, target in CASED.items()}
    return lower, cased


class TopicCanon:
    """Maps keyphrase variants to one canonical topic id with aliases."""

    def __init__(
        self,
        *,
        aliases: Mapping[str, str] | None = None,
        embed: Callable[[Sequence[str]], np.ndarray] | None = None,
        threshold: float = 0.9,
    ) -> None:
        """Built-in skills and aliases always apply; `aliases` (variant -> preferred form) adds to them.

        Args:
            aliases: extra variant -> preferred label pairs (the preferred label becomes a known topic).
            embed: texts -> unit vectors; enables merging close variants in `fit`. None = rules only.
            threshold: cosine similarity at or above which two eligible phrases merge.
        """
        self.threshold = threshold
        self._embed = embed
        self._extra = {str(k): str(v) for k, v in (aliases or {}).items()}
        self._known, self._cased = skill_surfaces(self._extra)
        self._known_fold: dict[str, str] = {}
        for surface, topic_id in self._known.items():
            self._known_fold.setdefault(fold(surface), topic_id)
        # learned state (persisted by to_json)
        self._variants: dict[str, str] = {}  # observed key -> topic id, where they differ
        self._surfaces: dict[str, Counter[str]] = {}  # topic id -> display forms seen, with counts
        self._learned_fold: dict[str, str] = {}
        self._vectors: dict[str, np.ndarray] = {}  # embedding cache, not persisted
        self._memo: dict[str, str] = {}  # canonical() results; cleared whenever learned state changes
        self._labels = {label.lower(): label for label in SKILLS}
        for target in self._extra.values():
            self._labels.setdefault(self.canonical(target), target)
        self._hand_aliases: dict[str, set[str]] = {}
        for variant, target in [*ALIASES.items(), *self._extra.items()]:
            self._hand_aliases.setdefault(self.canonical(target), set()).add(variant.lower())

    # -- mapping --------------------------------------------------------------------------------------------
    def canonical(self, phrase: str) -> str:
        """Topic id (normalised key) for one phrase, using known aliases, lemma rules and learned merges.

        Returns "" when nothing topical remains (only determiners, numbers or punctuation).
        """
        if phrase in self._memo:
            return self._memo[phrase]
        if len(self._memo) > _MEMO_LIMIT:
            self._memo.clear()
        self._memo[phrase] = topic_id = self._canonical(phrase)
        return topic_id

    def _canonical(self, phrase: str) -> str:
        raw = _SPACE.sub(" ", phrase.strip())
        exact = self._cased.get(raw) or self._known.get(raw.lower())  # before stripping: "six sigma"
        if exact:
            return exact
        key = normalise(phrase)
        if not key:
            return ""
        singular = _last_word(key, singular_word)
        for candidate in (key, singular):
            found = self._lookup(candidate)
            if found:
                return self._resolve(found)
        return singular

    def _lookup(self, key: str) -> str | None:
        folded = fold(key)
        return (
            self._known.get(key)
            or self._variants.get(key)
            or self._known_fold.get(folded)
            or self._learned_fold.get(folded)
        )

    def _resolve(self, topic_id: str) -> str:
        # A topic merged away later keeps pointing at its old id; follow the chain to the live one.
        seen = {topic_id}
        while topic_id in self._variants and self._variants[topic_id] not in seen:
            topic_id = self._variants[topic_id]
            seen.add(topic_id)
        return topic_id

    def is_known(self, topic_id: str) -> bool:
        """True for built-in skills and the targets of configured aliases."""
        return topic_id in self._labels

    # -- learning -------------------------------------------------------------------------------------------
    def fit(self, phrases: Iterable[str]) -> None:
        """Learn topics and merges from observed phrases (extracted keyphrases and front-matter tags).

        Can be called again with later batches: existing topic ids never change, new phrases join them.
        """
        counts = Counter(clean_surface(p) for p in phrases)
        self._memo.clear()  # results cached before this fit may not know the topics it learns
        new_ids: list[str] = []
        for surface, n in counts.items():
            topic_id = self.canonical(surface)
            if not topic_id:
                continue
            if topic_id not in self._surfaces:
                self._surfaces[topic_id] = Counter()
                self._learned_fold.setdefault(fold(topic_id), topic_id)
                new_ids.append(topic_id)
            self._surfaces[topic_id][surface] += n
            key = _last_word(normalise(surface), singular_word)
            if key != topic_id and key not in self._known and surface not in self._cased:
                self._variants[key] = topic_id
                self._learned_fold.setdefault(fold(key), topic_id)
        if self._embed is not None and new_ids:
            self._merge_by_embedding(new_ids)
        self._memo.clear()

    def _eligible(self, topic_id: str) -> bool:
        # Single-word skills have hand-written aliases; embeddings confuse them ("python" ~ "pytorch").
        return not self.is_known(topic_id) or " " in topic_id

    def _may_merge(self, new: str, into: str) -> bool:
        if self.is_known(new):  # a skill never disappears into an unknown phrase, nor into another skill
            return False
        if not content_words(new) & content_words(into):  # variants share a word; neighbours need not
            return False
        return sorted(_DIGITS.findall(new)) == sorted(_DIGITS.findall(into))  # "q3 planning" != "q4 planning"

    def _merge_by_embedding(self, new_ids: list[str]) -> None:
        fresh = set(new_ids)
        new = sorted(
            (t for t in new_ids if self._eligible(t) and t in self._surfaces),
            key=lambda t: (not self.is_known(t), -sum(self._surfaces[t].values()), t),
        )
        if not new:
            return
        # Only older topics sharing a word with a new one can absorb it: embed just those (a reloaded
        # canon would otherwise embed every topic it knows on its first fit).
        wanted = set().union(*(content_words(t) for t in new))
        old = [t for t in self._surfaces if t not in fresh and self._eligible(t) and content_words(t) & wanted]
        order = old + new
        vectors = self._vectors_for(order)
        is_rep = np.ones(len(order), dtype=bool)
        block = 512
        for start in range(len(old), len(order), block):
            stop = min(start + block, len(order))
            sims = vectors[start:stop] @ vectors[:stop].T
            for row, i in enumerate(range(start, stop)):
                earlier = sims[row, :i]
                hits = np.flatnonzero(earlier >= self.threshold)
                for j in hits[np.argsort(-earlier[hits], kind="stable")]:
                    if is_rep[j] and self._may_merge(order[i], order[j]):
                        is_rep[i] = False
                        self._absorb(order[i], into=order[j])
                        break

    def _vectors_for(self, topic_ids: list[str]) -> np.ndarray:
        assert self._embed is not None
        missing = [t for t in topic_ids if t not in self._vectors]
        if missing:
            embedded = np.asarray(self._embed(missing), dtype=np.float32)
            if embedded.shape[0] != len(missing):
                raise ValueError(f"embed returned {embedded.shape[0]} vectors for {len(missing)} texts")
            norms = np.linalg.norm(embedded, axis=1, keepdims=True)
            self._vectors.update(zip(missing, embedded / np.maximum(norms, 1e-12), strict=True))
        return np.vstack([self._vectors[t] for t in topic_ids])

    def _absorb(self, source: str, *, into: str) -> None:
        self._memo.clear()
        self._surfaces[into].update(self._surfaces.pop(source))
        self._variants[source] = into  # older variants of `source` reach `into` through _resolve

    # -- reading --------------------------------------------------------------------------------------------
    def label(self, topic_id: str) -> str:
        """Display label: the skill list's preferred form, else the most frequent surface form seen."""
        if topic_id in self._labels:
            return self._labels[topic_id]
        seen = self._surfaces.get(topic_id)
        return seen.most_common(1)[0][0] if seen else topic_id

    def topics(self) -> list[Topic]:
        """Every observed topic, most frequent first, with the variants merged into it."""
        variants: dict[str, set[str]] = {}
        for key in self._variants:
            variants.setdefault(self._resolve(key), set()).add(key)
        ranked = sorted(self._surfaces, key=lambda t: (-sum(self._surfaces[t].values()), t))
        out = []
        for topic_id in ranked:
            aliases = (variants.get(topic_id, set()) | self._hand_aliases.get(topic_id, set())) - {topic_id}
            out.append(Topic(id=topic_id, label=self.label(topic_id), aliases=tuple(sorted(aliases))))
        return out

    # -- persistence ----------------------------------------------------------------------------------------
    def to_json(self) -> str:
        """Serialise what was learned (not the embedding function) for the caller to store."""
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "threshold": self.threshold,
                "aliases": self._extra,
                "variants": self._variants,
                "surfaces": {t: dict(c) for t, c in self._surfaces.items()},
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, s: str, *, embed: Callable[[Sequence[str]], np.ndarray] | None = None) -> TopicCanon:
        """Rebuild a canon saved by `to_json`; `embed` re-enables embedding merges for later fits."""
        fix = "rebuild the topic table by re-ingesting the notes (`mentorkb ingest PATH`)"
        try:
            data = json.loads(s)
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"saved topic table is not valid JSON ({exc.msg} at char {exc.pos})", field="topic canon", fix=fix
            ) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StoreError("saved topic table is not a mentorkb topic canon", field="topic canon", fix=fix)
        if data.get("version") != VERSION:
            raise StoreError(
                f"saved topic table has version {data.get('version')}, this mentorkb reads {VERSION}",
                field="topic canon",
                fix=fix,
            )
        try:
            canon = cls(aliases=data["aliases"], embed=embed, threshold=float(data["threshold"]))
            canon._variants = {str(k): str(v) for k, v in data["variants"].items()}
            canon._surfaces = {
                str(t): Counter({str(k): int(v) for k, v in c.items()}) for t, c in data["surfaces"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"saved topic table is damaged ({exc!r})", field="topic canon", fix=fix) from exc
        for topic_id in canon._surfaces:
            canon._learned_fold.setdefault(fold(topic_id), topic_id)
        for key, target in canon._variants.items():
            canon._learned_fold.setdefault(fold(key), target)
        canon._memo.clear()
        return canon
