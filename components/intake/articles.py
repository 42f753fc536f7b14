"""Catalogue intake: a CMS's batch of articles (`articles.v1`) or a takedown, into Kafka.

Each article is validated with the contract; the valid ones go to the articles topic keyed by
article id, and the call returns only after the broker acknowledged them (else it raises
BrokerUnavailableError and nothing may be reported as accepted). A takedown is a null value
under the article's key: a Kafka tombstone, which a compacted topic keeps until every consumer
has seen it. Rejected articles are answered, not dead-lettered: the sender is a CMS that sees
the answer, and an article that breaks the contract is its bug to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from components.events import EventValidationError, FieldError
from components.events.articles import encode_article, validate_article
from components.intake.intake import BodyError
from components.streaming import EventProducer


@dataclass(frozen=True)
class ArticleOutcome:
    index: int
    status: Literal["accepted", "rejected"]
    article_id: str | None = None
    errors: tuple[FieldError, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.article_id is not None:
            out["article_id"] = self.article_id
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        return out


@dataclass
class ArticleResult:
    outcomes: list[ArticleOutcome] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "accepted")

    @property
    def rejected(self) -> int:
        return len(self.outcomes) - self.accepted

    def rejection_errors(self) -> list[FieldError]:
        return [e for o in self.outcomes for e in o.errors]


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

    async def upsert(self, body: bytes, *, now: datetime | None = None) -> ArticleResult:
        """Validate and deliver the articles of `body`; the outcome of each, by index."""
        now = now or datetime.now(UTC)
        result = ArticleResult()
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
