"""Health and metrics endpoints for the background workers (no heavy imports: the lean
service images carry this package)."""

from components.health.server import STALL_S, polling, serve_health

__all__ = ["STALL_S", "polling", "serve_health"]
