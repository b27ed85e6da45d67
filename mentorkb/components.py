"""Name -> factory registries for the swappable components (config picks by name; tests pass instances).

`embedder_model = "hashing"` and `spacy_model = "simple"` select the dependency-free implementations, which
double as the fast fakes in tests; any other value is a model name or folder for the real implementation.
"""

from __future__ import annotations

from collections.abc import Callable

from index.embedder import Embedder
from ingest.topics import TopicExtractor
from mentorkb.settings import Settings


def _hashing(settings: Settings) -> Embedder:
    from index.embedder import HashingEmbedder

    return HashingEmbedder()


def _sentence_transformers(settings: Settings) -> Embedder:
    from index.embedder import load_embedder

    return load_embedder(settings)


def _simple(settings: Settings) -> TopicExtractor:
    from ingest.topics import SimpleTopicExtractor

    return SimpleTopicExtractor()


def _spacy(settings: Settings) -> TopicExtractor:
    from ingest.topics import load_extractor

    return load_extractor(settings)


EMBEDDERS: dict[str, Callable[[Settings], Embedder]] = {"hashing": _hashing}
EXTRACTORS: dict[str, Callable[[Settings], TopicExtractor]] = {"simple": _simple}
INDEX_BACKENDS = ("faiss", "numpy")


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by settings.embedder_model (a registered name, else a sentence-transformers model)."""
    return EMBEDDERS.get(settings.embedder_model, _sentence_transformers)(settings)


def make_extractor(settings: Settings) -> TopicExtractor:
    """The topic extractor named by settings.spacy_model (a registered name, else a spaCy pipeline)."""
    return EXTRACTORS.get(settings.spacy_model, _spacy)(settings)
