"""Logging of every reco process, from one setting (`RECO_LOG__FORMAT`, `RECO_LOG__LEVEL`):
text lines for people at a terminal, or one JSON object per line for a log pipeline (the
cluster profile's default). Lines logged while a request is being served carry its
`request_id`, `variant` and `model_version` (bound with `bind_request`, kept in a context
variable, so concurrent requests never mix them up).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from components.config.settings import LogSettings

REQUEST_FIELDS = ("request_id", "variant", "model_version")
_request: ContextVar[dict[str, str] | None] = ContextVar("reco_request", default=None)
_HANDLER_NAME = "reco"


def bind_request(**fields: Any) -> None:
    """Attach request fields to every line logged from here on in this task (a request runs
    in a task of its own under Hypercorn, so the binding ends with it)."""
    current = _request.get() or {}
    _request.set({**current, **{k: str(v) for k, v in fields.items() if v is not None}})


def request_fields() -> dict[str, str]:
    return dict(_request.get() or {})


class RequestContextFilter(logging.Filter):
    """Copies the bound request fields onto each record (absent ones are not added)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_request.get() or {}).items():
            setattr(record, key, value)
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        bound = [f"{k}={getattr(record, k)}" for k in REQUEST_FIELDS if hasattr(record, k)]
        return f"{line} [{' '.join(bound)}]" if bound else line


def formatter(settings: LogSettings, component: str) -> logging.Formatter:
    if settings.format == "json":
        return JsonFormatter(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"component": component},
        )
    return _TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def configure_logging(
    settings: LogSettings, component: str, stream: IO[str] | None = None
) -> logging.Handler:
    """One handler on the root logger (stderr), replacing the one set by an earlier call."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(formatter(settings, component))
    root.addHandler(handler)
    root.setLevel(settings.level)
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(settings.level)))
    return handler


__all__ = ["REQUEST_FIELDS", "bind_request", "configure_logging", "formatter", "request_fields"]
