"""News-click benchmark protocol (MIND): each logged impression list, the items shown in one
request, is re-ranked by a model's scores and scored against its binary labels (clicked or
not); the reported value of each metric is its mean over lists.

Definitions follow MIND's reference evaluation (`evaluate.py` of the MIND competition):
- AUC: the probability that a random clicked item scores above a random non-clicked one of the
  same list, ties counting 1/2 (average ranks, as sklearn's `roc_auc_score`), so a constant
  scorer gets exactly 0.5;
- MRR (`mrr_score`): with labels ordered by descending score, sum(label / rank) / sum(label);
- nDCG@k (`ndcg_score`): DCG@k = sum over the top k of (2^label - 1) / log2(rank + 1), over the
  DCG@k of the ideal ordering (every click first).
A list with no click or only clicks has no AUC: it is skipped by every metric and counted.

Beside them, when the logged positions are given, `auc_by_position`: the probability that a
clicked item scores above a non-clicked one shown at the same position (in other lists), pooled
over positions (every clicked/non-clicked pair at one position counts once; ties 1/2). Readers
click the top of a list more whatever it holds, so on lists a model ordered itself, its own
scores agree with the clicks partly because its order put the clicked items on top: within-list
AUC favours the policy that served the day (on lists the champion ordered exactly, its AUC is
just the share of clicks above non-clicks). Comparing items at the same position takes the
examination effect out without estimating it; it compares across readers, so a scorer whose
scale differs by reader is judged on that scale too. The gate judges by it
(components/registry/gate.py).

Ties in score do not matter for AUC; for MRR and nDCG the order among tied items is the
ascending `tiebreak` key when given (e.g. the logged position), otherwise input order: a
stable sort on -score. MIND's reference leaves it to an unstable argsort, i.e. arbitrary.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

_KS = (5, 10)


@dataclass(frozen=True)
class NewsMetrics:
    lists: int  # lists scored
    skipped: int  # lists without both a click and a non-click
    impressions: int  # rows of the scored lists
    auc: float
    mrr: float
    ndcg_at_5: float
    ndcg_at_10: float
    auc_by_position: float | None = None  # with positions given (None: no position has both labels)

    def as_dict(self) -> dict[str, float | int]:
        """Keys: lists, skipped, impressions, auc, mrr, ndcg@5, ndcg@10, and auc_by_position
        when it was measured."""
        out: dict[str, float | int] = {
            "lists": self.lists, "skipped": self.skipped, "impressions": self.impressions,
            "auc": self.auc, "mrr": self.mrr, "ndcg@5": self.ndcg_at_5, "ndcg@10": self.ndcg_at_10,
        }  # fmt: skip
        if self.auc_by_position is not None:
            out["auc_by_position"] = self.auc_by_position
        return out


@dataclass(frozen=True)
class _Lists:
    """What every scorer shares: the list of each row and the labels."""

    codes: np.ndarray  # int64: the list of each row, numbered by first appearance
    ids: np.ndarray  # object: the group id of each list
    labels: np.ndarray  # float64 0/1
    tiebreak: np.ndarray | None
    positions: np.ndarray | None  # float64: the logged position of each row


def _vector(name: str, values: Any, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional (got shape {array.shape})")
    if len(array) != n:
        raise ValueError(f"{name}: length {len(array)} differs from groups' length {n}")
    return array


def _numbers(name: str, values: Any, n: int) -> np.ndarray:
    array = _vector(name, values, n)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name}: must be numeric (got dtype {array.dtype})")
    array = array.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{name}: {bad} of {n} values are not finite (NaN or inf)")
    return array


def _factorize(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the list of each row, numbered by first appearance; the id of each list)."""
    if groups.dtype.kind in "biuf":
        unique, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        number = np.empty_like(order)
        number[order] = np.arange(len(order))
        return number[inverse.ravel()], unique[order].astype(object)
    index: dict[Hashable, int] = {}  # hashing beats np.unique's sort on strings and objects
    try:
        codes = np.fromiter((index.setdefault(g, len(index)) for g in groups.tolist()), np.int64, len(groups))
    except TypeError as err:
        raise ValueError(f"groups: ids must be hashable ({err})") from None
    ids = np.empty(len(index), dtype=object)
    for i, group in enumerate(index):
        ids[i] = group  # one by one: tuple ids must not become a 2-d array
    return codes, ids


def _lists(
    groups: np.ndarray, labels: np.ndarray, tiebreak: np.ndarray | None, positions: np.ndarray | None = None
) -> _Lists:
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups: must be one-dimensional (got shape {groups.shape})")
    n = len(groups)
    if n == 0:
        raise ValueError("groups: no impressions to evaluate")
    y = _numbers("labels", labels, n)
    bad = int(np.count_nonzero((y != 0) & (y != 1)))
    if bad:
        raise ValueError(f"labels: {bad} of {n} values are not binary (0/1 or bool)")
    key = None if tiebreak is None else _numbers("tiebreak", tiebreak, n)
    at = None if positions is None else _numbers("positions", positions, n)
    if at is not None and bool(np.any((at < 0) | (at != np.floor(at)))):
        raise ValueError("positions: must be whole numbers >= 0 (the logged slot of each row)")
    codes, ids = _factorize(groups)
    return _Lists(codes=codes, ids=ids, labels=y, tiebreak=key, positions=at)


