"""Kafka topic names of the event contract (versioned: a breaking change gets a new topic)."""

EVENTS_TOPIC = "events.v1"
DEAD_LETTER_TOPIC = "events.dlq.v1"
# The catalogue: one article per key (article id); a takedown is a null value (a Kafka
# tombstone), so a compacted topic keeps the latest state of every article.
ARTICLES_TOPIC = "articles.v1"
