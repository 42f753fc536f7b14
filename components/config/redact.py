"""Keep secrets out of what a client can read (readiness bodies) and out of the degraded reasons
the services log: URL passwords (`postgresql://reco:secret@db` -> `postgresql://reco:***@db`)
and the values of the settings' secret fields (4 characters or longer)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, SecretStr

# scheme://user:password@ (the password may hold anything but "@" and whitespace).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^@\s/]+)@")
MASK = "***"


def secret_values(settings: BaseModel) -> list[str]:
    """Every SecretStr value in a settings tree, and every password inside a URL-like value."""
    found: list[str] = []

    def walk(model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr):
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                walk(value)
            elif isinstance(value, str):
                found.extend(m.group("password") for m in _URL_PASSWORD.finditer(value))

    walk(settings)
    return [v for v in found if len(v) >= 4]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
