"""The same lake code on an S3 API (moto on loopback): bronze files, silver and manifest."""

import uuid
from datetime import UTC, datetime, timedelta

import orjson

from components.lake import LakeStore
from components.lake.silver import build_silver, read_manifest, read_silver
from components.runtime.s3 import MotoS3
from components.testing.lake import write_bronze


def test_bronze_and_silver_on_s3(s3_server: MotoS3, s3_bucket: str) -> None:
    store = LakeStore(f"{s3_bucket}/lake", s3_endpoint_url=s3_server.endpoint_url)
    day = datetime(2026, 11, 20, tzinfo=UTC)
    values = [
        orjson.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "click",
                "user_id": "u1",
                "article_id": f"a{i}",
                "ts": (day + timedelta(minutes=7 * i)).isoformat().replace("+00:00", "Z"),
            }
        )
        for i in range(50)
    ]
    write_bronze(store, values, partition=[i % 2 for i in range(50)], ingested_at=day + timedelta(days=1))
    assert len(store.list_files("bronze/events/dt=2026-11-20/", ".parquet")) > 2
    assert store.uri("bronze").startswith("s3://reco-test-")

    result = build_silver(store, "2026-11-20")
    assert result.rows == 50
    assert read_silver(store, "2026-11-20").num_rows == 50
    assert read_manifest(store, "2026-11-20")["content_hash"] == result.content_hash
    assert store.exists("silver/events/dt=2026-11-20/_manifest.json")
