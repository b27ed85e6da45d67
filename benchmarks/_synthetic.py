"""Synthetic benchmark inputs: mentoring-note passages and vectors shaped like sentence embeddings.

Both are deterministic for a given seed, so two runs (or two machines) measure the same work.
"""

from __future__ import annotations

import numpy as np

_SUBJECTS = [
    "I",
    "We",
    "She",
    "He",
    "The mentee",
    "My mentor",
    "The team",
    "Our manager",
    "The new hire",
    "Priya",
    "Tomasz",
    "Amara",
    "The tech lead",
    "Everyone in the group",
]
_VERBS = [
    "struggled with",
    "asked about",
    "explained",
    "walked through",
    "wanted to get better at",
    "suggested a plan for",
    "shared a story about",
    "worried about",
    "had years of experience with",
    "recommended reading on",
    "practised",
    "gave feedback on",
    "spent the week on",
    "compared two approaches to",
]
_TOPICS = [
    "quarterly budget forecasts",
    "Kubernetes deployments",
    "giving difficult feedback",
    "public speaking",
    "SQL query tuning",
    "stakeholder management",
    "career growth into staff engineering",
    "hiring interviews",
    "the on-call rotation",
    "negotiating a raise",
    "writing design documents",
    "Python type hints",
    "React performance",
    "incident post-mortems",
    "product discovery interviews",
    "data privacy rules",
    "mentoring junior engineers",
    "time management",
    "cloud cost reduction",
    "the migration to Postgres",
    "machine learning evaluation",
    "accessibility audits",
    "pricing experiments",
    "running retrospectives",
]
_TAILS = [
    "",
    " last month",
    " before the release",
    " with the finance team",
    " for the first time",
    " because the deadline moved",
    " in the Berlin office",
    " during the offsite",
    " after the reorg",
]
_FOLLOWUPS = [
    "The main takeaway was to start small and ask for help early.",
    "We agreed to meet again in two weeks to check progress.",
    "A useful trick is to write the decision down before the meeting.",
    "It helped to pair with someone who had done it before.",
    "Next step: draft a one-page proposal and share it on Friday.",
    "Nobody had measured the baseline, so that comes first.",
    "The hardest part was saying no to the extra scope.",
    "Reading the old tickets explained most of the history.",
    "She recommended the checklist from the platform team.",
    "We talked about how to explain trade-offs to non-engineers.",
]


def passages(n: int, *, seed: int = 0) -> list[str]:
    """n mentoring-note passages of 2-5 sentences (roughly 25-90 words), like the segmenter produces."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sentences = []
        for j in range(int(rng.integers(2, 6))):
            if j > 0 and rng.random() < 0.4:
                sentences.append(str(rng.choice(_FOLLOWUPS)))
                continue
            s, v, t, tail = (str(rng.choice(x)) for x in (_SUBJECTS, _VERBS, _TOPICS, _TAILS))
            sentences.append(f"{s} {v} {t}{tail}.")
        out.append(" ".join(sentences))
    return out


def embedding_like(
    n: int,
    dim: int = 384,
    *,
    seed: int = 0,
    world: int = 0,
    clusters: int = 2000,
    rank: int = 128,
    chunk: int = 100_000,
) -> np.ndarray:
    """n unit float32 vectors with MiniLM-like structure: topic clusters in a low-rank subspace plus noise.

    Real sentence embeddings share a common direction (anisotropy), concentrate near a low-rank
    subspace and form many topical clusters of Zipf-like sizes; uniform random vectors have none of
    this and make ANN look either trivially easy or hopeless. `world` fixes that structure, `seed`
    the sample drawn from it, so corpus and queries come from the same world with different seeds.
    Tuned so a random pair has cosine ~0.09, a query's nearest of 20k ~0.63 and the top 50 principal
    directions hold about half the variance, as for all-MiniLM-L6-v2 on varied text.
    Generated in chunks so 1M x 384 needs no large temporary copies.
    """
    rng = np.random.default_rng(world)
    basis = np.linalg.qr(rng.standard_normal((dim, rank)))[0].T.astype(np.float32)  # (rank, dim), orthonormal
    mean = rng.standard_normal(dim).astype(np.float32)
    mean *= 0.35 / np.linalg.norm(mean)
    centers = rng.standard_normal((clusters, rank)).astype(np.float32)
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
    weights /= weights.sum()
    rng = np.random.default_rng([world, seed])
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        which = rng.choice(clusters, size=m, p=weights)
        x = (centers[which] + 0.7 * rng.standard_normal((m, rank), dtype=np.float32)) @ basis
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x += mean + (0.5 / np.sqrt(dim)) * rng.standard_normal((m, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out
