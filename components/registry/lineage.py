"""What a model was made from, recorded as MLflow tags on its run and its registered version."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TAG_PREFIX = "reco."


@dataclass(frozen=True)
class Lineage:
    """Everything needed to rebuild a model: data snapshot, code, and how it was trained."""

    silver_hashes: dict[str, str]  # silver date -> content hash of that partition
    lake_uri: str
    git_commit: str
    flow_run_id: str
    feature_views: dict[str, str] = field(default_factory=dict)  # view name -> schema version
    train_cutoff: str = ""  # events before it trained the evaluated model; the rest tested it
    kind: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 42

    def tags(self) -> dict[str, str]:
        out = {}
        for name, value in asdict(self).items():
            out[TAG_PREFIX + name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return out

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Lineage:
        missing = [n for n in ("silver_hashes", "lake_uri", "git_commit") if TAG_PREFIX + n not in tags]
        if missing:
            raise LookupError(f"no lineage recorded: tag(s) {[TAG_PREFIX + n for n in missing]} missing")
        values: dict[str, Any] = {}
        for name, kind in cls.__annotations__.items():
            raw = tags.get(TAG_PREFIX + name)
            if raw is None:
                continue
            values[name] = raw if kind == "str" else json.loads(raw)
        return cls(**values)


def git_commit(repo: str | os.PathLike[str] | None = None) -> str:
    """The checked-out commit (suffixed `-dirty` with uncommitted changes), or RECO_GIT_COMMIT
    where there is no git checkout (container images set it at build time)."""
    if os.environ.get("RECO_GIT_COMMIT"):
        return os.environ["RECO_GIT_COMMIT"]
    cwd = Path(repo) if repo else Path.cwd()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit
