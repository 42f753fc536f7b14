"""Features: the computations behind the Feast sources, and Feast itself (apply, materialize,
point-in-time training sets, async online reads). The features themselves (names, types,
defaults, roles) are defined once, in feature_repo/definitions.py."""

from components.features.compute import FeatureTables, compute_features

__all__ = ["FeatureTables", "compute_features"]
