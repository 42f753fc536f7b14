"""The MLflow pyfunc wrapper of a stored model.

Logged as "models from code" (`pyfunc_entry.py`), so MLflow stores source, not a pickled
object; the learned state is the `model` artifact folder written by `save_model`.
Input: a DataFrame with `user_id`, optional `k` (default 10), `exclude` and `recent` (lists of
article ids). Output: one row per input row with `article_ids`, `scores` and `reason`
("personal", or "unknown_user" with empty lists when the model cannot score the user).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from components.models.artifacts import load_model
from components.models.base import Recommender, UnknownUserError

MODEL_ARTIFACT = "model"


class RecoPythonModel(PythonModel):
    recommender: Recommender

    def load_context(self, context: Any) -> None:
        self.recommender = load_model(context.artifacts[MODEL_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        if "user_id" not in model_input.columns:
            raise ValueError("model_input: column 'user_id' is required")
        rows = []
        for record in model_input.to_dict("records"):
            k = int(record.get("k") or 10)
            try:
                items, scores = self.recommender.recommend(
                    str(record["user_id"]),
                    k,
                    exclude=_ids(record.get("exclude")),
                    recent=_ids(record.get("recent")),
                )
                rows.append(
                    {"article_ids": items, "scores": [float(s) for s in scores], "reason": "personal"}
                )
            except UnknownUserError:
                rows.append({"article_ids": [], "scores": [], "reason": "unknown_user"})
        return pd.DataFrame(rows, index=model_input.index)


def _ids(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [str(v) for v in value]
