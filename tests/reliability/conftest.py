"""Fixtures of the reliability tests: a small world, the three twins with fast-failing client
settings, the real CLI run in-process (`cli`) or in a child process (`child_env`), and the vendor
pipelines it wrote, read back."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import dlt
import pytest
from tenacity import wait_exponential_jitter

from pipelines import cli as cli_module
from sandbox.server import Sandbox
from sandbox.world import Shape, World, WorldConfig
from sources import http
from tests.conftest import WORLD_START
from tests.reliability.vendors import instantly_first_day

SMALL_WORLD = WorldConfig(
    seed=7, start=WORLD_START,
    reply_io=Shape(sequences=3, prospects_per_day=2, oldest_days=60, newest_days=20),
    saleshandy=Shape(sequences=3, prospects_per_day=2, oldest_days=60, newest_days=10),
    instantly=Shape(sequences=3, prospects_per_day=2, oldest_days=40, newest_days=10),
)
CLIENT_TIMEOUT = 1.5  # seconds: short, yet more than a busy 2-core machine takes to answer on loopback
FAULT_STALL = 2.0  # the twins' timeout fault stalls longer than the client waits


@pytest.fixture
def world_config() -> WorldConfig:
    return SMALL_WORLD


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


FAST_BACKOFF = 0.05  # seconds: the client's first backoff between retries in these tests (1 s in production)


def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start the client's backoff at FAST_BACKOFF in this process (see driver.py for child processes)."""
    monkeypatch.setattr(http, "wait_exponential_jitter", lambda **_: wait_exponential_jitter(
        initial=FAST_BACKOFF, max=4 * FAST_BACKOFF, jitter=FAST_BACKOFF))


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def run_env(sandbox: Sandbox, world: World, warehouse: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The twins' URLs and keys, the test's DuckDB file and dlt folder, and client settings that fail
    fast: short timeouts, few attempts. Set in this process and returned for child processes."""
    env = {
        "DESTINATION__DUCKDB__CREDENTIALS": str(warehouse),
        "DLT_DATA_DIR": str(tmp_path / "dlt-data"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "SOURCES__INSTANTLY__START_DATE": instantly_first_day(world).isoformat(),
    }
    for vendor in ("REPLY_IO", "SALESHANDY", "INSTANTLY"):
        env[f"SOURCES__{vendor}__TIMEOUT"] = str(CLIENT_TIMEOUT)
        env[f"SOURCES__{vendor}__MAX_ATTEMPTS"] = "6"
    for server in sandbox.servers.values():
        server.faults.timeout_seconds = FAULT_STALL
        server.faults.retry_after = 1.0
    env.update(sandbox.env())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def cli(run_env: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """cli("run", "--source", "reply_io") -> the exit code and output of `python -m pipelines ...`, in-process,
    in the test's own folder (dlt's settings come from the project folder `_isolated_dlt` sets).

    The client's backoff starts at FAST_BACKOFF (see `fast_backoff`); Retry-After is still honoured.
    """
    fast_backoff(monkeypatch)
    monkeypatch.chdir(tmp_path)

    def _run(*argv: str) -> CliResult:
        capsys.readouterr()
        try:
            code = cli_module.main(list(argv))
        except SystemExit as exc:  # argparse refuses a bad option this way
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return _run


@pytest.fixture
def attach(run_env: dict[str, str], warehouse: Path) -> Callable[[str], dlt.Pipeline]:
    """attach("reply_io") -> the pipeline the CLI ran, on the test's DuckDB file, for queries and state."""

    def _attach(vendor: str) -> dlt.Pipeline:
        return dlt.pipeline(pipeline_name=vendor, destination=dlt.destinations.duckdb(str(warehouse)),
                            dataset_name=vendor, pipelines_dir=str(Path(run_env["DLT_DATA_DIR"]) / "pipelines"))

    return _attach


def pending_packages(pipeline: dlt.Pipeline) -> list[str]:
    """Load packages dlt still holds for the pipeline: extracted or normalized, not loaded."""
    return list(pipeline.list_extracted_load_packages()) + list(pipeline.list_normalized_load_packages())


@pytest.fixture
def child_env(run_env: dict[str, str], world: World) -> Iterator[dict[str, str]]:
    """The environment of a child process running the CLI (tests/reliability/driver.py) on the world's clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(run_env)
    env["OUTREACH_TEST_NOW"] = world.now_dt.isoformat()
    env["OUTREACH_TEST_BACKOFF"] = str(FAST_BACKOFF)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    yield env