def _auc_by_position(positions: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Clicked against non-clicked rows of the same position, pooled over positions (the
    Mann-Whitney statistic of each position, summed); None when no position has both."""
    order = np.lexsort((scores, positions))
    p, y, s = positions[order], labels[order], scores[order]
    n = len(p)
    new_stratum = np.ones(n, dtype=bool)
    new_stratum[1:] = p[1:] != p[:-1]
    stratum = np.cumsum(new_stratum) - 1
    rank = np.arange(n) - np.flatnonzero(new_stratum)[stratum]  # 0-based, ascending score
    new_run = new_stratum.copy()
    new_run[1:] |= s[1:] != s[:-1]
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], n) - 1
    mean_rank = ((rank[run_start] + rank[run_end]) / 2.0)[np.cumsum(new_run) - 1] + 1.0
    clicked = np.bincount(stratum, weights=y)
    pairs = clicked * (np.bincount(stratum) - clicked)
    if pairs.sum() == 0:
        return None
    above = np.bincount(stratum, weights=y * mean_rank) - clicked * (clicked + 1) / 2
    return float(above.sum() / pairs.sum())


def _evaluate(lists: _Lists, s: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """(per-list metrics of the scored lists, impressions in them) for validated scores `s`."""
    n_lists = len(lists.ids)
    # By list, then descending score, then tiebreak, then row: stable sorts from the last key,
    # the list last through a unique int64 key (cheaper than np.lexsort).
    n = len(s)
    order = np.arange(n) if lists.tiebreak is None else np.argsort(lists.tiebreak, kind="stable")
    order = order[np.argsort(-s[order], kind="stable")]
    within = np.empty(n, dtype=np.int64)
    within[order] = np.arange(n)
    order = np.argsort(lists.codes * n + within)
    g, y, s = lists.codes[order], lists.labels[order], s[order]
    size = np.bincount(g, minlength=n_lists)
    rank = np.arange(len(g)) - (np.cumsum(size) - size)[g]  # 0-based within the list, best first
    pos = np.bincount(g, weights=y, minlength=n_lists)
    neg = size - pos
    # AUC from average ranks: a run of tied scores in a list shares its mean position.
    new_run = np.ones(len(g), dtype=bool)
    new_run[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], len(g)) - 1
    mean_rank = ((rank[run_start] + rank[run_end]) / 2.0)[np.cumsum(new_run) - 1]
    ascending = size[g] - mean_rank  # 1-based rank from the lowest score
    rank_sum = np.bincount(g, weights=y * ascending, minlength=n_lists)
    discount = 1.0 / np.log2(rank + 2.0)
    ideal = np.concatenate(([0.0], np.cumsum(1.0 / np.log2(np.arange(max(_KS)) + 2.0))))
    scored = (pos > 0) & (neg > 0)
    p, q = pos[scored], neg[scored]
    out = {
        "group": lists.ids[scored],
        "auc": (rank_sum[scored] - p * (p + 1) / 2) / (p * q),
        "mrr": np.bincount(g, weights=y / (rank + 1.0), minlength=n_lists)[scored] / p,
    }
    for k in _KS:  # binary labels: the gain 2^label - 1 is the label
        dcg = np.bincount(g, weights=np.where(rank < k, y * discount, 0.0), minlength=n_lists)
        out[f"ndcg@{k}"] = dcg[scored] / ideal[np.minimum(p, k).astype(np.int64)]
    return out, int(size[scored].sum())


def _summary(
    per: dict[str, np.ndarray], impressions: int, n_lists: int, auc_by_position: float | None = None
) -> NewsMetrics:
    lists = len(per["auc"])
    if lists == 0:
        raise ValueError(f"labels: no list has both a click and a non-click ({n_lists} skipped)")
    mean = {name: float(values.mean()) for name, values in per.items() if name != "group"}
    return NewsMetrics(
        lists=lists, skipped=n_lists - lists, impressions=impressions, auc=mean["auc"], mrr=mean["mrr"],
        ndcg_at_5=mean["ndcg@5"], ndcg_at_10=mean["ndcg@10"], auc_by_position=auc_by_position,
    )  # fmt: skip


def _judge(lists: _Lists, scores: np.ndarray, name: str = "scores") -> NewsMetrics:
    s = _numbers(name, scores, len(lists.codes))
    per, impressions = _evaluate(lists, s)
    by_position = None if lists.positions is None else _auc_by_position(lists.positions, lists.labels, s)
    return _summary(per, impressions, len(lists.ids), by_position)


def news_metrics(
    groups: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    tiebreak: np.ndarray | None = None,
    positions: np.ndarray | None = None,
) -> NewsMetrics:
    """Mean AUC, MRR, nDCG@5 and nDCG@10 over the impression lists (rows sharing a group id,
    contiguous or not) that hold both a click and a non-click; with `positions` (the logged
    slot of each row), also `auc_by_position` over every row."""
    return _judge(_lists(groups, labels, tiebreak, positions), scores)


def per_list(
    groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, tiebreak: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per scored list, in order of first appearance: "group" (its id), "auc", "mrr", "ndcg@5",
    "ndcg@10"; for paired comparisons of two scorers on the same lists."""
    lists = _lists(groups, labels, tiebreak)
    return _evaluate(lists, _numbers("scores", scores, len(lists.codes)))[0]


def compare(
    groups: np.ndarray,
    labels: np.ndarray,
    scores_by_name: Mapping[str, np.ndarray],
    tiebreak: np.ndarray | None = None,
    positions: np.ndarray | None = None,
) -> dict[str, dict[str, float | int]]:
    """`NewsMetrics.as_dict()` of each named scorer, all on exactly the same lists."""
    if not scores_by_name:
        raise ValueError("scores_by_name: no scorer to compare")
    lists = _lists(groups, labels, tiebreak, positions)
    return {
        name: _judge(lists, scores, f"scores_by_name[{name!r}]").as_dict()
        for name, scores in scores_by_name.items()
    }
