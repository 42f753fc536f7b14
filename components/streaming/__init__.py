"""Kafka edges shared by the services: producers that wait for acknowledgement, consumers that
commit only what is durable, topic set-up and dead letters."""

from components.streaming.kafka import (
    BrokerUnavailableError,
    EventProducer,
    TopicMissingError,
    client_options,
    ensure_topics,
    new_consumer,
    rewind_restarted_partitions,
)

__all__ = [
    "BrokerUnavailableError",
    "EventProducer",
    "TopicMissingError",
    "client_options",
    "ensure_topics",
    "new_consumer",
    "rewind_restarted_partitions",
]
