"""The names are a storage contract: the registry, the serving cache, the event log and Redis
hold them. These literals are written out on purpose; a change here must come with a
migration of what is already stored."""

from __future__ import annotations

from components.names import (
    ALIASES,
    ARMS,
    CANARY,
    CHALLENGER,
    CHAMPION,
    CLICK_FIELD,
    EXPLORE,
    FALLBACK,
    GREEDY,
    IMPRESSION_FIELD,
    VARIANTS,
    catalogue_channel,
    catalogue_withdrawn_key,
    erased_key,
    feedback_bucket_key,
    feedback_seen_key,
    publication_key,
    recent_key,
    retrain_cooldown_key,
    rollout_key,
)


def test_registry_aliases_variants_and_arms() -> None:
    assert (CHALLENGER, CANARY, CHAMPION) == ("challenger", "canary", "champion")
    assert set(ALIASES) == {"challenger", "canary", "champion"}
    assert FALLBACK == "fallback" and set(VARIANTS) == {"champion", "canary", "fallback"}
    assert (GREEDY, EXPLORE) == ("greedy", "explore") and set(ARMS) == {"greedy", "explore"}


def test_redis_key_formats() -> None:
    assert rollout_key("reco:") == "reco:rollout"
    assert recent_key("reco:", "u-42") == "reco:recent:u-42"
    assert feedback_bucket_key("reco:", 480_000) == "reco:fb:480000"
    assert feedback_seen_key("reco:", "e-1") == "reco:fb:seen:e-1"
    assert retrain_cooldown_key("reco:") == "reco:retrain:cooldown"
    assert catalogue_withdrawn_key("reco:") == "reco:catalogue:withdrawn"
    assert catalogue_channel("reco:") == "reco:catalogue:changes"
    assert erased_key("reco:", "ab12") == "reco:erased:ab12"
    assert publication_key("reco:") == "reco:serving:publication"
    assert (IMPRESSION_FIELD, CLICK_FIELD) == ("i:", "c:")


def test_keys_take_the_prefix_verbatim() -> None:
    # No separator is added or stripped: the prefix carries its own (settings default "reco:").
    assert rollout_key("") == "rollout"
    assert recent_key("t-1/", "u") == "t-1/recent:u"
    assert feedback_bucket_key("x", -1) == "xfb:-1"


def test_keys_of_different_kinds_never_collide() -> None:
    # A seen marker must not land in a bucket's key space, nor a user's list in another's.
    keys = {
        rollout_key("p:"),
        recent_key("p:", "rollout"),
        feedback_bucket_key("p:", 1),
        feedback_seen_key("p:", "1"),
        retrain_cooldown_key("p:"),
        catalogue_withdrawn_key("p:"),
        catalogue_channel("p:"),
        erased_key("p:", "1"),
    }
    assert len(keys) == 8
