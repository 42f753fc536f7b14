"""Running reco on one machine: the embedded Kafka-protocol broker (tansu) of the local
profile, services as subprocesses, and the client calls that drive them. Used by the main
job, end-to-end tests and benchmarks. `components.runtime.s3` (moto's S3 server on loopback)
is imported by module, not from here: it needs moto, which only the `pipelines` resolve has."""

from components.runtime.processes import (
    EventSender,
    ServiceProcess,
    committed_total,
    post_articles,
    post_events,
    wait_ready,
)
from components.runtime.tansu import TansuBroker, free_port, is_listening, tansu_binary

__all__ = [
    "ServiceProcess",
    "TansuBroker",
    "EventSender",
    "committed_total",
    "free_port",
    "is_listening",
    "post_articles",
    "post_events",
    "tansu_binary",
    "wait_ready",
]
