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
    # int index into TOPIC_NAMES, a topic of the article's section (World.build draws it)
    topic: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {article_id: i for i, article_id in enumerate(self.ids)}

    def live(self, at: float) -> np.ndarray:
        """Indices of articles published and not yet expired at `at` (epoch seconds)."""
        return np.flatnonzero((self.published_at <= at) & (self.expires_at > at))

    def records(self) -> list[dict[str, object]]:
        """The articles as a CMS sends them (`articles.v1` JSON objects): a headline, a
        standfirst and tags written in the words of the article's topic, borrowing from its
        sibling topics and section (what a content model can read: the topic, noisily), a URL,
        and the publication times. Drawn from the article's id and topic only, so the simulated
        traffic does not change with them."""
        out: list[dict[str, object]] = []
        for i, article_id in enumerate(self.ids):
            section = CATEGORIES[int(self.category[i])]
            words = story_words(article_id, int(self.topic[i]), 9)
            pick = int.from_bytes(hashlib.blake2b(article_id.encode(), digest_size=4).digest(), "little")
            angle = ANGLES[pick % len(ANGLES)]
            published = _iso(float(self.published_at[i]))
            out.append(
                {
                    "article_id": article_id,
                    "title": f"{angle.capitalize()} {words[0]} and {words[1]}: {words[2]}, {words[3]}",
                    "abstract": f"A {section} story about {words[4]}, {words[5]} and {words[6]}, "
                    f"with {words[7]} and {words[8]}.",
                    "url": f"https://news.example/{section}/{article_id}",
                    "section": section,
                    "tags": sorted({section, words[0]}),
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


# Topics within each section, each with the words its stories are written in. Readers have
# tastes over the topics of a section, the click model uses them, and an article's text reveals
# its topic only noisily: a story borrows words from a sibling topic and from its section.
TOPIC_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "news": {
        "local council": ("council", "mayor", "planning", "residents", "housing", "zoning"),
        "weather": ("storm", "flooding", "heatwave", "forecast", "rainfall", "drought"),
        "transport": ("commuters", "railway", "buses", "roadworks", "strike", "airport"),
        "courts": ("trial", "judge", "verdict", "appeal", "jury", "sentencing"),
    },
    "politics": {
        "elections": ("ballot", "campaign", "polls", "candidates", "turnout", "voters"),
        "parliament": ("bill", "lawmakers", "committee", "amendment", "speaker", "vote"),
        "foreign policy": ("diplomats", "summit", "sanctions", "treaty", "embassy", "alliance"),
        "budget": ("deficit", "taxes", "spending", "treasury", "borrowing", "austerity"),
    },
    "business": {
        "markets": ("stocks", "shares", "investors", "bonds", "index", "traders"),
        "startups": ("founders", "funding", "venture", "seed", "valuation", "incubator"),
        "energy prices": ("gas", "electricity", "tariffs", "oil", "bills", "grid"),
        "jobs": ("hiring", "unemployment", "wages", "layoffs", "workers", "vacancies"),
    },
    "tech": {
        "artificial intelligence": ("models", "chatbots", "neural", "training", "robots", "automation"),
        "smartphones": ("handset", "battery", "camera", "apps", "screen", "android"),
        "cybersecurity": ("hackers", "breach", "ransomware", "passwords", "malware", "encryption"),
        "open source": ("developers", "linux", "repository", "maintainers", "licence", "contributors"),
    },
    "science": {
        "space": ("rocket", "orbit", "astronauts", "telescope", "mars", "satellite"),
        "climate": ("emissions", "warming", "carbon", "glaciers", "ocean", "temperatures"),
        "genetics": ("genome", "dna", "mutation", "heredity", "crispr", "cells"),
        "physics": ("particles", "quantum", "collider", "gravity", "photons", "laboratory"),
    },
    "health": {
        "nutrition": ("diet", "vitamins", "protein", "sugar", "calories", "fibre"),
        "vaccines": ("vaccine", "immunity", "doses", "jab", "booster", "outbreak"),
        "mental health": ("anxiety", "depression", "therapy", "wellbeing", "stress", "counselling"),
        "hospitals": ("nurses", "wards", "surgery", "waiting", "patients", "doctors"),
    },
    "sports": {
        "football": ("striker", "league", "goal", "midfield", "transfer", "stadium"),
        "tennis": ("serve", "grand", "slam", "racket", "wimbledon", "tiebreak"),
        "cycling": ("peloton", "stage", "sprint", "tour", "climb", "bike"),
        "athletics": ("marathon", "sprinter", "relay", "hurdles", "javelin", "record"),
    },
    "culture": {
        "cinema": ("film", "director", "premiere", "actors", "festival", "screenplay"),
        "books": ("novel", "author", "publisher", "poetry", "prize", "memoir"),
        "music": ("album", "band", "concert", "singer", "tour", "orchestra"),
        "theatre": ("stage", "play", "playwright", "musical", "cast", "rehearsal"),
    },
    "travel": {
        "city breaks": ("hotel", "museums", "weekend", "boulevards", "old", "town"),
        "rail journeys": ("train", "sleeper", "carriage", "station", "route", "scenic"),
        "islands": ("beaches", "ferry", "lagoon", "snorkelling", "coast", "villas"),
        "mountains": ("hiking", "peaks", "alpine", "trails", "summit", "cabins"),
    },
    "food": {
        "recipes": ("oven", "ingredients", "simmer", "dinner", "sauce", "roast"),
        "restaurants": ("chef", "menu", "tasting", "bistro", "diners", "review"),
        "wine": ("vineyard", "vintage", "grapes", "sommelier", "red", "cellar"),
        "baking": ("bread", "cake", "sourdough", "pastry", "flour", "dough"),
    },
    "opinion": {
        "editorials": ("editors", "view", "stance", "board", "argue", "position"),
        "letters": ("readers", "letter", "reply", "write", "complaint", "praise"),
        "columns": ("columnist", "weekly", "essay", "reflections", "diary", "notes"),
        "debate": ("motion", "rebuttal", "critics", "defenders", "controversy", "case"),
    },
    "lifestyle": {
        "fashion": ("designers", "runway", "trends", "collection", "style", "wardrobe"),
        "homes": ("interiors", "renovation", "kitchen", "furniture", "decor", "apartment"),
        "gardening": ("plants", "seeds", "soil", "roses", "allotment", "pruning"),
        "relationships": ("dating", "partners", "marriage", "friendship", "family", "love"),
    },
}
# Topic names per section, and every topic in one flat order: an article's `topic` indexes it.
TOPICS: dict[str, tuple[str, ...]] = {section: tuple(words) for section, words in TOPIC_WORDS.items()}
TOPIC_NAMES: tuple[str, ...] = tuple(topic for section in CATEGORIES for topic in TOPICS[section])
TOPIC_SECTION = np.array(
    [CATEGORIES.index(section) for section in CATEGORIES for _ in TOPICS[section]], dtype=np.int64
)
SECTION_TOPICS: tuple[np.ndarray, ...] = tuple(
    np.flatnonzero(c == TOPIC_SECTION) for c in range(len(CATEGORIES))
)
# How a story is told: no topic words in them.
ANGLES: tuple[str, ...] = (
    "the latest on",
    "a closer look at",
    "five things about",
    "the debate over",
    "inside",
)
# Where a story's words come from: its topic, a sibling topic in its section, the section at large.
OWN_WORD_SHARE = 0.55
SIBLING_WORD_SHARE = 0.25
# Readers' tastes within a section are concentrated: most care for one or two of its topics.
TOPIC_CONCENTRATION = 0.5


def story_words(article_id: str, topic: int, n: int) -> list[str]:
    """`n` words of the story `article_id` on `topic`, drawn from the article id alone."""
    rng = np.random.default_rng(stable_seed("story", article_id))
    section = int(TOPIC_SECTION[topic])
    siblings = [t for t in SECTION_TOPICS[section] if t != topic]
    section_words = [
        w for t in SECTION_TOPICS[section] for w in TOPIC_WORDS[CATEGORIES[section]][TOPIC_NAMES[t]]
    ]
    words: list[str] = []
    for draw in rng.random(n):
        if draw < OWN_WORD_SHARE:
            pool = TOPIC_WORDS[CATEGORIES[section]][TOPIC_NAMES[topic]]
        elif draw < OWN_WORD_SHARE + SIBLING_WORD_SHARE:
            sibling = siblings[int(rng.integers(len(siblings)))]
            pool = TOPIC_WORDS[CATEGORIES[section]][TOPIC_NAMES[sibling]]
        else:
            pool = tuple(section_words)
        words.append(pool[int(rng.integers(len(pool)))])
    return words


@dataclass
class Population:
    """Returning readers. Grows when first-time visitors come back."""

    ids: list[str]
    preferences: np.ndarray  # (users, categories), rows sum to 1
    shifted_preferences: np.ndarray  # the tastes a PreferenceShift moves towards
    activity: np.ndarray  # expected sessions per day
    # (users, topics): each reader's taste over the topics within each section (the shares of a
    # section's topics sum to 1); a PreferenceShift moves sections, not these.
    topic_shares: np.ndarray = field(default_factory=lambda: np.empty((0, len(TOPIC_NAMES))))

    def __len__(self) -> int:
        return len(self.ids)

    def add(
        self,
        user_ids: list[str],
        preferences: np.ndarray,
        shifted: np.ndarray,
        activity: np.ndarray,
        topic_shares: np.ndarray,
    ) -> None:
        self.ids.extend(user_ids)
        self.preferences = np.vstack([self.preferences, preferences])
        self.shifted_preferences = np.vstack([self.shifted_preferences, shifted])
        self.activity = np.concatenate([self.activity, activity])
        self.topic_shares = np.vstack([self.topic_shares, topic_shares])


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


def draw_topic_shares(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, topics): within each section, a Dirichlet draw over its topics."""
    shares = np.empty((n, len(TOPIC_NAMES)))
    for topics in SECTION_TOPICS:
        shares[:, topics] = rng.dirichlet(np.full(len(topics), TOPIC_CONCENTRATION), size=n)
    return np.maximum(shares, 1e-3)


def draw_topics(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """A topic of each article's section, uniformly."""
    counts = np.array([len(SECTION_TOPICS[int(c)]) for c in category])
    offsets = (rng.random(len(category)) * counts).astype(np.int64)
    return np.array(
        [SECTION_TOPICS[int(c)][o] for c, o in zip(category, offsets, strict=True)], dtype=np.int64
    )


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
        topic=np.concatenate([p.topic for p in parts]),
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
        catalogue = concat_catalogues(parts)
        # Topics come from streams of their own, so the rest of a seed's world is what it was
        # before readers and articles had topics.
        catalogue.topic = draw_topics(np.random.default_rng([config.seed, 5]), catalogue.category)
        population.topic_shares = draw_topic_shares(np.random.default_rng([config.seed, 6]), config.users)
        return cls(config=config, catalogue=catalogue, population=population)


def stable_seed(*parts: object) -> int:
    """A seed derived from values, independent of call order and of PYTHONHASHSEED."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
