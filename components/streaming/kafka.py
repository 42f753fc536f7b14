"""aiokafka wrappers with reco's delivery rules.

- A producer call returns only once the broker acknowledged every message (acks=all) AND a
  metadata check started after the acknowledgement still shows the topic with the partitions
  written to; otherwise it raises BrokerUnavailableError: callers never report success for
  what the broker does not have.
- Consumers never auto-commit: offsets are committed by the caller once data is durable.
- Topics are created explicitly (auto-created topics get a broker-chosen partition count), and
  only where the settings allow it (`create_topics`; off in the cluster profile).
- Every client speaks the configured security protocol (TLS, SASL) through `client_options`.

Why the check after the acknowledgement: a broker that lost its data (tansu keeps topics in
memory; a wiped dev cluster; a topic deleted by hand) may acknowledge writes to a topic that
no longer exists and drop them, or to partitions a re-created topic does not have. Real Kafka
refuses those writes itself; the check makes the guarantee hold on any broker, for one
metadata round trip shared by every request in flight. Offsets that go backwards on a
partition (the topic was re-created) are detected too, and refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.protocol.metadata import MetadataRequest

from components.config import KafkaSettings
from components.events import DeadLetter, Event, encode_dead_letter, encode_event, event_key

log = logging.getLogger("reco.streaming")

# Kafka's error code for a topic the broker does not know.
UNKNOWN_TOPIC_OR_PARTITION = 3


class BrokerUnavailableError(RuntimeError):
    """The broker did not acknowledge in time; nothing sent in this call may be reported as delivered."""


class TopicMissingError(BrokerUnavailableError):
    """A topic reco writes to does not exist (and may not be created by reco)."""


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Connection options every aiokafka client of reco takes: servers, id, TLS, SASL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=settings.ssl_cafile)
        if settings.ssl_certfile:
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
        context.check_hostname = settings.ssl_check_hostname
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # the settings validator requires it
        options["sasl_mechanism"] = settings.sasl_mechanism
        # aiokafka takes these for SCRAM as well as PLAIN.
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


class EventProducer:
    """Sends to `settings`' topics; the `ensure` topics are checked (and, where the settings
    allow, created) on the first send and again after any outage or detected reset."""

    def __init__(self, settings: KafkaSettings, *, timeout_s: float = 5.0, ensure: Sequence[str] = ()):
        self.settings = settings
        self.timeout_s = timeout_s
        self.ensure = list(ensure)
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._topics_checked = False
        self._partitioner = DefaultPartitioner()
        # Highest offset acknowledged per (topic, partition). A topic's epoch moves when its
        # offsets went backwards (its log started over) or this producer re-created it: a send
        # in flight across an epoch change is refused, whatever its own acknowledgement says.
        self._acked: dict[tuple[str, int], int] = {}
        self._epochs: dict[str, int] = {}
        self.resets = 0
        self._topics: set[str] = set(self.ensure)  # every topic written to: what a check asks about
        # One metadata check at a time; each caller waits for one that started after its acks.
        self._checks_started = 0
        self._check: asyncio.Future[dict[str, set[int]]] | None = None
        self._check_seq = 0

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self.settings),
            acks="all",
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=int(self.timeout_s * 1000),
            retry_backoff_ms=100,
        )

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connect; raises BrokerUnavailableError when the broker cannot be reached."""
        async with self._lock:
            if self._producer is not None:
                return
            producer = self._new_producer()
            try:
                await asyncio.wait_for(producer.start(), timeout=self.timeout_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                await producer.stop()
                raise BrokerUnavailableError(
                    f"cannot reach Kafka at {self.settings.bootstrap_servers}: {exc!r}"
                ) from exc
            self._producer = producer

    async def stop(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                await producer.stop()

    async def send_raw(self, topic: str, messages: Sequence[tuple[bytes | None, bytes | None]]) -> None:
        """Send (key, value) pairs and wait for every acknowledgement (a None value: a tombstone)."""

        async def send(producer: AIOKafkaProducer, futures: list[asyncio.Future[Any]]) -> None:
            for key, value in messages:
                futures.append(self._tracked(await producer.send(topic, value, key=key)))

        await self._deliver(topic, len(messages), send)

    async def send_batched(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Like `send_raw` for many small keyed messages: partitioned by key exactly as
        `send` would (Kafka's murmur2), but appended to one record batch per partition, which
        costs a fraction of a `send` call per message (the recommend service's impressions)."""

        async def send(producer: AIOKafkaProducer, futures: list[asyncio.Future[Any]]) -> None:
            partitions = sorted(await producer.partitions_for(topic))
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            chosen: dict[bytes, int] = {}
            for key, value in messages:
                partition = chosen.get(key)
                if partition is None:
                    partition = chosen[key] = self._partitioner(key, partitions, partitions)
                by_partition.setdefault(partition, []).append((key, value))
            for partition, records in by_partition.items():
                batch = producer.create_batch()
                for key, value in records:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        batch.close()
                        futures.append(
                            self._tracked(await producer.send_batch(batch, topic, partition=partition))
                        )
                        batch = producer.create_batch()
                        if batch.append(key=key, value=value, timestamp=None) is None:
                            raise ValueError(f"a {len(value)}-byte message does not fit in a batch")
                batch.close()
                futures.append(self._tracked(await producer.send_batch(batch, topic, partition=partition)))

        await self._deliver(topic, len(messages), send)

    def _tracked(self, future: asyncio.Future[Any]) -> asyncio.Future[Any]:
        future.add_done_callback(self._on_ack)
        return future

    def _on_ack(self, future: asyncio.Future[Any]) -> None:
        """Acknowledgements of one partition arrive in offset order (done callbacks run in the
        order the futures resolved): an offset at or below one acknowledged before means the
        topic's log started over."""
        if future.cancelled() or future.exception() is not None:
            return
        metadata = future.result()
        key = (metadata.topic, metadata.partition)
        previous = self._acked.get(key)
        if previous is not None and metadata.offset <= previous:
            self.resets += 1
            self._new_epoch(metadata.topic)
            log.error(
                "offsets of %s[%d] went back from %d to %d: the topic was re-created or the broker "
                "lost its data; events acknowledged before and not yet consumed may be gone",
                metadata.topic, metadata.partition, previous, metadata.offset,
            )  # fmt: skip
        self._acked[key] = metadata.offset

    async def _deliver(
        self,
        topic: str,
        count: int,
        send: Callable[[AIOKafkaProducer, list[asyncio.Future[Any]]], Awaitable[None]],
    ) -> None:
        """Connect if needed, (re)check the topics after any trouble, `send`, wait for every
        acknowledgement, then confirm the topic still holds the partitions written to; any
        broker trouble is BrokerUnavailableError."""
        if not count:
            return
        if self._producer is None:
            await self.start()
        producer = self._producer
        assert producer is not None
        futures: list[asyncio.Future[Any]] = []
        self._topics.add(topic)

        async def deliver() -> None:
            if not self._topics_checked and self.ensure:
                await self._ensure_topics(producer)
                self._topics_checked = True
            epoch = self._epochs.get(topic, 0)
            await send(producer, futures)
            acks = await asyncio.gather(*futures)
            written = {(md.topic, md.partition) for md in acks}
            present = await self._confirm(producer)
            missing = sorted(tp for tp in written if tp[1] not in present.get(tp[0], set()))
            if missing:
                raise TopicMissingError(
                    f"the broker acknowledged {count} message(s) on {topic} but does not hold "
                    f"partition(s) {missing} now: the topic was deleted or re-created"
                )
            if self._epochs.get(topic, 0) != epoch:
                raise TopicMissingError(f"{topic} was re-created or its offsets went backwards while sending")

        try:
            await asyncio.wait_for(deliver(), timeout=self.timeout_s)
        except (KafkaError, OSError, TimeoutError, TopicMissingError) as exc:
            self._topics_checked = False
            for future in futures:  # batches still in flight fail later: nobody waits for them
                future.add_done_callback(_retrieve)
            if isinstance(exc, TopicMissingError):
                log.error("%s; answering unavailable until the topic is back", exc)
                raise
            raise BrokerUnavailableError(
                f"Kafka did not acknowledge {count} message(s) on {topic}: {exc!r}"
            ) from exc

    def _new_epoch(self, topic: str) -> None:
        self._epochs[topic] = self._epochs.get(topic, 0) + 1
        for key in [k for k in self._acked if k[0] == topic]:
            del self._acked[key]

    async def _ensure_topics(self, producer: AIOKafkaProducer) -> None:
        created = await ensure_topics(self.settings, self.ensure)
        for topic in created:
            self._new_epoch(topic)  # sends in flight wrote to what was missing: refuse them
        # A re-created topic may have another partition count than the one cached.
        await producer.client.force_metadata_update()

    async def _confirm(self, producer: AIOKafkaProducer) -> dict[str, set[int]]:
        """Topic -> partitions as the broker reports them in a metadata request that started
        after this call (callers share one request in flight)."""
        wanted = self._checks_started + 1
        while True:
            check = self._check
            # A finished check is stale: start another. (Awaiting a finished future does not
            # yield, so waiting on one until its callbacks run would spin the event loop.)
            if check is None or check.done():
                self._checks_started += 1
                self._check_seq = self._checks_started
                check = self._check = asyncio.ensure_future(self._describe(producer))
                check.add_done_callback(_retrieve)
            seq = self._check_seq
            present = await asyncio.shield(check)
            if seq >= wanted:
                return present

    async def _describe(self, producer: AIOKafkaProducer) -> dict[str, set[int]]:
        return await describe_topics(producer.client, sorted(self._topics))

    async def send_events(self, events: Iterable[Event], topic: str | None = None) -> None:
        await self.send_raw(
            topic or self.settings.events_topic, [(event_key(e), encode_event(e)) for e in events]
        )

    async def send_dead_letters(self, letters: Iterable[DeadLetter], topic: str | None = None) -> None:
        await self.send_raw(
            topic or self.settings.dead_letter_topic, [(None, encode_dead_letter(d)) for d in letters]
        )

    async def problem(self) -> str | None:
        """None when the broker answers now and holds every `ensure` topic; else what is wrong
        (no addresses or credentials: it is shown on /readyz)."""
        producer = self._producer
        if producer is None:
            return "producer not connected"
        try:
            present = await asyncio.wait_for(self._confirm(producer), timeout=self.timeout_s)
            missing = [t for t in self.ensure if not present.get(t)]
            if missing and self.settings.create_topics:
                # Where reco owns its topics, a ready check creates them (a fresh broker).
                await asyncio.wait_for(self._ensure_topics(producer), timeout=self.timeout_s)
                present = await asyncio.wait_for(self._confirm(producer), timeout=self.timeout_s)
                missing = [t for t in self.ensure if not present.get(t)]
        except TopicMissingError as exc:
            return str(exc)
        except (KafkaError, OSError, TimeoutError):
            return "no metadata from the broker"
        if missing:
            self._topics_checked = False  # the next send checks (and where allowed, creates) them
            return f"topic(s) {missing} missing on the broker"
        return None

    async def healthy(self) -> bool:
        """True when the broker answers now and holds every `ensure` topic."""
        return await self.problem() is None


async def describe_topics(client: Any, topics: Sequence[str]) -> dict[str, set[int]]:
    """topic -> partition ids, for those of `topics` the broker has (a topic it reports with
    another error, such as no leader yet, is present with the partitions it lists). Asks
    without auto-creation: a plain metadata request would make the broker create a missing
    topic with its default partition count and hide what was lost."""
    response = await client.send(
        client.get_random_node(), MetadataRequest(topics=list(topics), allow_auto_topic_creation=False)
    )
    present: dict[str, set[int]] = {}
    for entry in response.topics:
        error_code, name, partitions = entry[0], entry[1], entry[-1]
        if error_code == UNKNOWN_TOPIC_OR_PARTITION:
            continue
        if error_code:
            log.warning("metadata of %s: error code %d", name, error_code)
        present[name] = {p[1] for p in partitions}
    return present


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: the caller already reported the failure


def new_consumer(
    settings: KafkaSettings, group_id: str | None, *topics: str, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer in `group_id` that never commits by itself."""
    options: dict[str, Any] = {
        **client_options(settings),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": max(settings.session_timeout_ms // 4, 100),
        "max_poll_records": 5_000,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def rewind_restarted_partitions(consumer: AIOKafkaConsumer) -> list[TopicPartition]:
    """Assigned partitions whose position lies past the broker's high-water mark: their log
    started over (a re-created topic, a broker that lost its data), and reading on from the old
    position would skip everything the new log holds below it. Each is rewound to its start.
    Call after a fetch (the high-water marks come with it)."""
    rewound = []
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None:
            continue
        try:
            position = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
        except (KafkaError, TimeoutError):
            continue
        if position > highwater:
            log.error(
                "%s[%d]: position %d is past the broker's end %d: the log started over; reading it "
                "again from its beginning (duplicates are dropped downstream)",
                tp.topic, tp.partition, position, highwater,
            )  # fmt: skip
            rewound.append(tp)
    if rewound:
        await consumer.seek_to_beginning(*rewound)
    return rewound


def topic_configs(settings: KafkaSettings, name: str) -> dict[str, str]:
    """The configs reco creates a topic with: the catalogue is compacted (the latest state of
    every article stays, a takedown's tombstone until consumers have seen it)."""
    return {"cleanup.policy": "compact"} if name == settings.articles_topic else {}


async def ensure_topics(
    settings: KafkaSettings,
    names: Sequence[str],
    partitions: int | None = None,
    *,
    create: bool | None = None,
) -> list[str]:
    """Create the topics that do not exist yet (idempotent), with the settings' partition count
    and replication factor. Where creation is off (`create_topics`, the cluster profile), a
    missing topic raises TopicMissingError naming it instead. Returns the topics it created."""
    create = settings.create_topics if create is None else create
    partitions = partitions or settings.topic_partitions
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing and not create:
            raise TopicMissingError(
                f"topic(s) {missing} do not exist and RECO_KAFKA__CREATE_TOPICS is off: create them "
                "(docs/operations.md#topics)"
            )
        if missing:
            log.warning(
                "creating topic(s) %s (%d partitions, replication %d)",
                missing, partitions, settings.replication_factor,
            )  # fmt: skip
            # Another process may create them at the same time: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=partitions,
                            replication_factor=settings.replication_factor,
                            topic_configs=topic_configs(settings, name),
                        )
                        for name in missing
                    ]
                )
        return missing
    finally:
        await admin.close()
