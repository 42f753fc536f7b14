import numpy as np
import pytest

from components.ranking.features import (
    FEATURES,
    HALF_LIVES_H,
    ArticleTable,
    DecayedCounts,
    FeatureReplay,
    feature_matrix,
)

HOUR = 3_600.0
T0 = 1_000 * HOUR  # an hour boundary


def iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def table() -> ArticleTable:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    return ArticleTable(
        ids=["a", "b", "c"],
        section=np.array([0, 1, 0]),
        published_s=np.array([T0 - 10 * HOUR, T0 - HOUR, T0]),
        vectors=vectors,
        n_sections=2,
    )


def impression(request: str, user: str, article: str, position: int, t: float) -> dict[str, object]:
    return {
        "event_id": f"{request}-{position}",
        "type": "impression",
        "user_id": user,
        "article_id": article,
        "ts": iso(t),
        "request_id": request,
        "position": position,
    }


def click(request: str, user: str, article: str, position: int, t: float) -> dict[str, object]:
    return {
        "event_id": f"{request}-{position}-click",
        "type": "click",
        "user_id": user,
        "article_id": article,
        "ts": iso(t),
        "request_id": request,
        "position": position,
    }


def column(name: str) -> int:
    return FEATURES.index(name)


def test_decayed_counts_equal_the_sum_of_hourly_buckets() -> None:
    rng = np.random.default_rng(3)
    hours = np.sort(rng.integers(0, 30, size=200))
    rows = rng.integers(0, 4, size=200)
    counts = DecayedCounts(4, 6.0)
    buckets: dict[int, np.ndarray] = {}
    for hour, row in zip(hours.tolist(), rows.tolist(), strict=True):
        counts.add(row, hour)
        buckets.setdefault(hour, np.zeros(4))[row] += 1
    expected = DecayedCounts.from_buckets(buckets, 33, 6.0)
    assert np.allclose(counts.at(np.arange(4), 33), expected)
    # hours after the one read are not counted
    assert np.allclose(DecayedCounts.from_buckets(buckets, 10, 6.0), counts_upto(hours, rows, 10))


def counts_upto(hours: np.ndarray, rows: np.ndarray, hour: int) -> np.ndarray:
    keep = hours <= hour
    return np.bincount(rows[keep], weights=np.exp2(-(hour - hours[keep]) / 6.0), minlength=4)


def test_an_impression_sees_neither_its_own_list_nor_anything_later() -> None:
    replay = FeatureReplay(table(), prior_ctr=0.05)
    replay.extend(
        [
            impression("r1", "u1", "a", 0, T0 + 60),
            impression("r1", "u1", "b", 1, T0 + 60),
            click("r1", "u1", "b", 1, T0 + 70),
            impression("r2", "u2", "b", 0, T0 + 120),
            impression("r2", "u2", "a", 1, T0 + 120),
        ]
    )
    lists = replay.result()
    assert lists.request_id.tolist() == ["r1", "r1", "r2", "r2"]
    assert lists.clicked.tolist() == [False, True, False, False]
    f = lists.features
    imps, clicks, total = column("impressions_1h"), column("clicks_1h"), column("clicks_7d")
    # the first list: nothing counted yet, its own impressions excluded
    assert f[0, imps] == f[1, imps] == 0.0 and f[1, clicks] == 0.0
    # the second list sees the first list's impressions and its click, in the same hour
    assert f[2, imps] == pytest.approx(np.log1p(1.0)) and f[2, clicks] == pytest.approx(np.log1p(1.0))
    assert f[2, total] == pytest.approx(np.log1p(1.0)) and f[3, total] == 0.0
    assert f[:, column("position")].tolist() == [0, 1, 0, 1]
    # smoothed CTR: (clicks + 20 * prior) / (impressions + 20)
    assert f[2, column("ctr_6h")] == pytest.approx((1 + 20 * 0.05) / (1 + 20))
    assert f[3, column("ctr_6h")] == pytest.approx((0 + 20 * 0.05) / (1 + 20))


