"""Rendering the daily flow for Argo Workflows offline, and checking what was rendered."""
