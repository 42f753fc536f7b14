"""Every generated file and block in the repository, in one registry.

Each entry names a committed file and how its expected text follows from the code: a whole
file (the contracts' JSON Schemas, `reco.env.example`, Feast's `feature_store.yaml`) or a block
between markers inside a hand-written document (the README's configuration reference, the
`events.v1` table of docs/architecture.md). `./pants run pipelines/docs/main.py -- --write`
rewrites what drifted; `--check` and the tests fail on any difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from components.config.reference import render_env_example, render_markdown_table
from components.config.settings import CollectorSettings, ServingSettings
from components.docs.blocks import REGENERATE, replace_block
from components.events.jsonschema import (
    CONTRACT_SCHEMAS,
    article_table,
    contract_table,
    render_contract_schema,
)
from components.features.store import render_feature_store_yaml
from components.intake.openapi import collector_openapi
from components.serving.openapi import recommender_openapi

WRITE_COMMAND = REGENERATE


def _api_document(build: Callable[[], Mapping[str, Any]]) -> str:
    """A service's OpenAPI document as its default settings render it (a deployment's limits
    may differ: /openapi.json serves the running service's own)."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Generated:
    path: str  # relative to the repository root
    render: Callable[[], str]
    source: str  # what it is generated from (for the messages)
    block: str | None = None  # the marked block it fills in a hand-written file, or the whole file

    def expected(self, current: str) -> str:
        """What the file should hold, given what it holds now (the prose around a block stays)."""
        return replace_block(current, self.block, self.render()) if self.block else self.render()


GENERATED: tuple[Generated, ...] = (
    Generated("README.md", render_markdown_table, "Settings field descriptions", block="config"),
    Generated("reco.env.example", render_env_example, "Settings field descriptions"),
    Generated("docs/architecture.md", contract_table, "the events.v1 model", block="events.v1"),
    Generated("docs/architecture.md", article_table, "the articles.v1 model", block="articles.v1"),
    Generated("feature_repo/feature_store.yaml", render_feature_store_yaml, "the feature store config"),
    Generated(
        "docs/api/collector.openapi.json",
        partial(_api_document, lambda: collector_openapi(CollectorSettings())),
        "the collector's request models and default settings",
    ),
    Generated(
        "docs/api/recommender.openapi.json",
        partial(_api_document, lambda: recommender_openapi(ServingSettings())),
        "the recommend service's request models and default settings",
    ),
    *(
        Generated(path, partial(render_contract_schema, path), f"the {name} model")
        for path, (name, _) in CONTRACT_SCHEMAS.items()
    ),
)


def _current(root: Path, item: Generated) -> str:
    path = root / item.path
    return path.read_text(encoding="utf-8") if path.exists() else ""


def drifted(root: Path) -> list[str]:
    """One line per generated file that differs from what the code says it should be."""
    out = []
    for item in GENERATED:
        if not (root / item.path).exists():
            out.append(f"{item.path}: missing (run `{WRITE_COMMAND}`)")
            continue
        current = _current(root, item)
        if item.expected(current) != current:
            out.append(f"{item.path}: differs from {item.source} (run `{WRITE_COMMAND}`)")
    return out


def write(root: Path) -> list[str]:
    """Rewrite what drifted; returns the paths written."""
    written = []
    for item in GENERATED:
        current = _current(root, item)
        expected = item.expected(current)
        if expected != current:
            path = root / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected, encoding="utf-8")
            written.append(item.path)
    return written
