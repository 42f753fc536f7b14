"""What a recommend request reads, as one immutable value: the catalogue, the loaded models
bound to it, the canary share and the exploration state. Background refreshes build a new
snapshot and swap the service's reference; a request takes the reference once, so it never
sees half of an update (a model bound to another catalogue, pools of a withdrawn article)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from components.exploration import ExplorationPolicy
from components.names import CANARY, CHAMPION, FALLBACK
from components.ranking.intraday import Intraday
from components.serving.catalogue import Catalogue, PopularityRule
from components.serving.ranking import ServingModel
from components.serving.routing import variant_for


@dataclass(frozen=True)
class Snapshot:
    catalogue: Catalogue
    models: Mapping[str, ServingModel] = field(default_factory=dict)
    canary_share: float = 0.0
    explorer: ExplorationPolicy | None = None
    # Exploration pools: section -> under-exposed live article ids, newest first.
    explore_pools: Mapping[str, list[str]] = field(default_factory=dict)
    # The articles' intraday signals (the learned ranker's): None until first read.
    intraday: Intraday | None = None

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(Catalogue.empty())

    # --- building the next one ------------------------------------------------------------
    def with_catalogue(self, catalogue: Catalogue) -> Snapshot:
        """The same models, bound to `catalogue`."""
        models = {alias: m.rebind(catalogue) for alias, m in self.models.items()}
        return replace(self, catalogue=catalogue, models=models)

    def with_models(self, models: Mapping[str, ServingModel]) -> Snapshot:
        return replace(self, models=dict(models))

    def with_intraday(self, intraday: Intraday) -> Snapshot:
        return replace(self, intraday=intraday)

    def has_ranker(self) -> bool:
        return any(m.is_ranker for m in self.models.values())

    def with_canary_share(self, share: float) -> Snapshot:
        return replace(self, canary_share=share)

    def with_exploration(self, explorer: ExplorationPolicy, pools: Mapping[str, list[str]]) -> Snapshot:
        return replace(self, explorer=explorer, explore_pools=dict(pools))

    def without(self, articles: Mapping[str, float], *, now_s: float, rule: PopularityRule) -> Snapshot:
        """`articles` withdrawn: out of the catalogue and the exploration pools at once."""
        pools = {s: [a for a in pool if a not in articles] for s, pool in self.explore_pools.items()}
        return replace(
            self.with_catalogue(self.catalogue.without(articles, now_s=now_s, rule=rule)), explore_pools=pools
        )

    # --- what requests ask ----------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        return {alias: m.version for alias, m in self.models.items()}

    def route(self, user_id: str) -> tuple[str, ServingModel | None]:
        """The variant and its model: the canary for a stable share of readers, else the
        champion; no model at all is the popular fallback."""
        canary = self.models.get(CANARY)
        if variant_for(user_id, self.canary_share, has_canary=canary is not None) == CANARY:
            return CANARY, canary
        champion = self.models.get(CHAMPION)
        return (CHAMPION, champion) if champion is not None else (FALLBACK, None)

    def pool_for(self, article_id: str) -> list[str]:
        """The exploration pool of the article's section."""
        row = self.catalogue.index.get(article_id)
        return [] if row is None else self.explore_pools.get(str(self.catalogue.category[row]), [])


__all__ = ["Snapshot"]
