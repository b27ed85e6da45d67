"""The Embedder contract, run over the hashing fake and the real sentence-transformers model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index import embedder as embedder_module
from index.embedder import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    cpu_has_native_bf16,
    default_model_path,
    load_embedder,
    mean_cosine,
)
from mentorkb.errors import ModelLoadError, SettingsError
from mentorkb.settings import Settings

TEXTS = [
    "How do I prepare a quarterly budget forecast?",
    "Kubernetes pods keep restarting after the deploy.",
    "She gave me feedback on my first conference talk.",
    "",
    "ok",
]

EMBEDDERS = [
    pytest.param("fake_embedder", id="hashing"),
    pytest.param("real_embedder", id="sentence-transformers", marks=pytest.mark.real),
]


@pytest.fixture(params=EMBEDDERS)
def embedder(request: pytest.FixtureRequest) -> Embedder:
    return request.getfixturevalue(request.param)


def test_encode_returns_unit_float32_rows_of_the_declared_dim(embedder: Embedder) -> None:
    out = embedder.encode(TEXTS)
    assert out.shape == (len(TEXTS), embedder.dim)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_encode_of_nothing_is_an_empty_matrix(embedder: Embedder) -> None:
    out = embedder.encode([])
    assert out.shape == (0, embedder.dim)
    assert out.dtype == np.float32


def test_encode_is_deterministic_and_independent_of_batch_neighbours(embedder: Embedder) -> None:
    first = embedder.encode(TEXTS)
    np.testing.assert_array_equal(first, embedder.encode(TEXTS))
    alone = embedder.encode([TEXTS[0]])
    # Padding to a longer neighbour may move a bf16 result in the last digits, never more.
    assert float(alone[0] @ first[0]) > 0.999


def test_reports_a_name_and_precision_for_the_manifest(embedder: Embedder) -> None:
    assert embedder.name
    assert embedder.precision in ("fp32", "bf16")


@pytest.mark.parametrize(
    ("query", "near", "far"),
    [
        ("planning budgets for next year", "budget planning for the year", "kubernetes pods keep crashing"),
        ("giving difficult feedback to a peer", "how to give feedback that is difficult", "sql index tuning"),
    ],
)
def test_related_text_is_nearer_than_unrelated(embedder: Embedder, query: str, near: str, far: str) -> None:
    q, n, f = embedder.encode([query, near, far])
    assert q @ n > q @ f


def test_hashing_embedder_is_named_by_its_dim_and_matches_word_variants() -> None:
    emb = HashingEmbedder(dim=64)
    assert (emb.name, emb.dim) == ("hashing-64", 64)
    budget, budgets, other = emb.encode(["budget", "Budgets", "hiring"])
    assert budget @ budgets == pytest.approx(1.0)
    assert budget @ other < 0.5


@pytest.mark.real
def test_real_paraphrase_is_nearer_its_source_than_an_unrelated_sentence(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    source, paraphrase, unrelated = real_embedder.encode(
        [
            "My mentor showed me how to negotiate a higher salary.",
            "I learned from my mentor how to ask for a raise.",
            "The database migration finished over the weekend.",
        ]
    )
    assert source @ paraphrase > 0.5
    assert source @ paraphrase > source @ unrelated + 0.3


@pytest.mark.real
def test_bf16_agrees_with_fp32(real_embedder: SentenceTransformerEmbedder) -> None:
    if real_embedder.precision != "bf16":
        pytest.skip("this CPU runs the embedder in fp32 (no bf16 fast path to compare)")
    fp32 = SentenceTransformerEmbedder(precision="fp32")
    assert fp32.precision == "fp32"
    texts = [t for t in TEXTS if t] + [
        "We compared two approaches to on-call rotations. The team chose weekly shifts with a shadow week first.",
        "Priya walked through the pricing experiment. It needed a holdout group and two billing cycles.",
    ]
    mean, low = mean_cosine(real_embedder.encode(texts), fp32.encode(texts))
    assert mean >= 0.999
    assert low >= 0.998


@pytest.mark.real
def test_auto_falls_back_to_fp32_and_logs_why_when_bf16_is_unsupported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(embedder_module, "_bf16_unsupported_reason", lambda: "the CPU has no bf16 (test)")
    with caplog.at_level(logging.INFO, logger="mentorkb.embedder"):
        emb = SentenceTransformerEmbedder(precision="auto")
    assert emb.precision == "fp32"
    assert "the CPU has no bf16 (test)" in caplog.text
    with pytest.raises(SettingsError, match="bf16") as err:
        SentenceTransformerEmbedder(precision="bf16")
    assert err.value.field == "embedder_precision"


@pytest.mark.parametrize(
    "model",
    ["sentence-transformers/all-MiniLM-L6-v2", "no-such-model", "~/definitely/not/a/folder"],
)
def test_a_model_that_is_not_a_local_folder_fails_fast_with_a_fix(model: str) -> None:
    with pytest.raises(ModelLoadError, match="could not be loaded") as err:
        SentenceTransformerEmbedder(model)
    assert model in str(err.value)
    assert "MENTORKB_EMBEDDER_MODEL" in (err.value.fix or "")


@pytest.mark.real
def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="could not be loaded") as err:
        SentenceTransformerEmbedder(str(tmp_path))
    assert err.value.source == str(tmp_path)


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("precision", "fp16", "embedder_precision"),
        ("batch_size", 0, "embed_batch_size"),
        ("batch_tokens", -1, "embed_batch_tokens"),
    ],
)
def test_invalid_settings_are_rejected_before_loading(setting: str, value: object, field: str) -> None:
    with pytest.raises(SettingsError) as err:
        SentenceTransformerEmbedder(**{setting: value})
    assert err.value.field == field


@pytest.mark.real
def test_load_embedder_follows_the_settings(tmp_path: Path) -> None:
    settings = Settings.load(
        tmp_path,
        embedder_model=default_model_path(),
        embedder_precision="fp32",
        embed_batch_size=8,
        embed_batch_tokens=512,
    )
    emb = load_embedder(settings)
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert (emb.name, emb.precision, emb.batch_size, emb.batch_tokens, emb.dim) == (
        "all-MiniLM-L6-v2",
        "fp32",
        8,
        512,
        384,
    )


def _varied_texts() -> list[str]:
    """Texts of very different lengths, not in length order; the last runs past the model's 256 tokens."""
    sentence = "We rehearsed the budget review and the questions the finance lead would ask. "
    return [sentence * n for n in (3, 1, 7, 2, 12, 1, 5, 4)] + TEXTS + [sentence * 40]


