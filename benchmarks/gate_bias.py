"""Does the gate's metric favour the model that ordered the logged lists?
`./pants run benchmarks/gate_bias.py`.

On a simulated news world (`--users` readers, the simulator's click model, its examination
curve 1 / (1 + p) ** 0.8), at one moment every reader is shown `--shown` live articles ordered by
an incumbent that knows each reader's true click logit only through noise (`--incumbent-noise`,
standard deviation on the logit); clicks are drawn from the true probabilities. Three scorers
then re-rank the same logged lists:
- `incumbent`: the scores that ordered them (what a champion gets on its own days);
- `better`: the true logit with less noise (`--better-noise`), a better retrain;
- `truth`: the true logit.
Judged by MIND's within-list AUC (`auc`) and by clicked against non-clicked items at the same
position (`auc_by_position`, components.evaluation.news), over `--repeats` seeds of the noise
and the clicks. A fair metric orders them truth > better > incumbent.

Last line, one JSON object: per metric, the mean of each scorer over the repeats and in how many
repeats the metric put the three in the true order; `within_list_prefers_incumbent` (repeats
where the incumbent beat the better model within lists).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import numpy as np

from components.evaluation.news import compare
from components.simulator.behaviour import UserModel, examination
from components.simulator.world import World, WorldConfig

SCORERS = ("incumbent", "better", "truth")
METRICS = ("auc", "auc_by_position")


def logged_day(
    model: UserModel, world: World, at: float, shown: int, noise: tuple[float, float], seed: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """(scores per scorer, list of each row, position, clicked) of one moment's lists."""
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(world.catalogue.live(at))
    examined = examination(np.arange(shown, dtype=float))
    scores: dict[str, list[np.ndarray]] = {name: [] for name in SCORERS}
    clicked = []
    for user_id in world.population.ids:
        truth = np.log(np.maximum(model.relevance_idx(user_id, live, at), 1e-12))
        incumbent = truth + rng.normal(0.0, noise[0], len(live))
        better = truth + rng.normal(0.0, noise[1], len(live))
        top = np.argsort(-incumbent)[:shown]
        clicked.append(rng.random(shown) < examined * np.exp(truth[top]))
        for name, values in zip(SCORERS, (incumbent, better, truth), strict=True):
            scores[name].append(values[top])
    n = len(world.population.ids)
    return (
        {name: np.concatenate(parts) for name, parts in scores.items()},
        np.repeat(np.arange(n), shown),
        np.tile(np.arange(shown), n),
        np.concatenate(clicked).astype(np.int64),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=4_000)
    p.add_argument("--shown", type=int, default=10)
    p.add_argument("--incumbent-noise", type=float, default=1.2)
    p.add_argument("--better-noise", type=float, default=0.6)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    # The world's dates are relative to the run; one moment a day and a half in.
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    world = World.build(WorldConfig(seed=args.seed, start=start, days=2, users=args.users))
    model = UserModel(world)
    at = start.timestamp() + 1.5 * 86_400.0
    values: dict[str, dict[str, list[float]]] = {m: {s: [] for s in SCORERS} for m in METRICS}
    clicks = impressions = 0
    for repeat in range(args.repeats):
        scores, groups, position, clicked = logged_day(
            model, world, at, args.shown, (args.incumbent_noise, args.better_noise), seed=repeat
        )
        clicks += int(clicked.sum())
        impressions += len(clicked)
        report = compare(groups, clicked, scores, tiebreak=position, positions=position)
        for metric in METRICS:
            for name in SCORERS:
                values[metric][name].append(float(report[name][metric]))
        print(
            f"repeat {repeat}: "
            + "; ".join(
                f"{metric} " + " ".join(f"{s} {values[metric][s][-1]:.4f}" for s in SCORERS)
                for metric in METRICS
            )
        )
    summary: dict[str, object] = {"users": args.users, "repeats": args.repeats, "impressions": impressions,
                                  "clicks": clicks}  # fmt: skip
    for metric in METRICS:
        v = {s: np.array(values[metric][s]) for s in SCORERS}
        summary[metric] = {s: round(float(v[s].mean()), 4) for s in SCORERS}
        summary[f"{metric}_true_order"] = int(
            np.sum((v["truth"] > v["better"]) & (v["better"] > v["incumbent"]))
        )
    within = values["auc"]
    summary["within_list_prefers_incumbent"] = int(
        np.sum(np.array(within["incumbent"]) > np.array(within["better"]))
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
