"""Features: the computations behind the Feast sources, and Feast itself (apply, materialize,
point-in-time training sets, async online reads)."""

from components.features.compute import ARTICLE_FEATURES, USER_FEATURES, FeatureTables, compute_features

__all__ = ["ARTICLE_FEATURES", "USER_FEATURES", "FeatureTables", "compute_features"]
