"""Recommendation models behind one interface, stored as numpy arrays and JSON (no pickle).

Inference (`base`, `kinds`, `artifacts`) needs numpy only, so the lean serving resolve can load
and score models; fitting (`fit`) needs scipy and implicit and lives in the pipelines resolve.
"""

from components.models.artifacts import load_model, save_model
from components.models.base import Recommender, UnknownUserError
from components.models.kinds import EaseModel, FactorModel, PopularityModel

__all__ = [
    "EaseModel",
    "FactorModel",
    "PopularityModel",
    "Recommender",
    "UnknownUserError",
    "load_model",
    "save_model",
]