def test_reader_features_follow_what_they_read_before_the_request() -> None:
    replay = FeatureReplay(table(), prior_ctr=0.05)
    replay.extend(
        [
            impression("r1", "u1", "a", 0, T0 + 60),
            impression("r1", "u1", "b", 1, T0 + 60),
            click("r1", "u1", "a", 0, T0 + 70),
            impression("r2", "u1", "b", 0, T0 + 300),
            impression("r2", "u1", "c", 1, T0 + 300),
        ]
    )
    f = replay.result().features
    similarity, affinity, reads = (
        column("content_similarity"),
        column("section_affinity"),
        column("reader_reads"),
    )
    assert f[0, reads] == 0.0 and f[0, similarity] == 0.0
    assert f[0, affinity] == pytest.approx(0.5)  # no reads: the uniform share
    assert f[2, reads] == pytest.approx(np.log1p(1.0))
    # read "a" (section 0, vector [1, 0]): "c" is alike, "b" is not
    assert f[3, similarity] == pytest.approx(1.0) and f[2, similarity] == pytest.approx(0.0)
    assert f[3, affinity] == pytest.approx((1 + 2 * 0.5) / (1 + 2))
    assert f[2, affinity] == pytest.approx((0 + 2 * 0.5) / (1 + 2))
    assert f[3, column("age_h")] == pytest.approx(np.log1p(300 / HOUR))


def test_unknown_articles_are_counted_not_fatal() -> None:
    replay = FeatureReplay(table(), prior_ctr=0.05)
    replay.extend([impression("r1", "u1", "zzz", 0, T0), impression("r1", "u1", "a", 1, T0)])
    lists = replay.result()
    assert replay.unknown_articles == 1
    assert lists.article.tolist() == [0]


def reader_features(articles: ArticleTable, rows: np.ndarray, reads: list[int]) -> np.ndarray:
    """The feature rows of `rows` for a reader with `reads`, no intraday counts."""
    zeros = [np.zeros(len(rows))] * len(HALF_LIVES_H)
    return feature_matrix(
        articles,
        rows,
        now_s=HOUR,
        positions=np.zeros(len(rows), dtype=np.float32),
        impressions=zeros,
        clicks=zeros,
        clicks_total=np.zeros(len(rows)),
        prior_ctr=0.05,
        reads=reads,
    )


def test_within_section_similarity_separates_topics_the_mean_blurs() -> None:
    # Section 0 has two topics (x and y), section 1 one (z). The reader read x in section 0 and
    # z in section 1: the all-reads mean sits between x and z, the section-0 mean on x.
    x, y, z = np.eye(3, dtype=np.float32)
    articles = ArticleTable(
        ids=["read-x", "read-z", "new-x", "new-y", "new-z"],
        section=np.array([0, 1, 0, 0, 1]),
        published_s=np.zeros(5),
        vectors=np.vstack([x, z, x, y, z]),
        n_sections=2,
    )
    rows = np.array([2, 3, 4])
    f = reader_features(articles, rows, [0, 1])
    within, closest, mean = (
        column("section_similarity"),
        column("max_similarity"),
        column("content_similarity"),
    )
    assert f[:, within].tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert f[:, closest].tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert f[:, mean].tolist() == pytest.approx([np.sqrt(0.5), 0.0, np.sqrt(0.5)])
    # no reads: every reader feature is zero
    empty = reader_features(articles, rows, [])
    assert not empty[:, [within, closest, mean]].any()


def test_within_section_similarity_is_the_cosine_with_the_sections_mean_read() -> None:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(30, 6)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    section = rng.integers(0, 3, size=30)
    articles = ArticleTable(
        ids=[str(i) for i in range(30)],
        section=section,
        published_s=np.zeros(30),
        vectors=vectors,
        n_sections=3,
    )
    reads, rows = list(range(10)), np.arange(10, 30)
    f = reader_features(articles, rows, reads)
    for i, row in enumerate(rows):
        same = [r for r in reads if section[r] == section[row]]
        mean = vectors[same].mean(axis=0) if same else np.zeros(6)
        expected = float(vectors[row] @ mean / np.linalg.norm(mean)) if same else 0.0
        assert f[i, column("section_similarity")] == pytest.approx(expected, abs=1e-5)
        assert f[i, column("max_similarity")] == pytest.approx(
            float((vectors[reads] @ vectors[row]).max()), abs=1e-5
        )
