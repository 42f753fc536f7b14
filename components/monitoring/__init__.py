"""Drift monitoring: Evidently reports comparing a day's data with the days before it."""
