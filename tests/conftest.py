"""Fixtures shared by every test package: the real embedder (loaded once per session) and its fake."""

from __future__ import annotations

import pytest

from index.embedder import HashingEmbedder, SentenceTransformerEmbedder


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2 with default settings (bf16 where the CPU allows); loaded once, never mutated."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    """The dependency-free hashing embedder, 384-dimensional like the real one."""
    return HashingEmbedder()
