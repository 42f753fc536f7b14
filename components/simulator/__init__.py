"""A synthetic article platform: catalogue, readers, traffic and a closed-loop user model."""

from components.simulator.behaviour import Response, UserModel
from components.simulator.run import SimulationSummary, simulate_to_files, simulate_to_kafka
from components.simulator.traffic import (
    HOUSE_MODEL_VERSION,
    DayTraffic,
    HousePolicy,
    RankingPolicy,
    Session,
    TrafficGenerator,
)
from components.simulator.world import (
    CATEGORIES,
    Catalogue,
    Population,
    PreferenceShift,
    World,
    WorldConfig,
)

__all__ = [
    "CATEGORIES",
    "HOUSE_MODEL_VERSION",
    "Catalogue",
    "DayTraffic",
    "HousePolicy",
    "Population",
    "PreferenceShift",
    "RankingPolicy",
    "Response",
    "Session",
    "SimulationSummary",
    "TrafficGenerator",
    "UserModel",
    "World",
    "WorldConfig",
    "simulate_to_files",
    "simulate_to_kafka",
]
