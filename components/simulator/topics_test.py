from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from components.simulator import TrafficGenerator, UserModel, World, WorldConfig
from components.simulator.traffic import HousePolicy, reference_policy
from components.simulator.world import CATEGORIES, SECTION_TOPICS, TOPIC_NAMES, TOPIC_SECTION, TOPIC_WORDS

START = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return World.build(WorldConfig(seed=5, start=START, days=1, users=600, articles_per_day=60))


def test_articles_belong_to_a_topic_of_their_section(world: World) -> None:
    cat = world.catalogue
    assert len(cat.topic) == len(cat)
    assert np.array_equal(TOPIC_SECTION[cat.topic], cat.category)
    again = World.build(world.config)
    assert np.array_equal(again.catalogue.topic, cat.topic)
    assert np.array_equal(again.population.topic_shares, world.population.topic_shares)
    # every topic is used
    assert set(np.unique(cat.topic).tolist()) == set(range(len(TOPIC_NAMES)))


def test_topics_leave_the_rest_of_the_world_as_it_was(world: World) -> None:
    # drawn from streams of their own: sections, times and appeal do not move with them
    from components.simulator import world as world_module

    rng = np.random.default_rng([world.config.seed, 0])
    n = int(rng.poisson(world.config.articles_per_day))
    published = world.config.start.timestamp() - world.config.backlog_days * 86_400.0
    first = world_module.draw_articles(rng, n, published + np.sort(world_module.draw_times_of_day(rng, n)), 0)
    assert np.array_equal(first.category, world.catalogue.category[:n])
    assert np.array_equal(first.appeal, world.catalogue.appeal[:n])


def test_readers_taste_reorders_a_sections_topics(world: World) -> None:
    model = UserModel(world)
    at = (START + timedelta(hours=12)).timestamp()
    cat = world.catalogue
    live = cat.live(at)
    liked = disliked = 0.0
    for user in world.population.ids[:300]:
        shares = model.topic_shares(user)
        for topics in SECTION_TOPICS:
            assert shares[topics].sum() == pytest.approx(1.0, abs=0.01)
        section = int(np.argmax(model.preferences(user, at)))
        topics = SECTION_TOPICS[section]
        best, worst = topics[np.argmax(shares[topics])], topics[np.argmin(shares[topics])]
        for topic, bucket in ((best, "liked"), (worst, "disliked")):
            items = live[cat.topic[live] == topic]
            if not len(items):
                continue
            mean = float(model.relevance_idx(user, items, at).mean())
            if bucket == "liked":
                liked += mean
            else:
                disliked += mean
    assert liked > 2.0 * disliked


def test_text_reveals_the_topic_noisily(world: World) -> None:
    cat = world.catalogue
    records = cat.records()
    vocab = {
        topic: set(TOPIC_WORDS[CATEGORIES[int(TOPIC_SECTION[t])]][topic])
        for t, topic in enumerate(TOPIC_NAMES)
    }
    hits = own_share = 0.0
    for record, topic in zip(records, cat.topic, strict=True):
        words = f"{record['title']} {record['abstract']}".lower().replace(",", " ").replace(":", " ").split()
        counts = Counter({t: sum(w in vocab[name] for w in words) for t, name in enumerate(TOPIC_NAMES)})
        guess, _ = counts.most_common(1)[0]
        hits += guess == topic
        own_share += counts[int(topic)] / max(sum(counts.values()), 1)
    accuracy, share = hits / len(records), own_share / len(records)
    # a reader of the text can tell the topic more often than not, but not always
    assert 0.6 < accuracy < 0.98, accuracy
    assert 0.45 < share < 0.75, share


def test_reference_policies_bound_the_house_ranking() -> None:
    ctr = {}
    for name in ("house", "popfresh", "oracle"):
        world = World.build(WorldConfig(seed=9, start=START, days=1, users=1_500, articles_per_day=80))
        model = UserModel(world)
        policy = HousePolicy(world) if name == "house" else reference_policy(name, world, model)
        (day,) = list(TrafficGenerator(world, model=model, policy=policy).days())
        ctr[name] = day.counts["click"] / day.counts["impression"]
        if name != "house":
            assert all(e.get("propensity", 1.0) == 1.0 for e in day.events if e["type"] == "impression")
    assert ctr["oracle"] > 2.0 * ctr["popfresh"] > 2.0 * ctr["house"], ctr
    with pytest.raises(ValueError, match="policy: unknown reference policy 'nope'"):
        reference_policy("nope", World.build(WorldConfig(seed=9, start=START, days=1, users=10)), model)
