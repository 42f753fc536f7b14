"""The simulated platform: a catalogue of articles and a population of readers.

Everything is drawn from one seeded generator, so a seed names a world. Arrays, not objects:
the traffic generator and the closed-loop user model index them in bulk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from components.events.articles import Article, validate_article

CATEGORIES: tuple[str, ...] = (
    "news",
    "politics",
    "business",
    "tech",
    "science",
    "health",
    "sports",
    "culture",
    "travel",
    "food",
    "opinion",
    "lifestyle",
)
# How long an article stays on the platform, by category (news goes stale fast).
LIFETIME_DAYS: dict[str, float] = {
    "news": 2,
    "politics": 4,
    "business": 7,
    "tech": 14,
    "science": 30,
    "health": 30,
    "sports": 3,
    "culture": 21,
    "travel": 60,
    "food": 60,
    "opinion": 10,
    "lifestyle": 45,
}


@dataclass(frozen=True)
class PreferenceShift:
    """From `at` on, every reader's tastes move `strength` of the way to a new mix of categories."""

    at: datetime
    strength: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be within [0, 1] (got {self.strength})")
        if self.at.tzinfo is None:
            raise ValueError("at must be timezone-aware")


@dataclass(frozen=True)
class WorldConfig:
    seed: int = 7
    start: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        - timedelta(days=7)
    )
    days: int = 7
    users: int = 20_000
    articles_per_day: int = 150
    # Articles published before `start` at the same daily rate, so the catalogue starts in its
    # steady state (the longest-lived sections stay up about two months).
    backlog_days: int = 90
    # Share of sessions that come from first-time visitors (cold start).
    new_visitor_share: float = 0.25
    # Share of first-time visitors who come back later and join the returning pool.
    visitor_retention: float = 0.3
    list_size: int = 10
    preference_shift: PreferenceShift | None = None

    def __post_init__(self) -> None:
        checks = {
            "days": self.days >= 1,
            "users": self.users >= 1,
            "articles_per_day": self.articles_per_day * self.backlog_days >= 10 * self.list_size,
            "backlog_days": self.backlog_days >= 1,
            "new_visitor_share": 0.0 <= self.new_visitor_share < 1.0,
            "visitor_retention": 0.0 <= self.visitor_retention <= 1.0,
            "list_size": 1 <= self.list_size <= 100,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: invalid value {getattr(self, name)!r}")
        if self.start.tzinfo is None:
            raise ValueError("start: must be timezone-aware (UTC)")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass
class Catalogue:
    ids: list[str]
    category: np.ndarray  # int index into CATEGORIES
    published_at: np.ndarray  # epoch seconds
    expires_at: np.ndarray  # epoch seconds
    quality: np.ndarray  # 0..1: how much readers like it once they open it
    appeal: np.ndarray  # log-scale attractiveness; heavy-tailed across articles
    read_time_s: np.ndarray  # expected reading time of the full article

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {article_id: i for i, article_id in enumerate(self.ids)}

    def live(self, at: float) -> np.ndarray:
        """Indices of articles published and not yet expired at `at` (epoch seconds)."""
        return np.flatnonzero((self.published_at <= at) & (self.expires_at > at))

    def records(self) -> list[dict[str, object]]:
        """The articles as a CMS sends them (`articles.v1` JSON objects): a headline, a
        standfirst and tags that name the section and one of its topics (what a content model
        can read), a URL, and the publication times. Drawn from the article's id and section
        only, so the simulated traffic does not change with them."""
        out: list[dict[str, object]] = []
        for i, article_id in enumerate(self.ids):
            section = CATEGORIES[int(self.category[i])]
            pick = int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=4).digest(), "little")
            topic = TOPICS[section][pick % len(TOPICS[section])]
            angle = ANGLES[(pick // 7) % len(ANGLES)]
            published = _iso(float(self.published_at[i]))
            out.append(
                {
                    "article_id": article_id,
                    "title": f"{angle.capitalize()} {topic}: what readers of {section} need to know",
                    "abstract": f"A {section} story on {topic}, {angle}.",
                    "url": f"https://news.example/{section}/{article_id}",
                    "section": section,
                    "tags": [section, topic.replace(" ", "-")],
                    "authors": [f"desk-{section}"],
                    "language": "en",
                    "published_at": published,
                    "updated_at": published,
                    "expires_at": _iso(float(self.expires_at[i])),
                    "status": "published",
                    "read_time_s": max(1, round(float(self.read_time_s[i]))),
                }
            )
        return out

    def articles(self, *, now: datetime | None = None) -> list[Article]:
        """The records validated with the `articles.v1` contract (at `now`, the receiver's clock:
        default the wall clock; a world that ends in the future needs its own end)."""
        return [validate_article(record, now=now) for record in self.records()]


# Topics within each section and angles of a story: the words of simulated headlines.
TOPICS: dict[str, tuple[str, ...]] = {
    "news": ("local council", "weather", "transport", "courts"),
    "politics": ("elections", "parliament", "foreign policy", "budget"),
    "business": ("markets", "startups", "energy prices", "jobs"),
    "tech": ("artificial intelligence", "smartphones", "cybersecurity", "open source"),
    "science": ("space", "climate", "genetics", "physics"),
    "health": ("nutrition", "vaccines", "mental health", "hospitals"),
    "sports": ("football", "tennis", "cycling", "athletics"),
    "culture": ("cinema", "books", "music", "theatre"),
    "travel": ("city breaks", "rail journeys", "islands", "mountains"),
    "food": ("recipes", "restaurants", "wine", "baking"),
    "opinion": ("editorials", "letters", "columns", "debate"),
    "lifestyle": ("fashion", "homes", "gardening", "relationships"),
}
ANGLES: tuple[str, ...] = (
    "the latest on",
    "a closer look at",
    "five things about",
    "the debate over",
    "inside",
)


@dataclass
class Population:
    """Returning readers. Grows when first-time visitors come back."""

    ids: list[str]
    preferences: np.ndarray  # (users, categories), rows sum to 1
    shifted_preferences: np.ndarray  # the tastes a PreferenceShift moves towards
    activity: np.ndarray  # expected sessions per day

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self, user_ids: list[str], preferences: np.ndarray, shifted: np.ndarray, activity: np.ndarray
    ) -> None:
        self.ids.extend(user_ids)
        self.preferences = np.vstack([self.preferences, preferences])
        self.shifted_preferences = np.vstack([self.shifted_preferences, shifted])
        self.activity = np.concatenate([self.activity, activity])


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def category_weights() -> np.ndarray:
    # Zipf-like: a few big sections, a long tail of niche ones.
    ranks = np.arange(1, len(CATEGORIES) + 1, dtype=float)
    weights = 1.0 / ranks**0.8
    return weights / weights.sum()


def draw_preferences(rng: np.random.Generator, n: int) -> np.ndarray:
    # Small concentration: most readers care about two or three sections.
    alpha = 0.35 * category_weights() * len(CATEGORIES)
    prefs = rng.dirichlet(alpha, size=n)
    return np.maximum(prefs, 1e-4) / np.maximum(prefs, 1e-4).sum(axis=1, keepdims=True)


def draw_shifted_preferences(rng: np.random.Generator, n: int) -> np.ndarray:
    # The editorial shift favours the currently small sections: reverse the category weights.
    alpha = 0.35 * category_weights()[::-1] * len(CATEGORIES)
    prefs = rng.dirichlet(alpha, size=n)
    return np.maximum(prefs, 1e-4) / np.maximum(prefs, 1e-4).sum(axis=1, keepdims=True)


def draw_activity(rng: np.random.Generator, n: int) -> np.ndarray:
    # Heavy-tailed: most readers come now and then, a few every day several times.
    return np.minimum(rng.lognormal(mean=-1.3, sigma=1.0, size=n), 6.0)


def draw_articles(rng: np.random.Generator, n: int, published_at: np.ndarray, first_index: int) -> Catalogue:
    category = rng.choice(len(CATEGORIES), size=n, p=category_weights())
    lifetime_days = np.array([LIFETIME_DAYS[CATEGORIES[c]] for c in category])
    # Lifetimes vary around the section's norm; some pieces are pulled early.
    lifetime_s = lifetime_days * 86_400 * rng.lognormal(0.0, 0.35, size=n)
    return Catalogue(
        ids=[f"a{first_index + i:06d}" for i in range(n)],
        category=category,
        published_at=published_at,
        expires_at=published_at + lifetime_s,
        quality=rng.beta(2.5, 2.5, size=n),
        appeal=rng.standard_normal(n) * 0.9,  # exp() of it is lognormal: power-law-like popularity
        read_time_s=np.clip(rng.lognormal(np.log(150.0), 0.5, size=n), 20.0, 1_800.0),
    )


def concat_catalogues(parts: list[Catalogue]) -> Catalogue:
    return Catalogue(
        ids=[article_id for part in parts for article_id in part.ids],
        category=np.concatenate([p.category for p in parts]),
        published_at=np.concatenate([p.published_at for p in parts]),
        expires_at=np.concatenate([p.expires_at for p in parts]),
        quality=np.concatenate([p.quality for p in parts]),
        appeal=np.concatenate([p.appeal for p in parts]),
        read_time_s=np.concatenate([p.read_time_s for p in parts]),
    )


# Readers are busiest in the morning, at lunch and in the evening.
HOURLY_TRAFFIC = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.2, 2.8, 2.4, 2.0, 2.0,
     2.4, 2.2, 1.8, 1.7, 1.8, 2.0, 2.4, 2.8, 3.0, 2.6, 2.0, 1.4]
)  # fmt: skip
HOURLY_TRAFFIC = HOURLY_TRAFFIC / HOURLY_TRAFFIC.sum()


def draw_times_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, following the platform's daily rhythm."""
    hours = rng.choice(24, size=n, p=HOURLY_TRAFFIC)
    return hours * 3_600.0 + rng.uniform(0.0, 3_600.0, size=n)


@dataclass
class World:
    config: WorldConfig
    catalogue: Catalogue
    population: Population

    @classmethod
    def build(cls, config: WorldConfig) -> World:
        rng = np.random.default_rng([config.seed, 0])
        start = config.start.timestamp()
        parts: list[Catalogue] = []
        next_index = 0
        for day in range(-config.backlog_days, config.days):
            n = int(rng.poisson(config.articles_per_day))
            published = start + day * 86_400.0 + np.sort(draw_times_of_day(rng, n))
            parts.append(draw_articles(rng, n, published, next_index))
            next_index += n
        population = Population(
            ids=[f"u{i:07d}" for i in range(config.users)],
            preferences=draw_preferences(rng, config.users),
            shifted_preferences=draw_shifted_preferences(rng, config.users),
            activity=draw_activity(rng, config.users),
        )
        return cls(config=config, catalogue=concat_catalogues(parts), population=population)


def stable_seed(*parts: object) -> int:
    """A seed derived from values, independent of call order and of PYTHONHASHSEED."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
