"""A backtest on logged history: how reco's ranking would have done on a publisher's own
impressions, judged the way news recommenders are (components.evaluation.news).

The events (impressions, clicks, views: events.v1, from silver or an import) are replayed in
time order into point-in-time features (components.ranking.features), so nothing an impression
is scored with comes from after it was shown. The ranker learns from the `train_days` before
the test day; on the test day, every logged list of a reader who had read something before is
re-ranked by each kind and judged by its clicks. Kinds: the learned ranker, recency-popularity
fitted on the training clicks, and the news baselines (random, newest first, clicks so far, a
smoothed intraday CTR counter with a 6-hour half-life). `extra_scores` adds any other scorer of
the same rows (the benchmark adds the simulator's oracle and the collaborative kinds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.content.fit import fit_content
from components.content.vectors import ContentModel
from components.evaluation.news import compare
from components.ranking.features import FEATURES, ArticleTable, FeatureReplay, LoggedLists, epoch_seconds
from components.ranking.train import RankerParams, train_ranker

NEWS_METRICS = ("auc", "mrr", "ndcg@5", "ndcg@10", "auc_by_position")
POPULARITY_HALF_LIFE_H = 6.0
ExtraScores = Callable[[LoggedLists], Mapping[str, np.ndarray]]


def content_and_table(
    articles: Sequence[Mapping[str, Any]], *, fit_before: float, dim: int = 32
) -> tuple[ContentModel | None, ArticleTable]:
    """The content model fitted on the articles published before `fit_before` (None when there
    is too little text to fit a vocabulary: no content signal) and the catalogue (articles.v1
    records or catalogue rows) as the ranker's article table, every article's vector from it
    (as the flow fits it and serving applies it to new ones)."""
    if not articles:
        raise ValueError("articles: the catalogue is empty")
    published = np.array([epoch_seconds(a["published_at"]) for a in articles])
    sections = sorted({str(a["section"]) for a in articles})
    known = [a for a, p in zip(articles, published, strict=True) if p < fit_before]
    content: ContentModel | None
    try:
        content = fit_content(known, dim=dim)
        vectors = content.transform(articles)
    except ValueError:
        content, vectors = None, np.zeros((len(articles), 1), dtype=np.float32)
    table = ArticleTable(
        ids=[str(a["article_id"]) for a in articles],
        section=np.array([sections.index(str(a["section"])) for a in articles], dtype=np.int64),
        published_s=published,
        vectors=vectors,
        n_sections=len(sections),
    )
    return content, table


def article_table(articles: Sequence[Mapping[str, Any]], *, fit_before: float, dim: int = 32) -> ArticleTable:
    """`content_and_table`'s table."""
    return content_and_table(articles, fit_before=fit_before, dim=dim)[1]


def prior_ctr(events: Iterable[Mapping[str, Any]], before: float) -> float:
    impressions = clicks = 0
    for event in events:
        if epoch_seconds(event["ts"]) >= before:
            continue
        impressions += event["type"] == "impression"
        clicks += event["type"] == "click"
    return clicks / impressions if impressions else 0.0


def popularity_scores(
    events: Sequence[Mapping[str, Any]], before: float, lists: LoggedLists, table: ArticleTable
) -> np.ndarray:
    """Clicks before `before`, each decayed by its age at `before` (6-hour half-life): the
    sweep's recency-popularity as trained at the cutoff; articles without a click score 0."""
    score = np.zeros(len(table.ids))
    for event in events:
        if event["type"] != "click":
            continue
        at = epoch_seconds(event["ts"])
        row = table.index.get(str(event["article_id"]))
        if at < before and row is not None:
            score[row] += np.exp2(-(before - at) / 3_600.0 / POPULARITY_HALF_LIFE_H)
    chosen: np.ndarray = score[lists.article]
    return chosen


def baseline_scores(lists: LoggedLists, table: ArticleTable, seed: int) -> dict[str, np.ndarray]:
    """The news baselines, from the rows' own point-in-time features."""
    return {
        "random": np.random.default_rng(seed).random(len(lists.article)),
        "newest": table.published_s[lists.article],
        "clicks_so_far": lists.features[:, FEATURES.index("clicks_7d")].astype(float),
        "intraday_ctr_6h": lists.features[:, FEATURES.index("ctr_6h")].astype(float),
    }


def ranker_scores(booster: Any, lists: LoggedLists) -> np.ndarray:
    """The ranker's margin with every row at position 0, as serving scores candidates."""
    import xgboost as xgb

    at_top = lists.features.copy()
    at_top[:, FEATURES.index("position")] = 0.0
    margin: np.ndarray = booster.predict(
        xgb.DMatrix(at_top, feature_names=list(FEATURES)), output_margin=True
    )
    return margin


@dataclass(frozen=True)
class Backtest:
    report: dict[str, dict[str, float | int]]  # kind -> news metrics (components.evaluation.news)
    train: LoggedLists
    test: LoggedLists
    replay: FeatureReplay
    booster: Any
    unseen_share: float  # of the test impressions: articles with no impression before the test day

    def models(self) -> dict[str, dict[str, float]]:
        return {
            kind: {name: round(float(m[name]), 4) for name in NEWS_METRICS if name in m}
            for kind, m in self.report.items()
        }


def test_lists(logged: LoggedLists, test_start: float) -> LoggedLists:
    """The lists every kind is judged on: shown on the test day to a reader who had read
    something before."""
    test = logged.select(
        (logged.ts >= test_start) & (logged.ts < test_start + 86_400.0) & logged.known_reader
    )
    if not len(test.article):
        raise ValueError("events: no impression of a returning reader on the test day")
    return test


def run_backtest(
    events: Sequence[Mapping[str, Any]],
    table: ArticleTable,
    *,
    test_start: float,
    train_days: int = 7,
    seed: int = 0,
    params: RankerParams | None = None,
    device: str = "cpu",
    probes: Mapping[str, tuple[float, np.ndarray]] | None = None,
    extra_scores: ExtraScores | None = None,
) -> Backtest:
    """`events` in time order (impressions, clicks, views; anything else is skipped)."""
    replay = FeatureReplay(table, prior_ctr=prior_ctr(events, test_start), probes=probes)
    replay.extend(events)
    logged = replay.result()
    train = logged.select((logged.ts < test_start) & (logged.ts >= test_start - train_days * 86_400.0))
    test = test_lists(logged, test_start)
    booster = train_ranker(train, params or RankerParams(seed=seed), device=device)
    scores = {
        "ranker": ranker_scores(booster, test),
        "popularity": popularity_scores(events, test_start, test, table),
        **baseline_scores(test, table, seed),
    }
    if extra_scores is not None:
        scores.update(extra_scores(test))
    report = compare(test.request_id, test.clicked, scores, tiebreak=test.position, positions=test.position)
    before = np.zeros(len(table.ids), dtype=bool)
    before[logged.article[logged.ts < test_start]] = True
    unseen = float(np.mean(~before[test.article]))
    return Backtest(report, train, test, replay, booster, unseen)
