"""Kafka topic names of the event contract (versioned: a breaking change gets a new topic)."""

EVENTS_TOPIC = "events.v1"
DEAD_LETTER_TOPIC = "events.dlq.v1"
