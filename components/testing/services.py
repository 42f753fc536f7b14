"""Per-test slices of the loopback PostgreSQL and Redis, and a throwaway MLflow store."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from redis import Redis

# The machine runs PostgreSQL (trust auth) and Redis on loopback; CI starts them if down.
ADMIN_POSTGRES_DSN = os.environ.get("RECO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_REDIS_URL = os.environ.get("RECO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _with_database(dsn: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def create_database(admin_dsn: str = ADMIN_POSTGRES_DSN) -> tuple[str, str]:
    """Create an empty database; returns (name, dsn). Fails loudly if PostgreSQL is down."""
    name = _unique("reco_test")
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {admin_dsn} ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        ) from exc
    return name, _with_database(admin_dsn, name)


def drop_database(name: str, admin_dsn: str = ADMIN_POSTGRES_DSN) -> None:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_exists(name: str, admin_dsn: str = ADMIN_POSTGRES_DSN) -> bool:
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@dataclass(frozen=True)
class RedisNamespace:
    """A key prefix of its own on the shared Redis; `clear()` deletes every key under it."""

    url: str
    prefix: str

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=5)

    def keys(self) -> list[bytes]:
        with self.client() as client:
            return list(client.scan_iter(match=f"{self.prefix}*", count=1_000))

    def clear(self) -> int:
        with self.client() as client:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1_000))
            for start in range(0, len(keys), 1_000):
                client.delete(*keys[start : start + 1_000])
        return len(keys)


def redis_namespace(url: str = TEST_REDIS_URL) -> RedisNamespace:
    namespace = RedisNamespace(url=url, prefix=f"{_unique('reco-test')}:")
    try:
        with namespace.client() as client:
            client.ping()
    except Exception as exc:
        raise RuntimeError(
            f"Redis is not reachable at {url} ({exc}); start it with `redis-server --daemonize yes "
            "--bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no`"
        ) from exc
    return namespace


@dataclass(frozen=True)
class MlflowStore:
    """A tracking store in a folder: SQLite for runs and registry, a folder for artifacts."""

    root: Path

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.root / "artifacts"


def mlflow_store(root: Path) -> MlflowStore:
    root.mkdir(parents=True, exist_ok=True)
    store = MlflowStore(root=root)
    store.artifact_root.mkdir(exist_ok=True)
    return store
