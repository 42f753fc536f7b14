"""Every kind judged the way news recommenders are, on exactly the same logged lists: each list
shown on the test day to a returning reader, re-ranked by the model and judged by its clicks
(components.evaluation.news). The learned ranker's lists come from its own replay
(components/training/ranker.py); the other kinds get the same lists from a replay without
features, and score each list's articles for its reader (`Recommender.score`; an article the
model never saw, or a reader it does not know, scores below everything it knows).

Beside each kind, the gate's references on the same lists (components/registry/gate.py):
plain popularity (training clicks per article, no recency) and random.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from components.evaluation.news import compare
from components.models.base import Recommender, UnknownUserError
from components.models.ranker import RankerModel
from components.ranking.backtest import NEWS_METRICS, test_lists
from components.ranking.features import FEATURES, ArticleTable, FeatureReplay, LoggedLists, epoch_seconds

REFERENCES = ("popularity", "random")


def plain_table(articles: Sequence[Mapping[str, Any]]) -> ArticleTable:
    """The catalogue as an article table without content (ids, publication)."""
    return ArticleTable(
        ids=[str(a["article_id"]) for a in articles],
        section=np.zeros(len(articles), dtype=np.int64),
        published_s=np.array([epoch_seconds(a["published_at"]) for a in articles]),
        vectors=np.zeros((len(articles), 1), dtype=np.float32),
        n_sections=1,
    )


def logged_test_lists(
    events: Sequence[Mapping[str, Any]], table: ArticleTable, test_start: float
) -> LoggedLists:
    """The test day's lists of returning readers (the ranker's own selection), labels only."""
    replay = FeatureReplay(table, prior_ctr=0.0, featured=False)
    replay.extend(events)
    return test_lists(replay.result(), test_start)


def model_scores(model: Recommender, lists: LoggedLists, table: ArticleTable) -> np.ndarray:
    """The model's score of every logged impression, list by list; what it cannot score ranks
    below everything it can."""
    scores = np.full(len(lists.article), np.nan)
    order = np.argsort(lists.request_id.astype(str), kind="stable")
    bounds = np.flatnonzero(np.r_[True, lists.request_id[order][1:] != lists.request_id[order][:-1], True])
    for start, end in pairwise(bounds):
        rows = order[start:end]
        try:
            scores[rows] = model.score(
                str(lists.user_id[rows[0]]), [table.ids[a] for a in lists.article[rows]]
            )
        except UnknownUserError:
            continue
    known = scores[np.isfinite(scores)]
    floor = float(known.min()) - 1.0 if len(known) else 0.0
    return np.where(np.isfinite(scores), scores, floor)


def reference_scores(
    events: Sequence[Mapping[str, Any]], lists: LoggedLists, table: ArticleTable, test_start: float, seed: int
) -> dict[str, np.ndarray]:
    """Plain popularity (clicks before the test day per article) and random, per impression."""
    clicks = np.zeros(len(table.ids))
    for event in events:
        if event["type"] == "click" and epoch_seconds(event["ts"]) < test_start:
            row = table.index.get(str(event["article_id"]))
            if row is not None:
                clicks[row] += 1
    return {
        "popularity": clicks[lists.article],
        "random": np.random.default_rng(seed).random(len(lists.article)),
    }


def news_metrics(scores: Mapping[str, np.ndarray], lists: LoggedLists) -> dict[str, float]:
    """`news_<metric>` for the scorer named "model", `news_<name>_<metric>` for the others."""
    report = compare(
        lists.request_id, lists.clicked, scores, tiebreak=lists.position, positions=lists.position
    )
    out = flat_metrics(report, {"model": "news"})
    out["news_lists"] = float(report["model"]["lists"])
    return out


def flat_metrics(
    report: Mapping[str, Mapping[str, float | int]], prefixes: Mapping[str, str]
) -> dict[str, float]:
    """`<prefix>_<metric>` (`@` as `_at_`) of each scorer's news metrics; the prefix is
    `prefixes[name]`, else `news_<name>`. A metric a scorer lacks is left out (auc_by_position
    needs a position holding both labels)."""
    out: dict[str, float] = {}
    for name, values in report.items():
        prefix = prefixes.get(name, f"news_{name}")
        for metric in NEWS_METRICS:
            if metric in values:
                out[f"{prefix}_{metric.replace('@', '_at_')}"] = float(values[metric])
    return out


def judge_on_lists(
    model: Recommender,
    events: Sequence[Mapping[str, Any]],
    articles: Sequence[Mapping[str, Any]],
    test_start: float,
    *,
    seed: int,
) -> dict[str, float]:
    """A collaborative or popularity model's news metrics and the references, on the test day's lists."""
    table = plain_table(articles)
    lists = logged_test_lists(events, table, test_start)
    scores = {
        "model": model_scores(model, lists, table),
        **reference_scores(events, lists, table, test_start, seed),
    }
    return news_metrics(scores, lists)


def ranker_table(model: RankerModel, articles: Sequence[Mapping[str, Any]]) -> ArticleTable:
    """The catalogue as a registered ranker sees it: its own content model's vectors and its
    number of sections."""
    sections = sorted({str(a["section"]) for a in articles})
    content = model.content
    return ArticleTable(
        ids=[str(a["article_id"]) for a in articles],
        section=np.array([sections.index(str(a["section"])) for a in articles], dtype=np.int64),
        published_s=np.array([epoch_seconds(a["published_at"]) for a in articles]),
        vectors=(
            content.transform(articles) if content is not None else np.zeros((len(articles), 1), np.float32)
        ),
        n_sections=model.n_sections,
    )


def ranker_news_metrics(
    model: RankerModel,
    logged: LoggedLists,
    events: Sequence[Mapping[str, Any]],
    table: ArticleTable,
    test_start: float,
    *,
    seed: int,
) -> dict[str, float]:
    """The ranker and the references on the test day's lists of `logged` (a replay's result)."""
    lists = test_lists(logged, test_start)
    at_top = lists.features.copy()
    at_top[:, FEATURES.index("position")] = 0.0
    scores = {
        "model": model.trees.predict_margin(at_top),
        **reference_scores(events, lists, table, test_start, seed),
    }
    return news_metrics(scores, lists)


__all__ = [
    "REFERENCES",
    "flat_metrics",
    "judge_on_lists",
    "logged_test_lists",
    "model_scores",
    "news_metrics",
    "ranker_news_metrics",
    "ranker_table",
    "reference_scores",
]
