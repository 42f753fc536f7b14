"""Argument types shared by the pipelines' command lines."""

from __future__ import annotations

import argparse
from datetime import date, datetime

from components.events.time import TimestampError, parse_timestamp


def days(text: str) -> int:
    """argparse type: a whole number of days, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def iso_date(text: str) -> str:
    """argparse type: a YYYY-MM-DD date, normalised; a clear error otherwise."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def utc_time(text: str) -> datetime:
    """argparse type: an ISO 8601 time with a time zone; a clear error otherwise."""
    try:
        return parse_timestamp(text)
    except TimestampError as exc:
        hint = " (e.g. 2026-11-03T08:00:00Z)" if exc.code == "naive_timestamp" else ""
        raise argparse.ArgumentTypeError(f"{exc.reason}{hint}") from None
