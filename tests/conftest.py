"""Shared fixtures: a fixed simulated world, the three twins on loopback, isolated dlt pipelines,
DuckDB files and the local PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import dlt
import pytest

from sandbox.server import Sandbox
from sandbox.world import World, WorldConfig
from sources import clock

WORLD_START = "2026-11-23T12:00:00Z"  # a fixed "now", so every run of the suite sees the same world
POSTGRES_URL = os.environ.get("OUTREACH_TEST_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432/test")
# (dlt requires a password in PostgreSQL credentials; a trust-auth server ignores it)


@pytest.fixture(autouse=True)
def _isolated_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, and dlt's global state (pipelines, traces) under the test's own folder."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))


@pytest.fixture
def world_config() -> WorldConfig:
    """Override in a test module to shape the world."""
    return WorldConfig(seed=7, start=WORLD_START)


@pytest.fixture
def world(world_config: WorldConfig, monkeypatch: pytest.MonkeyPatch) -> World:
    """The simulated world; the connector's clock follows the world's clock."""
    the_world = World(world_config)
    monkeypatch.setattr(clock, "utc_now", lambda: the_world.now_dt)
    return the_world


@pytest.fixture
def sandbox(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The three twins, started, with SOURCES__*__BASE_URL / __API_KEY pointing at them."""
    with Sandbox(world) as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "outreach_warehouse.duckdb"


@pytest.fixture
def make_pipeline(tmp_path: Path, duckdb_path: Path) -> Callable[..., dlt.Pipeline]:
    """make_pipeline("reply_io") -> a pipeline into the test's DuckDB file, dataset = vendor name."""

    def _make(name: str, destination: Any = None) -> dlt.Pipeline:
        return dlt.pipeline(
            pipeline_name=name,
            destination=destination or dlt.destinations.duckdb(str(duckdb_path)),
            dataset_name=name,
            pipelines_dir=str(tmp_path / "pipelines"),
        )

    return _make


def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query, run in the pipeline's dataset."""
    with pipeline.sql_client() as client:
        return [tuple(row) for row in client.execute_sql(sql)]


@pytest.fixture
def postgres_url() -> str:
    """The local PostgreSQL server. Under CI=true an unreachable server fails the test; elsewhere it skips."""
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message + " (set OUTREACH_TEST_POSTGRES to use another server)")
    return POSTGRES_URL


@pytest.fixture
def postgres_destination(postgres_url: str) -> Any:
    """A dlt postgres destination on the local server (dlt insists on a password; trust auth ignores it)."""
    parts = urlsplit(postgres_url)
    if parts.password is None:
        postgres_url = parts._replace(netloc=f"{parts.username}:unused@{parts.hostname}:{parts.port or 5432}").geturl()
    return dlt.destinations.postgres(postgres_url)


@pytest.fixture
def postgres_schema_prefix(postgres_url: str) -> Iterator[str]:
    """A unique prefix for the test's schemas in PostgreSQL; they are dropped afterwards."""
    import psycopg2

    prefix = f"t{uuid.uuid4().hex[:8]}"
    yield prefix
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("select nspname from pg_namespace where nspname like %s", (prefix + "%",))
        for (schema,) in cur.fetchall():
            cur.execute(f'drop schema "{schema}" cascade')
