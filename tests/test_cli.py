"""The CLI as a user runs it: in a subprocess, from a clean directory, against the twins; the warehouse
is compared with the world's truth, and the run summary with the warehouse."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import dlt
import duckdb
import psycopg2
import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from dlt.common.destination import TDestinationReferenceArg

from pipelines import cli as cli_module
from pipelines import report
from sandbox.server import Sandbox
from sandbox.world import Shape, World, WorldConfig
from tests.conftest import clear_dlt_settings
from tests.reliability.vendors import CASES, instantly_first_day, merge

RAW_TABLES = {
    "reply_io": ("sequences", "sequence_stats_daily", "step_stats_snapshots"),
    "saleshandy": ("sequences", "email_stats"),
    "instantly": ("campaigns", "step_analytics_daily", "campaign_analytics_daily"),
}
KEYS = {
    "reply_io.sequence_stats_daily": "sequence_id, day",
    "saleshandy.email_stats": "sequence_id, step_number, recipient_email",
    "instantly.step_analytics_daily": "campaign_id, day, step, variant",
    "instantly.campaign_analytics_daily": "campaign_id, day",
}
MARTS = ("dim_sequence", "fct_sequence_daily", "fct_funnel", "fct_step_variant")
MIDNIGHT_MARGIN_S = 180  # longer than any one test here takes


@pytest.fixture
def world_config() -> WorldConfig:
    # the CLI runs on the real clock, so the world starts at the real now; small, so runs stay quick.
    # A test must not span midnight UTC (the CLI's today would pass the world's): near it, wait it out.
    now = time.time()
    to_midnight = 86400 - now % 86400
    if to_midnight < MIDNIGHT_MARGIN_S:
        time.sleep(to_midnight + 1)
    small = Shape(sequences=3, prospects_per_day=2, oldest_days=60, newest_days=10)
    return WorldConfig(seed=11, reply_io=small, saleshandy=small, instantly=small)


def cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`python -m pipelines ...` in a subprocess, with the project's shipped config (the dlt project folder
    of `_isolated_dlt`) and a private dlt folder."""
    full_env = {**os.environ, "DLT_DATA_DIR": str(cwd / "dlt"),
                "RUNTIME__DLTHUB_TELEMETRY": "false", **env}
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def test_a_developer_s_own_dlt_settings_never_reach_the_cli_under_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # dlt reads the shipped config.toml from a folder of its own, never the repo's .dlt/secrets.toml
    settings = Path(Container()[PluggableRunContext].context.settings_dir)
    assert [path.name for path in settings.iterdir()] == ["config.toml"]
    assert os.environ["DLT_PROJECT_DIR"] == str(settings.parent)  # the CLI's subprocesses use it too
    assert dlt.config["sources.reply_io.look_back_days"] == 7

    # and the dlt variables a developer exported are gone
    mine = {"SOURCES__INSTANTLY__API_KEY": "mine", "API_KEY": "mine",
            "DESTINATION__POSTGRES__CREDENTIALS": "postgresql://me:pw@prod.example.com/dw"}
    for name, value in mine.items():
        monkeypatch.setenv(name, value)
    clear_dlt_settings(monkeypatch)
    assert [name for name in mine if name in os.environ] == []


def summary_rows(stdout: str, vendor: str, table: str) -> int:
    """The rows the run summary says a vendor's table got."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{vendor}: "))
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        if line.strip().startswith(f"{table}: ") and line.endswith(" rows loaded"):
            return int(line.split(": ")[1].split()[0])
    raise AssertionError(f"no row count for {vendor}.{table} in the summary:\n{stdout}")


def run_env(sandbox: Sandbox, world: World) -> dict[str, str]:
    """The twins' settings, and Instantly's first day as the world's truth (`CASES`) expects it."""
    return {**sandbox.env(), "SOURCES__INSTANTLY__START_DATE": instantly_first_day(world).isoformat()}


