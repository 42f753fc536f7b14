"""The feedback loop's state in Redis: exposure and click counts per article and hour, recent
reads per user, written idempotently from events.v1 by the feedback consumer."""

from components.feedback.counts import (
    FeedbackWriter,
    WriteStats,
    parse_feedback,
    read_exposure,
)

__all__ = ["FeedbackWriter", "WriteStats", "parse_feedback", "read_exposure"]
