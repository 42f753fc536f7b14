"""Catalogue intake: a CMS's batch of articles (`articles.v1`) or a takedown, into Kafka.

Each article is validated with the contract; the valid ones go to the articles topic keyed by
article id, and the call returns only after the broker acknowledged them (else it raises
BrokerUnavailableError and nothing may be reported as accepted). A takedown is a null value
under the article's key: a Kafka tombstone, which a compacted topic keeps until every consumer
has seen it. Rejected articles are answered, not dead-lettered: the sender is a CMS that sees
the answer, and an article that breaks the contract is its bug to fix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from components.events import EventValidationError, FieldError
from components.events.articles import encode_article, validate_article
from components.intake.intake import BodyError, EventOutcome, IntakeResult
from components.streaming import EventProducer


class ArticleOutcome(EventOutcome):
    """The answer for one article of a body (its id echoed as `article_id`)."""

    ID_KEY: ClassVar[str] = "article_id"


class ArticleIntake:
    def __init__(self, producer: EventProducer, topic: str, *, max_batch: int = 500):
        self.producer = producer
        self.topic = topic
        self.max_batch = max_batch

    def parse(self, body: bytes) -> list[Any]:
        """The body's articles: one object, an array, or `{"articles": [...]}`."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BodyError(400, FieldError("$", f"malformed JSON: {exc}", "malformed_json")) from None
        if isinstance(document, dict) and set(document) == {"articles"}:
            document = document["articles"]
        if isinstance(document, dict):
            return [document]
        if not isinstance(document, list):
            kind = type(document).__name__
            raise BodyError(
                400,
                FieldError(
                    "$", f"wrong type ({kind}): send an article object or an array of them", "wrong_type"
                ),
            )
        if not document:
            raise BodyError(400, FieldError("$", "empty batch: send at least one article", "empty_batch"))
        if len(document) > self.max_batch:
            raise BodyError(
                413,
                FieldError(
                    "$",
                    f"batch of {len(document)} articles exceeds the limit of {self.max_batch}",
                    "batch_too_large",
                ),
            )
        return document

    async def upsert(self, body: bytes, *, now: datetime | None = None) -> IntakeResult:
        """Validate and deliver the articles of `body`; the outcome of each, by index."""
        now = now or datetime.now(UTC)
        result = IntakeResult()
        messages: list[tuple[bytes | None, bytes | None]] = []
        for index, item in enumerate(self.parse(body)):
            try:
                article = validate_article(item, now=now)
            except EventValidationError as exc:
                result.outcomes.append(
                    ArticleOutcome(index, "rejected", _article_id_of(item), tuple(exc.errors))
                )
                continue
            messages.append((article.article_id.encode(), encode_article(article)))
            result.outcomes.append(ArticleOutcome(index, "accepted", article.article_id))
        if messages:
            await self.producer.send_raw(self.topic, messages)
        return result

    async def take_down(self, article_id: str) -> None:
        """Deliver the takedown of `article_id` (already checked with check_article_id)."""
        await self.producer.send_raw(self.topic, [(article_id.encode(), None)])


def _article_id_of(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("article_id"), str) and len(item["article_id"]) <= 128:
        return str(item["article_id"])
    return None