def assert_warehouse_holds_the_world(destination: TDestinationReferenceArg, world: World, cwd: Path,
                                     runs: int = 1) -> None:
    """Every vendor's raw tables equal the world's truth after `runs` runs on the same day: nothing
    lost, nothing doubled. The CLI's own pipelines (in `cwd`) give the cursor a rerun starts from."""
    for vendor, case in CASES.items():
        pipeline = dlt.pipeline(pipeline_name=vendor, destination=destination, dataset_name=vendor,
                                pipelines_dir=str(cwd / "dlt" / "pipelines"))
        expected = case.first_run(world)
        if runs == 2:
            expected = merge(expected, case.rerun(world, case.cursor(pipeline)))
        assert case.loaded(pipeline) == expected, vendor


def test_demo_in_a_clean_directory(tmp_path: Path) -> None:
    result = cli(["demo", "--seed", "3"], tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    warehouse = tmp_path / "demo" / "outreach_warehouse.duckdb"
    report = tmp_path / "demo" / "outreach_report.html"
    assert f"Warehouse: {warehouse}" in result.stdout and f"Report:    {report}" in result.stdout
    assert "Funnel per sequence" in result.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for vendor, tables in RAW_TABLES.items():
            for table in tables:
                count = con.sql(f"select count(*) from {vendor}.{table}").fetchone()[0]
                assert count == summary_rows(result.stdout, vendor, table) > 0
        funnel = con.sql("select vendor, count(*) from outreach.fct_funnel group by vendor order by vendor").fetchall()
        assert [vendor for vendor, _ in funnel] == ["instantly", "reply_io", "saleshandy"]
        table_lines = result.stdout.split("Funnel per sequence (all loaded days):")[1].split("Warehouse:")[0].strip().splitlines()
        assert len(table_lines) - 2 == sum(n for _, n in funnel)  # header and rule, then one line per sequence
        names = [name for (name,) in con.sql("select name from outreach.dim_sequence").fetchall()]
    page = report.read_text()
    assert names and all(name in page for name in names)  # every sequence made it into the report


def test_run_into_duckdb_then_again_without_doubling(tmp_path: Path, sandbox: Sandbox, world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    env = run_env(sandbox, world)  # no warehouse configured: the default file in the working folder
    first = cli(["run"], tmp_path, env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "models: built 13 models in outreach (duckdb)" in first.stdout
    second = cli(["run"], tmp_path, env)
    assert second.returncode == 0, second.stdout + second.stderr
    with duckdb.connect(str(tmp_path / "outreach_warehouse.duckdb"), read_only=True) as con:
        for table, key in KEYS.items():
            rows, keys = con.sql(f"select count(*), count(distinct ({key})) from {table}").fetchone()
            assert rows == keys > 0, table
        for mart in MARTS:
            assert con.sql(f"select count(*) from outreach.{mart}").fetchone()[0] > 0
        loaded = con.sql("select count(*) from saleshandy.email_stats").fetchone()[0]
    assert loaded == summary_rows(first.stdout, "saleshandy", "email_stats")
    assert_warehouse_holds_the_world(dlt.destinations.duckdb(str(tmp_path / "outreach_warehouse.duckdb")), world,
                                     tmp_path, runs=2)
    nowhere = tmp_path / "no-such-folder" / "report.html"
    refused = cli(["report", "--output", str(nowhere)], tmp_path, env)
    assert (refused.returncode, refused.stderr) == (1, "")
    assert refused.stdout == f"error: the report could not be written to {nowhere}: No such file or directory\n"


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh database on the local server (the CLI's datasets have fixed names)."""
    name = f"cli_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    admin.cursor().execute(f"create database {name}")
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    admin.cursor().execute(f"drop database {name} with (force)")
    admin.close()


def test_run_into_postgres(tmp_path: Path, sandbox: Sandbox, world: World, postgres_database: str) -> None:
    env = {**run_env(sandbox, world), "DESTINATION__POSTGRES__CREDENTIALS": postgres_database}
    result = cli(["run", "--destination", "postgres"], tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "models: built 13 models in outreach (postgres)" in result.stdout
    with psycopg2.connect(postgres_database) as con, con.cursor() as cur:
        for vendor, tables in RAW_TABLES.items():
            for table in tables:
                cur.execute(f"select count(*) from {vendor}.{table}")
                assert cur.fetchone()[0] == summary_rows(result.stdout, vendor, table) > 0
        cur.execute("select count(*) from outreach.fct_funnel")
        assert cur.fetchone()[0] == 3 * 3
    assert_warehouse_holds_the_world(dlt.destinations.postgres(postgres_database), world, tmp_path)


def test_run_into_parquet_files(tmp_path: Path, sandbox: Sandbox, world: World) -> None:
    bucket = tmp_path / "lake"
    env = {**run_env(sandbox, world), "DESTINATION__FILESYSTEM__BUCKET_URL": bucket.as_uri()}
    case = CASES["instantly"]
    first, rerun = case.first_run(world), case.rerun(world, world.today.isoformat())
    keys = {"campaigns": ("id",), "step_analytics_daily": ("campaign_id", "day", "step", "variant"),
            "campaign_analytics_daily": ("campaign_id", "day")}

    def rows(table: str) -> list[tuple]:
        files = [str(f) for f in (bucket / "instantly" / table).glob("*.parquet")]
        return duckdb.sql(f"select {', '.join(keys[table])} from read_parquet({files})").fetchall() if files else []

    result = cli(["run", "--destination", "filesystem", "--source", "instantly"], tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "models: skipped: the SQL models run on duckdb and postgres, not on filesystem" in result.stdout
    for table in RAW_TABLES["instantly"]:
        assert sorted(rows(table)) == sorted(first[table]), table  # exactly the truth's keys, each once
        assert len(rows(table)) == summary_rows(result.stdout, "instantly", table)

    again = cli(["run", "--destination", "filesystem", "--source", "instantly"], tmp_path, env)
    assert again.returncode == 0, again.stdout + again.stderr
    for table in RAW_TABLES["instantly"]:  # files are appended to: the re-read days come again, as documented
        assert sorted(rows(table)) == sorted([*first[table], *rerun[table]]), table


def test_a_relative_duckdb_file_is_in_the_folder_the_run_starts_from(tmp_path: Path, sandbox: Sandbox, world: World,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    env = {**run_env(sandbox, world), "DLT_DATA_DIR": str(tmp_path / "dlt")}  # one dlt folder for both runs
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        result = cli(["run", "--source", "instantly", "--no-models"], tmp_path / folder, env)
        assert result.returncode == 0, result.stdout + result.stderr
        with duckdb.connect(str(tmp_path / folder / "outreach_warehouse.duckdb"), read_only=True) as con:
            assert con.sql("select count(*) from instantly._dlt_loads").fetchone() == (1,)  # its own run, in its own file
    (tmp_path / "b" / "sub").mkdir()
    env["DESTINATION__DUCKDB__CREDENTIALS"] = "sub/mine.duckdb"  # a configured relative path: from the run's folder too
    assert cli(["run", "--source", "instantly", "--no-models"], tmp_path / "b", env).returncode == 0
    assert (tmp_path / "b" / "sub" / "mine.duckdb").exists()


@pytest.mark.parametrize("command", ["models", "report"])
def test_models_and_report_without_a_reachable_warehouse_say_why(command: str, tmp_path: Path) -> None:
    unconfigured = cli([command, "--destination", "postgres"], tmp_path, {})
    assert (unconfigured.returncode, unconfigured.stderr) == (2, "")
    assert unconfigured.stdout == ("error: destination postgres is not configured (credentials missing or incomplete): "
                                   "set DESTINATION__POSTGRES__CREDENTIALS (or BUCKET_URL) or [destination.postgres] "
                                   "in .dlt/secrets.toml (a PostgreSQL URL needs a password; with trust auth any will "
                                   "do)\n")

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"DESTINATION__POSTGRES__CREDENTIALS": f"postgresql://loader:pw-CANARY-9@127.0.0.1:{port}/dw"}
    unreachable = cli([command, "--destination", "postgres"], tmp_path, env)
    assert (unreachable.returncode, unreachable.stderr) == (1, "")
    assert unreachable.stdout == (f'error: warehouse error: connection to server at "127.0.0.1", port {port} '
                                  f'failed: Connection refused\n')


def test_a_failure_after_the_options_were_accepted_is_not_called_bad_usage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise ValueError("a bug, not a bad option")

    monkeypatch.setattr(report, "read_marts", broken)
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "warehouse.duckdb"))
    with pytest.raises(ValueError, match="a bug, not a bad option"):  # a traceback and exit 1, never exit 2
        cli_module.main(["report", "--output", str(tmp_path / "report.html")])
