"""Entry for the `feast` CLI (`cd feature_repo && feast apply`): the same definitions as the
components use, with the lake location from RECO_LAKE__ROOT."""

import os
from pathlib import Path

from feature_repo.definitions import build

_root = os.environ.get("RECO_LAKE__ROOT", ".reco/lake")
_lake = _root if "://" in _root else str(Path(_root).absolute())
objects = build(_lake, os.environ.get("RECO_LAKE__S3_ENDPOINT_URL"))
globals().update({getattr(obj, "name", f"obj{i}"): obj for i, obj in enumerate(objects)})
