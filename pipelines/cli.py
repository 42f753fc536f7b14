"""Argument types shared by the pipelines' command lines."""

from __future__ import annotations

import argparse
from datetime import date, datetime


def iso_date(text: str) -> str:
    """argparse type: a YYYY-MM-DD date, normalised; a clear error otherwise."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def utc_time(text: str) -> datetime:
    """argparse type: an ISO 8601 time with a time zone; a clear error otherwise."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs a time zone (e.g. Z): {text!r}")
    return value