@pytest.mark.real
def test_batches_of_a_token_budget_embed_as_fixed_batches_do_in_the_callers_order(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _varied_texts()
    monkeypatch.setattr(real_embedder, "batch_tokens", 0)
    fixed = real_embedder.encode(texts)
    shapes: list[tuple[int, int]] = []
    forward, prepare = real_embedder._forward, real_embedder._prepare
    monkeypatch.setattr(
        real_embedder, "_forward", lambda b: (shapes.append(tuple(prepare(b)["input_ids"].shape)), forward(b))[1]
    )
    monkeypatch.setattr(real_embedder, "batch_tokens", 64)
    by_tokens = real_embedder.encode(texts)
    assert by_tokens.shape == fixed.shape and by_tokens.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(by_tokens, axis=1), 1.0, atol=1e-5)
    assert (by_tokens * fixed).sum(axis=1).min() > 0.999  # each text where the caller put it
    assert sum(rows for rows, _ in shapes) == len(texts)
    assert all(rows * cols <= 64 or rows == 1 for rows, cols in shapes)  # a text over the budget goes alone
    assert max(rows for rows, _ in shapes) > 1 and max(cols for _, cols in shapes) == 256


@pytest.mark.real
def test_many_texts_are_tokenised_a_chunk_at_a_time(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = _varied_texts() * 3
    monkeypatch.setattr(embedder_module, "_LENGTH_CHUNK", 8)  # `reindex` hands over every passage at once
    sizes: list[int] = []
    prepare = real_embedder._model.preprocess
    monkeypatch.setattr(real_embedder._model, "preprocess", lambda t, **kw: (sizes.append(len(t)), prepare(t, **kw))[1])
    whole = real_embedder.encode(texts)
    n = len(texts)
    assert sizes[: -(-n // 8)] == [min(8, n - i) for i in range(0, n, 8)]  # lengths first, 8 texts at a time
    np.testing.assert_allclose(whole[: len(texts) // 3], whole[len(texts) // 3 : 2 * len(texts) // 3], atol=1e-3)


@pytest.mark.real
def test_a_model_with_a_default_prompt_embeds_passages_through_sentence_transformers(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    encode = real_embedder._model.encode
    monkeypatch.setattr(
        real_embedder._model, "encode", lambda texts, **kw: (calls.append(texts), encode(texts, **kw))[1]
    )
    real_embedder.encode(["plain model"])
    assert calls == []
    monkeypatch.setattr(real_embedder._model, "default_prompt_name", "query", raising=False)
    monkeypatch.setattr(real_embedder._model, "prompts", {"query": "query: "}, raising=False)
    assert real_embedder.encode(["prompted model"]).shape == (1, real_embedder.dim)
    assert calls == [["prompted model"]]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ("fpu sse2 avx2 avx512f avx512_bf16 amx_tile", True),
        ("fpu sse2 avx2 amx_bf16 amx_tile", True),
        ("fpu sse2 avx2 avx512f avx512bw", False),
        ("", False),
    ],
)
def test_cpu_bf16_detection_reads_the_flags_line(flags: str, expected: bool) -> None:
    cpuinfo = f"processor\t: 0\nmodel name\t: Some CPU with avx512_bf16 in its name\nflags\t\t: {flags}\n"
    assert cpu_has_native_bf16(cpuinfo) is expected


def test_a_question_embeds_as_in_a_batch_of_one(embedder: Embedder) -> None:
    q = "How do I plan a quarterly budget?"
    got = embedder.encode_query(q)
    assert got.shape == (1, embedder.dim) and got.dtype == np.float32
    assert float(got[0] @ embedder.encode([q])[0]) > 0.9999


@pytest.mark.real
def test_a_question_uses_one_torch_thread_and_leaves_every_thread_as_it_was(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import torch

    seen: list[int] = []
    forward = real_embedder._forward_one
    monkeypatch.setattr(real_embedder, "_forward_one", lambda t: (seen.append(torch.get_num_threads()), forward(t))[1])
    before = torch.get_num_threads()
    other: list[int] = []
    worker = threading.Thread(target=lambda: other.append(torch.get_num_threads()))
    real_embedder.encode_query("What is a variance bridge?")
    worker.start()
    worker.join()
    assert seen == [1]
    assert torch.get_num_threads() == before and other == [before]


@pytest.mark.real
def test_a_model_with_a_default_prompt_embeds_a_question_through_encode(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(real_embedder, "encode", lambda texts: (calls.append(list(texts)), np.ones((1, 3)))[1])
    real_embedder.encode_query("plain model")
    assert calls == []  # the packaged model has no prompt: straight through its modules
    monkeypatch.setattr(real_embedder._model, "default_prompt_name", "query", raising=False)
    real_embedder.encode_query("prompted model")
    assert calls == [["prompted model"]]


QUESTIONS = [
    "ok",
    "How do I plan a quarterly budget?",
    "Who can teach me Kubernetes, Terraform and the on-call runbooks our platform team wrote last spring?",
    " ".join(["Mentoring junior engineers means asking more questions than you answer."] * 40),  # past 256 tokens
]


@pytest.mark.real
def test_questions_and_batches_go_through_a_traced_graph_that_gives_the_eager_models_vectors(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    import torch

    got = np.vstack([real_embedder.encode_query(q) for q in QUESTIONS])
    assert real_embedder._graph  # made on the embedder's second pass, checked against the eager model
    eager = np.vstack([real_embedder.encode([q]) for q in QUESTIONS])  # one at a time: padding would differ
    assert mean_cosine(got, eager)[1] > 0.99999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    texts = TEXTS + QUESTIONS + [f"Session {i}: " + "budget review " * i for i in range(1, 40)]
    batched = real_embedder.encode(texts)  # padded batches, longest first, through the graph
    with torch.inference_mode():
        modules = np.vstack([real_embedder._eager([t]) for t in texts])
    assert mean_cosine(batched, modules)[1] > 0.9999


@pytest.mark.real
def test_a_model_that_cannot_be_traced_or_disagrees_stays_on_its_eager_modules(
    real_embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    model, prepare, eager = real_embedder._model, real_embedder._prepare, real_embedder._eager
    with caplog.at_level(logging.WARNING):
        assert embedder_module._trace_graph(model, prepare, eager) is not None
    assert caplog.records == []  # tracing reads deprecated attributes: no notice reaches the terminal
    assert embedder_module._trace_graph(model, prepare, lambda texts: -eager(texts)) is None
    with monkeypatch.context() as m:
        m.setattr(torch.jit, "trace", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("cannot trace")))
        assert embedder_module._trace_graph(model, prepare, eager) is None
        m.setattr(real_embedder, "_graph", None)  # as if nothing had been embedded yet
        m.setattr(real_embedder, "_calls", 0)
        got = real_embedder.encode_query(QUESTIONS[1])
        assert real_embedder._graph is None  # the first pass goes straight to the eager modules
        assert float(real_embedder.encode_query(QUESTIONS[1])[0] @ got[0]) > 0.9999
        assert real_embedder._graph is False
        with torch.inference_mode():
            modules = np.vstack([eager([t]) for t in TEXTS[:3]])
        assert mean_cosine(real_embedder.encode(TEXTS[:3]), modules)[1] > 0.9999
