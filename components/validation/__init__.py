"""Data validation suites (Great Expectations), built in code."""

from components.validation.silver_events import SILVER_EVENT_COLUMNS, SuiteOutcome, validate_silver_events

__all__ = ["SILVER_EVENT_COLUMNS", "SuiteOutcome", "validate_silver_events"]
