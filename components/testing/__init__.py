"""Test support: real services on loopback (Kafka-protocol broker, PostgreSQL, Redis, MLflow)."""
