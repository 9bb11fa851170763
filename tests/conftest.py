"""Shared fixtures: a fixed simulated world, the three twins on loopback, isolated dlt pipelines,
DuckDB files and the local PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import dlt
import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from sandbox.server import Sandbox
from sandbox.world import World, WorldConfig
from sources import clock

WORLD_START = "2026-11-23T12:00:00Z"  # a fixed "now", so every run of the suite sees the same world
POSTGRES_URL = os.environ.get("OUTREACH_TEST_POSTGRES", "postgresql://postgres:postgres@127.0.0.1:5432/test")
# (dlt requires a password in PostgreSQL credentials; a trust-auth server ignores it)
REPO = Path(__file__).resolve().parents[1]
# dlt reads a setting from a variable named after its path (SOURCES__INSTANTLY__API_KEY), down to the bare
# key (API_KEY, CREDENTIALS); a developer's own must not reach the tests
DLT_ENV_PREFIXES = ("SOURCES__", "DESTINATION__", "RUNTIME__", "NORMALIZE__", "EXTRACT__", "LOAD__", "DATA_WRITER__",
                    "DLT_")
DLT_BARE_KEYS = {"API_KEY", "CREDENTIALS", "BUCKET_URL", "BASE_URL", "START_DATE", "END_DATE"}


def clear_dlt_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every dlt setting a developer may have exported (SOURCES__*, DESTINATION__*, API_KEY, ...)."""
    for name in list(os.environ):
        if name.startswith(DLT_ENV_PREFIXES) or name in DLT_BARE_KEYS:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def dlt_project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dlt project folder holding only the repo's shipped .dlt/config.toml: never a developer's secrets.toml."""
    folder = tmp_path_factory.mktemp("dlt-project")
    (folder / ".dlt").mkdir()
    shutil.copy(REPO / ".dlt" / "config.toml", folder / ".dlt" / "config.toml")
    return folder


@pytest.fixture(autouse=True)
def _isolated_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dlt_project_dir: Path) -> None:
    """dlt sees the shipped config.toml and no developer's settings (no secrets.toml, no SOURCES__* or
    DESTINATION__* variables); no telemetry; dlt's global state (pipelines, traces) under the test's own folder.

    The variables are set for child processes too: a CLI run in a subprocess is isolated the same way.
    """
    clear_dlt_settings(monkeypatch)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(dlt_project_dir))
    Container()[PluggableRunContext].reload_providers()  # dlt read the toml files of the folder it started in


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
