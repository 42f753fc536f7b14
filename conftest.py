"""Loads reco's shared fixtures (real services on loopback) for every test in the repo."""

pytest_plugins = ["components.testing.fixtures"]
