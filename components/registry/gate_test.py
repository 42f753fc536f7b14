import pytest

from components.config.settings import GateSettings
from components.registry.gate import decide

POLICY = GateSettings(
    min_ndcg_gain=0.01, max_coverage_drop=0.10, max_latency_increase=0.5, latency_slack_ms=2.0
)
CHAMPION = {"ndcg_at_10": 0.300, "coverage": 0.40, "recommend_p95_ms": 4.0}


def _decide(**challenger: float) -> tuple[bool, str, dict[str, bool]]:
    metrics = {**CHAMPION, **challenger}
    d = decide(metrics, CHAMPION, POLICY, challenger_version="2", champion_version="1")
    return d.promoted, d.reason, {c.name: c.passed for c in d.checks}


REFERENCES = {"baseline_popularity_ndcg_at_10": 0.20, "baseline_random_ndcg_at_10": 0.01}


def test_first_model_is_promoted_when_it_beats_the_references() -> None:
    d = decide({**CHAMPION, **REFERENCES}, None, POLICY, challenger_version="1", champion_version=None)
    assert d.promoted and "no champion" in d.reason
    assert [c.name for c in d.checks] == list(REFERENCES) and all(c.passed for c in d.checks)
    # a run from before the references were measured: only the champion comparison applies
    legacy = decide(CHAMPION, None, POLICY, challenger_version="1", champion_version=None)
    assert legacy.promoted and legacy.checks == []


@pytest.mark.parametrize("champion", [None, CHAMPION])
@pytest.mark.parametrize(
    ("references", "in_reason"),
    [
        ({"baseline_popularity_ndcg_at_10": 0.36}, "does not beat baseline_popularity_ndcg_at_10 0.3600"),
        ({"baseline_random_ndcg_at_10": 0.35}, "does not beat baseline_random_ndcg_at_10 0.3500"),
        ({"baseline_popularity_ndcg_at_10": 0.35}, "ndcg_at_10 0.3500 does not beat"),  # a tie is no win
    ],
)
def test_a_model_that_does_not_beat_popularity_and_random_is_never_promoted(
    champion: dict[str, float] | None, references: dict[str, float], in_reason: str
) -> None:
    challenger = {**CHAMPION, "ndcg_at_10": 0.35, **REFERENCES, **references}
    d = decide(
        challenger, champion, POLICY, challenger_version="2", champion_version="1" if champion else None
    )
    assert not d.promoted and d.reason.startswith("refused: ") and in_reason in d.reason


def test_promotes_a_clear_improvement_within_guardrails() -> None:
    promoted, reason, checks = _decide(ndcg_at_10=0.304, coverage=0.37, recommend_p95_ms=7.9)
    assert promoted, reason
    assert all(checks.values())


@pytest.mark.parametrize(
    ("challenger", "failed", "in_reason"),
    [
        ({"ndcg_at_10": 0.302}, "ndcg_at_10", "ndcg_at_10 0.3020 < 0.3030"),  # +0.7 %: under the 1 % bar
        ({"ndcg_at_10": 0.250}, "ndcg_at_10", "champion 0.3000"),
        ({"ndcg_at_10": 0.35, "coverage": 0.35}, "coverage", "coverage 0.3500 < 0.3600"),
        ({"ndcg_at_10": 0.35, "recommend_p95_ms": 8.5}, "recommend_p95_ms", "recommend_p95_ms 8.50 > 8.00"),
    ],
)
def test_refuses_and_names_the_failed_check(
    challenger: dict[str, float], failed: str, in_reason: str
) -> None:
    promoted, reason, checks = _decide(**challenger)
    assert not promoted
    assert not checks[failed]
    assert reason.startswith("refused: ") and in_reason in reason


def test_missing_metric_is_an_error_naming_it() -> None:
    with pytest.raises(LookupError, match="champion run has no metric 'coverage'"):
        decide(
            CHAMPION,
            {"ndcg_at_10": 0.2, "recommend_p95_ms": 1.0},
            POLICY,
            challenger_version="2",
            champion_version="1",
        )


NEWS = {"news_auc": 0.70, "news_popularity_auc": 0.60, "news_random_auc": 0.50}


def test_news_auc_judges_when_both_runs_re_ranked_logged_lists() -> None:
    # The challenger is worse at top-k NDCG (which favours the policy that served the day) but
    # better on the logged lists: the news metric decides.
    champion = {**CHAMPION, **NEWS}
    better = {**CHAMPION, "ndcg_at_10": 0.10, **NEWS, "news_auc": 0.75}
    d = decide(better, champion, POLICY, challenger_version="2", champion_version="1")
    assert d.promoted and d.reason.startswith("news_auc 0.7500 beats champion 0.7000")
    assert {c.name for c in d.checks} >= {"news_auc", "news_popularity_auc", "news_random_auc"}
    # Not beating plain popularity on the same lists is a refusal, the first model included.
    weak = {**CHAMPION, **NEWS, "news_auc": 0.60}
    first = decide(weak, None, POLICY, challenger_version="1", champion_version=None)
    assert not first.promoted and "news_auc 0.6000 does not beat news_popularity_auc 0.6000" in first.reason
    # A champion measured before the news protocol: both are compared on NDCG@10.
    legacy = decide(
        {**CHAMPION, **NEWS, "ndcg_at_10": 0.31},
        CHAMPION,
        POLICY,
        challenger_version="2",
        champion_version="1",
    )
    assert legacy.promoted and legacy.reason.startswith("ndcg_at_10")


BY_POSITION = {
    "news_auc_by_position": 0.66, "news_popularity_auc_by_position": 0.60, "news_random_auc_by_position": 0.50,
}  # fmt: skip


def test_the_position_wise_auc_judges_when_both_runs_measured_it() -> None:
    # The champion wins within its own lists (it ordered them) but loses at equal positions: the
    # position-wise metric decides, with its own references.
    champion = {**CHAMPION, **NEWS, "news_auc": 0.75, **BY_POSITION}
    retrain = {**CHAMPION, **NEWS, "news_auc": 0.72, **BY_POSITION, "news_auc_by_position": 0.68}
    d = decide(retrain, champion, POLICY, challenger_version="2", champion_version="1")
    assert d.promoted and d.reason.startswith("news_auc_by_position 0.6800 beats champion 0.6600")
    assert {c.name for c in d.checks} >= {
        "news_auc_by_position", "news_popularity_auc_by_position", "news_random_auc_by_position",
    }  # fmt: skip
    weak = {**retrain, "news_popularity_auc_by_position": 0.70}
    first = decide(weak, None, POLICY, challenger_version="1", champion_version=None)
    assert not first.promoted
    assert "news_auc_by_position 0.6800 does not beat news_popularity_auc_by_position 0.7000" in first.reason
    # A champion recorded before the position-wise metric existed: both compare on news_auc.
    older = {**CHAMPION, **NEWS}
    d = decide(retrain, older, POLICY, challenger_version="2", champion_version="1")
    assert d.promoted and d.reason.startswith("news_auc 0.7200 beats champion 0.7000")
