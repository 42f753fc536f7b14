"""Argument types shared by the pipelines' command lines."""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> str:
    """argparse type: a YYYY-MM-DD date, normalised; a clear error otherwise."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None
