from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from components.simulator import UserModel, World, WorldConfig

START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    return World.build(WorldConfig(seed=21, start=START, days=2, users=500, articles_per_day=40))


def live_ids(world: World, at: float) -> list[str]:
    return [world.catalogue.ids[i] for i in world.catalogue.live(at)]


def test_expired_and_unpublished_articles_are_never_clicked(world: World) -> None:
    model = UserModel(world)
    at = (START + timedelta(hours=12)).timestamp()
    cat = world.catalogue
    dead = [cat.ids[i] for i in np.flatnonzero((cat.expires_at <= at) | (cat.published_at > at))[:10]]
    assert len(dead) == 10
    assert model.click_probabilities("u0000001", dead, at).max() == 0.0
    for _ in range(50):
        assert not any(r.clicked for r in model.respond("u0000001", dead, at))


def test_a_list_ranked_by_true_relevance_beats_a_random_one(world: World) -> None:
    model = UserModel(world)
    at = (START + timedelta(hours=12)).timestamp()
    candidates = live_ids(world, at)
    rng = np.random.default_rng(0)
    best_total = random_total = 0.0
    for user in world.population.ids[:200]:
        # probabilities at position 0 rank items by relevance alone
        relevance = np.array([model.click_probabilities(user, [a], at)[0] for a in candidates])
        best = [candidates[i] for i in np.argsort(-relevance)[:10]]
        shuffled = [candidates[i] for i in rng.choice(len(candidates), 10, replace=False)]
        best_total += model.click_probabilities(user, best, at).sum()
        random_total += model.click_probabilities(user, shuffled, at).sum()
    assert best_total > 2 * random_total


def test_responses_report_dwell_only_for_clicks_and_remember_reads(world: World) -> None:
    model = UserModel(world)
    at = (START + timedelta(hours=20)).timestamp()
    items = live_ids(world, at)[:10]
    clicked_any = False
    for user in world.population.ids[:300]:
        for response in model.respond(user, items, at):
            assert (response.dwell_ms is not None) == response.clicked
            if response.clicked:
                clicked_any = True
                assert response.dwell_ms is not None and response.dwell_ms > 0
                before = model.click_probabilities(user, [response.article_id], at)[0]
                assert model.has_read(user, model.indices([response.article_id])[0])
                assert before < 0.05
    assert clicked_any


def test_same_seed_and_calls_give_the_same_answers(world: World) -> None:
    at = (START + timedelta(hours=9)).timestamp()
    items = live_ids(world, at)[:10]
    first = [UserModel(world).respond(u, items, at) for u in ["u0000003", "visitor-x"]]
    rebuilt = World.build(world.config)
    second = [UserModel(rebuilt).respond(u, items, at) for u in ["u0000003", "visitor-x"]]
    assert first == second


def test_unknown_visitors_get_stable_tastes(world: World) -> None:
    at = START.timestamp()
    a = UserModel(world).preferences("new-visitor-42", at)
    b = UserModel(World.build(world.config)).preferences("new-visitor-42", at)
    assert np.allclose(a, b)
    assert a.sum() == pytest.approx(1.0)
    assert not np.allclose(a, UserModel(world).preferences("new-visitor-43", at))


def test_unknown_article_is_named(world: World) -> None:
    with pytest.raises(ValueError, match="'nope'"):
        UserModel(world).respond("u0000001", ["nope"], START.timestamp())


def test_registered_visitor_joins_the_returning_pool(world: World) -> None:
    model = UserModel(world)
    before = len(world.population)
    tastes = model.preferences("v-new", START.timestamp())
    model.register_many(["v-new", "v-new", world.population.ids[0]])
    assert len(world.population) == before + 1
    assert world.population.ids[-1] == "v-new"
    assert np.allclose(world.population.preferences[-1], tastes)
