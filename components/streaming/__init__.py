"""Kafka edges shared by the services: producers that wait for acknowledgement, consumers that
commit only what is durable, topic set-up and dead letters."""

from components.streaming.kafka import (
    BrokerUnavailableError,
    EventProducer,
    ensure_topics,
    new_consumer,
)

__all__ = ["BrokerUnavailableError", "EventProducer", "ensure_topics", "new_consumer"]
