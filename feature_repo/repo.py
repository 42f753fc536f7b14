"""Entry for the `feast` CLI (`cd feature_repo && feast apply`): the same definitions as the
components use, with the lake location from RECO_LAKE__ROOT."""

import os
from pathlib import Path

try:
    from feature_repo.definitions import build
except ImportError:  # the feast CLI puts only this folder on sys.path
    from definitions import build  # type: ignore[no-redef,import-not-found]  # pants: no-infer-dep

_root = os.environ.get("RECO_LAKE__ROOT", ".reco/lake")
_lake = _root if "://" in _root else str(Path(_root).absolute())
objects = build(_lake, os.environ.get("RECO_LAKE__S3_ENDPOINT_URL"))
globals().update({getattr(obj, "name", f"obj{i}"): obj for i, obj in enumerate(objects)})
