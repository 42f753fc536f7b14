"""Models on disk without pickle: `arrays.npz` (numpy, loaded with allow_pickle=False),
`ids.json` (user and item ids in row order) and `model.json` (kind, params, format)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from components.models.base import Recommender
from components.models.kinds import KINDS

FORMAT_VERSION = 1
ARRAYS = "arrays.npz"
IDS = "ids.json"
META = "model.json"


def save_model(
    model: Recommender, directory: str | os.PathLike[str], *, extra: dict[str, Any] | None = None
) -> Path:
    """Write the model into `directory` (created); returns it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    arrays = dict(model.arrays())
    arrays["seen_indptr"] = model.seen_indptr
    arrays["seen_indices"] = model.seen_indices
    with open(out / ARRAYS, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types the kwargs as allow_pickle
    ids = {"users": [str(u) for u in model.user_ids], "items": [str(a) for a in model.item_ids]}
    (out / IDS).write_text(json.dumps(ids))
    model.save_files(out)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "params": model.params,
        "n_users": len(model.user_ids),
        "n_items": model.n_items,
        **(extra or {}),
    }
    (out / META).write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((Path(directory) / META).read_text())
    return meta


def load_model(directory: str | os.PathLike[str]) -> Recommender:
    path = Path(directory)
    meta = read_meta(path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path / META}: format_version {meta.get('format_version')} != {FORMAT_VERSION}")
    kind = meta.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{path / META}: unknown model kind {kind!r} (known: {sorted(KINDS)})")
    ids = json.loads((path / IDS).read_text())
    with np.load(path / ARRAYS, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    cls = KINDS[kind]
    return cls(
        user_ids=ids["users"],
        item_ids=ids["items"],
        seen_indptr=arrays.pop("seen_indptr"),
        seen_indices=arrays.pop("seen_indices"),
        params=meta["params"],
        **arrays,
        **cls.load_files(path, meta),
    )
