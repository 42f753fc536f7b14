"""The recommend service's health: which dependency is failing and why. Written by the
refresh sources (each owns the flag named after it) and the request path (`redis`); read by
/readyz, which never changes it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from components.config.redact import redact
from components.serving.metrics import ServingMetrics

log = logging.getLogger("reco.serving")


class Health:
    def __init__(self, metrics: ServingMetrics, secrets: Iterable[str] = ()):
        self.metrics = metrics
        self.secrets = list(secrets)
        self.problems: dict[str, str] = {}

    def flag(self, dependency: str, problem: str | None) -> None:
        """`dependency` is failing with `problem`, or works again (None)."""
        if problem is None:
            if self.problems.pop(dependency, None) is not None:
                log.info("%s recovered", dependency)
        else:
            # /readyz shows it: no URL password or secret may pass.
            problem = redact(problem, self.secrets)[:500]
            if dependency not in self.problems:
                log.warning("%s degraded: %s", dependency, problem)
            self.problems[dependency] = problem
        self.metrics.degraded.labels(dependency=dependency).set(0 if problem is None else 1)

    def __contains__(self, dependency: str) -> bool:
        return dependency in self.problems

    @property
    def degraded(self) -> list[str]:
        return sorted(self.problems)


__all__ = ["Health"]
