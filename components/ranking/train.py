"""Training the learned ranker: XGBoost `rank:ndcg` over logged impression lists.

Why XGBoost rather than LightGBM: both do lambdarank well on CPU, but only XGBoost trains on a
GPU from its standard wheel (`device="cuda"`), and its JSON model format is documented and
stable, so serving evaluates the trees with numpy (components.ranking.trees) and never loads
compiled code from the registry. The same model file comes out of CPU and GPU training.

Every shown item is a training row, clicked (1) or shown and not clicked (0), grouped by request;
lists without a click carry no ranking signal and are left out. The position it was shown at is
a feature (see components.ranking.features): the model learns the examination effect apart from
relevance, and serving fixes position to 0 for every candidate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from components.ranking.features import FEATURES, LoggedLists

MODEL_FILE = "ranker.json"
META_FILE = "ranker_meta.json"
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class RankerParams:
    # 120 trees of depth 5 score 300 candidates in about 0.5 ms (p99 0.8 ms) with numpy
    # (components.ranking.trees), inside the rank stage's 1 ms; 300 trees of depth 6 took
    # 1.5 ms and ranked no better on simulated news (docs/benchmarks.md).
    n_estimators: int = 120
    max_depth: int = 5
    learning_rate: float = 0.15
    min_child_weight: float = 5.0
    subsample: float = 0.8
    colsample_bytree: float = 0.9
    reg_lambda: float = 1.0
    # NDCG@10 pairs within each list ("rank:ndcg" with lambdarank's top-k truncation)
    truncation: int = 10
    seed: int = 0


def gpu_present() -> bool:
    """A CUDA device this process can use: the driver's tool answers and lists one."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def choose_device(requested: str = "auto", *, probe: Callable[[], bool] = gpu_present) -> str:
    """ "cuda" or "cpu". `auto` takes the GPU when one is present and this xgboost was built
    with CUDA; asking for `cuda` without one is an error, not a silent CPU run."""
    if requested not in DEVICES:
        raise ValueError(f"device: must be one of {', '.join(DEVICES)} (got {requested!r})")
    if requested == "cpu":
        return "cpu"
    usable = bool(xgb.build_info().get("USE_CUDA")) and probe()
    if requested == "cuda" and not usable:
        raise ValueError(
            "device: cuda requested, but no CUDA device (or no CUDA build of xgboost) is present"
        )
    return "cuda" if usable else "cpu"


def _groups(request_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, qid): rows reordered so each request's rows are contiguous, and their query ids."""
    _, qid = np.unique(request_id.astype(str), return_inverse=True)
    order = np.argsort(qid, kind="stable")
    return order, qid[order]


def training_rows(lists: LoggedLists) -> LoggedLists:
    """The lists that teach something: at least one click and one non-click."""
    _, inverse = np.unique(lists.request_id.astype(str), return_inverse=True)
    clicks = np.bincount(inverse, weights=lists.clicked.astype(float))
    sizes = np.bincount(inverse)
    useful = (clicks > 0) & (clicks < sizes)
    return lists.select(useful[inverse])


def train_ranker(
    lists: LoggedLists, params: RankerParams | None = None, *, device: str = "cpu"
) -> xgb.Booster:
    params = params or RankerParams()
    data = training_rows(lists)
    if len(data.request_id) == 0:
        raise ValueError("lists: no request has both a clicked and a not-clicked item to learn from")
    order, qid = _groups(data.request_id)
    matrix = xgb.DMatrix(
        data.features[order],
        label=data.clicked[order].astype(np.float32),
        qid=qid,
        feature_names=list(FEATURES),
    )
    booster = xgb.train(
        {
            "objective": "rank:ndcg",
            "lambdarank_num_pair_per_sample": params.truncation,
            "lambdarank_pair_method": "topk",
            "eval_metric": f"ndcg@{params.truncation}",
            "tree_method": "hist",
            "device": device,
            "max_depth": params.max_depth,
            "eta": params.learning_rate,
            "min_child_weight": params.min_child_weight,
            "subsample": params.subsample,
            "colsample_bytree": params.colsample_bytree,
            "lambda": params.reg_lambda,
            "seed": params.seed,
            "nthread": os.cpu_count() or 1,
        },
        matrix,
        num_boost_round=params.n_estimators,
    )
    return booster


def save_ranker(
    booster: xgb.Booster,
    directory: str | os.PathLike[str],
    *,
    prior_ctr: float,
    extra: dict[str, Any] | None = None,
) -> Path:
    """The trees in XGBoost's JSON format plus what scoring needs beside them."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out / MODEL_FILE))
    meta = {"features": list(FEATURES), "prior_ctr": prior_ctr, **(extra or {})}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


def params_dict(params: RankerParams) -> dict[str, Any]:
    return asdict(params)
