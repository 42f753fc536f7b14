"""Lake storage on a local folder or an S3 bucket (through pyarrow's filesystems).

Files appear atomically: locally through write-temp, fsync, rename (and an fsync of the
folder, so the rename itself survives a crash); on S3 an object becomes visible only once its
upload completed. Temp files start with "." and are never listed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

from pyarrow import fs as pafs

from components.config import LakeSettings


class LakeStore:
    def __init__(self, root: str, *, s3_endpoint_url: str | None = None):
        self.root = root
        if root.startswith("s3://"):
            options: dict[str, object] = {"region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
            if s3_endpoint_url:
                endpoint = urlparse(s3_endpoint_url)
                options["endpoint_override"] = endpoint.netloc or endpoint.path
                options["scheme"] = endpoint.scheme or "https"
            self.fs: pafs.FileSystem = pafs.S3FileSystem(**options)
            self.base = root.removeprefix("s3://").rstrip("/")
            self.local = False
        else:
            self.fs = pafs.LocalFileSystem()
            self.base = str(Path(root).absolute())
            self.local = True

    @classmethod
    def from_settings(cls, lake: LakeSettings) -> LakeStore:
        return cls(lake.root, s3_endpoint_url=lake.s3_endpoint_url)

    def uri(self, rel: str) -> str:
        return f"{'s3://' if not self.local else ''}{self.base}/{rel}"

    def _path(self, rel: str) -> str:
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"lake path must be relative and inside the lake: {rel!r}")
        return f"{self.base}/{rel}"

    def write_atomic(self, rel: str, data: bytes) -> None:
        path = self._path(rel)
        if not self.local:
            with self.fs.open_output_stream(path) as out:
                out.write(data)
            return
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self._path(rel)) as handle:
            return bytes(handle.read())

    def exists(self, rel: str) -> bool:
        return self.fs.get_file_info(self._path(rel)).type != pafs.FileType.NotFound

    def delete(self, rel: str) -> None:
        if self.exists(rel):
            self.fs.delete_file(self._path(rel))

    def list_files(self, prefix: str, suffix: str = "") -> list[str]:
        """Relative paths of the files under `prefix`, sorted; temp files excluded."""
        selector = pafs.FileSelector(self._path(prefix.rstrip("/")), recursive=True, allow_not_found=True)
        found = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(self.base) + 1 :]
            if os.path.basename(rel).startswith(".") or not rel.endswith(suffix):
                continue
            found.append(rel)
        return sorted(found)
