"""The learned ranker: point-in-time features, XGBoost training, numpy scoring."""
