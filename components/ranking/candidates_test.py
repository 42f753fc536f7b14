"""Candidate sources: only allowed rows (live, unread, not excluded), best first, tagged by the
first source that proposed them."""

from __future__ import annotations

import numpy as np
import pytest

from components.ranking.candidates import CANDIDATE_SOURCES, CandidateQuery, check_sources, gather


def query(allowed: np.ndarray, reads: list[int], per_source: int = 3) -> CandidateQuery:
    n = len(allowed)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return CandidateQuery(
        allowed=allowed,
        published_s=np.arange(n, dtype=float) * 60.0,
        section=np.arange(n) % 3,
        popular_order=np.arange(n)[::-1].copy(),
        vectors=vectors,
        reads=np.asarray(reads, dtype=np.int64),
        trending=np.where(np.arange(n) % 4 == 0, np.arange(n, dtype=float), 0.0),
        per_source=per_source,
    )


@pytest.mark.parametrize("name", sorted(CANDIDATE_SOURCES))
def test_every_source_returns_only_allowed_rows(name: str) -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        allowed = rng.random(40) < 0.5
        reads = rng.choice(40, size=5, replace=False)
        allowed[reads] = False  # read articles are never allowed
        found = CANDIDATE_SOURCES[name](query(allowed, reads.tolist(), per_source=8))
        assert len(found) <= 8
        assert allowed[found].all(), (name, found)
        assert len(set(found.tolist())) == len(found)


def test_sources_rank_what_they_say() -> None:
    allowed = np.ones(12, dtype=bool)
    allowed[[11, 5]] = False
    q = query(allowed, reads=[0, 3])  # section 0 twice
    assert CANDIDATE_SOURCES["popular"](q).tolist() == [10, 9, 8]  # popular order, 11 not allowed
    assert CANDIDATE_SOURCES["sections"](q).tolist() == [9, 6, 3]  # newest in section 0
    assert CANDIDATE_SOURCES["trending"](q).tolist() == [8, 4]  # most clicked, only those with clicks
    content = CANDIDATE_SOURCES["content"](q)
    profile = q.vectors[[0, 3]].mean(axis=0)  # type: ignore[index]
    cosines = q.vectors[content] @ (profile / np.linalg.norm(profile))  # type: ignore[index]
    assert (np.diff(cosines) <= 1e-6).all()
    # A reader without reads has no personal candidates.
    newcomer = query(allowed, reads=[])
    assert not len(CANDIDATE_SOURCES["content"](newcomer)) and not len(
        CANDIDATE_SOURCES["sections"](newcomer)
    )


def test_gather_unions_in_source_order_and_tags_the_first_proposer() -> None:
    allowed = np.ones(12, dtype=bool)
    q = query(allowed, reads=[0, 3])
    rows, tags = gather(q, ["trending", "popular"])
    assert rows.tolist() == [8, 4, 11, 10, 9]
    assert tags == ["trending"] * 2 + ["popular"] * 3
    rows, tags = gather(q, ["popular", "trending"])  # 8 was proposed by popular first
    assert rows.tolist() == [11, 10, 9, 8, 4] and tags == ["popular"] * 3 + ["trending"] * 2
    assert check_sources(["popular"]) == ("popular",)
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        check_sources(["popular", "nope"])
    with pytest.raises(ValueError, match="at least one"):
        check_sources([])
