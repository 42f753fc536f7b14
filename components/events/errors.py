"""Validation errors that say which field failed and why."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldError:
    # Dotted path of the field ("ts", "context.page"); "$" is the message as a whole.
    field: str
    reason: str
    # A short stable kind for metrics and dashboards ("missing", "unknown_field", "wrong_type",
    # "future_timestamp", ...); the reason is for people and may carry values.
    code: str = "invalid"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "code": self.code}


class EventValidationError(ValueError):
    """An event broke the contract; `errors` lists every failing field with its reason."""

    def __init__(self, errors: list[FieldError]):
        if not errors:
            raise ValueError("EventValidationError needs at least one FieldError")
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))

    @property
    def fields(self) -> list[str]:
        return [e.field for e in self.errors]


# Field names and reasons echo what a client sent (unknown keys, bad values): bounded, so a
# rejection never carries a 64 KB key back into a response, a dead letter or a log line.
MAX_FIELD_CHARS = 128
MAX_REASON_CHARS = 512
# An object with ten thousand unknown keys is one rejection, not ten thousand reasons.
MAX_ERRORS = 50


def bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_label(field: str, known: Collection[str]) -> str:
    """A metric label for a failing field: its top-level name if the contract knows it, else
    `<other>` (clients choose unknown names: label values must stay a fixed, small set)."""
    top = field.split(".")[0]
    return top if top in known else "<other>"


def _type_name(value: Any) -> str:
    return type(value).__name__ if value is not None else "null"


def _code(error: Any) -> str:
    kind = str(error["type"])
    if kind == "extra_forbidden":
        return "unknown_field"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "wrong_type"
    if kind == "value_error":
        return "invalid_value"
    return kind  # pydantic's own (finite) error types and our PydanticCustomError types


def _reason(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing field"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        # Our own validators raise ValueError("..."); pydantic prefixes "Value error, ".
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "enum":
        return f"unknown value {error['input']!r}: {error['msg'].lower()}"
    if kind.endswith("_type") or kind.endswith("_parsing") or kind in {"model_type", "dict_type"}:
        return f"wrong type ({_type_name(error.get('input'))}): {error['msg'].lower()}"
    return str(error["msg"])


class FieldRuleError(ValueError):
    """Cross-field rule failures, carried through pydantic to keep each field's name."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


def from_pydantic(exc: ValidationError) -> EventValidationError:
    errors: list[FieldError] = []
    for error in exc.errors(include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldRuleError):
            errors.extend(cause.errors)
        elif error["type"] == "json_invalid":
            reason = bounded(f"malformed JSON: {error['ctx']['error']}", MAX_REASON_CHARS)
            errors.append(FieldError("$", reason, "malformed_json"))
        else:
            loc = ".".join(str(part) for part in error["loc"]) or "$"
            errors.append(
                FieldError(
                    field=bounded(loc, MAX_FIELD_CHARS),
                    reason=bounded(_reason(error), MAX_REASON_CHARS),
                    code=_code(error),
                )
            )
    if len(errors) > MAX_ERRORS:
        more = len(errors) - (MAX_ERRORS - 1)
        errors = [
            *errors[: MAX_ERRORS - 1],
            FieldError("$", f"{more} more errors not listed", "too_many_errors"),
        ]
    return EventValidationError(errors)
