"""What a bulk import refused: a report (JSON lines) and the rows themselves (quarantine).

Report, `reports/import/<run>.jsonl`: one line per refused field, `{"source", "row", "field",
"code", "reason"}` (the contract's field, code and reason; `$` for the row as a whole).
Quarantine, `quarantine/import/run=<run>/part-<digest>.parquet`: one row per refused row, as
read from the source (`record`, JSON), the document it made (`document`, when it made one) and
why (`reason`, `errors`). Both are written, durably, before the import says it is done.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from components.events.errors import FieldError
from components.lake.layout import import_quarantine_file, import_report_path
from components.lake.store import LakeStore

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("record", pa.string(), nullable=False),  # the row as read, JSON
        pa.field("document", pa.string()),  # the events.v1 document it made (events only)
        pa.field("reason", pa.string(), nullable=False),
        pa.field("errors", pa.string(), nullable=False),  # JSON list of {field, code, reason}
    ]
)


@dataclass(frozen=True)
class Rejection:
    source: str
    row: int
    errors: tuple[FieldError, ...]
    record: Any
    document: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.field}: {e.reason}" for e in self.errors)

    def lines(self) -> list[dict[str, Any]]:
        return [
            {"source": self.source, "row": self.row, "field": e.field, "code": e.code, "reason": e.reason}
            for e in self.errors
        ]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def write_rejections(
    store: LakeStore, run_id: str, rejections: Sequence[Rejection]
) -> tuple[str, str | None]:
    """Write the report (always, empty when nothing was refused) and the quarantine file
    (when something was); returns their paths."""
    report = "".join(_json(line) + "\n" for r in rejections for line in r.lines()).encode()
    quarantine = None
    if rejections:
        table = pa.table(
            {
                "source": [r.source for r in rejections],
                "row": [r.row for r in rejections],
                "record": [_json(r.record) for r in rejections],
                "document": [r.document for r in rejections],
                "reason": [r.reason for r in rejections],
                "errors": [_json([e.as_dict() for e in r.errors]) for r in rejections],
            },
            schema=QUARANTINE_SCHEMA,
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        quarantine = import_quarantine_file(run_id, hashlib.sha256(report).hexdigest()[:16])
        store.write_atomic(quarantine, sink.getvalue())
    path = import_report_path(run_id)
    store.write_atomic(path, report)
    return path, quarantine


def read_report(store: LakeStore, run_id: str) -> list[dict[str, Any]]:
    data = store.read_bytes(import_report_path(run_id)).decode()
    return [json.loads(line) for line in data.splitlines() if line]
