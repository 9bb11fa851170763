"""A scheduled run on a fresh machine (a CI runner, a new container) has no local dlt folder: the
pipeline's position comes back from the warehouse, so the run asks the vendor exactly what a run
on a machine that kept its folder would ask, and the warehouse ends up the same."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from sandbox.server import Sandbox
from sandbox.world import World
from tests.reliability.conftest import CliResult
from tests.reliability.vendors import CASES, merge


def _asked(sandbox: Sandbox, vendor: str) -> list[tuple[str, str, str, bytes]]:
    """What the vendor's twin was asked since its log was cleared, in a stable order."""
    return sorted((e.method, e.path, e.query, e.body) for e in sandbox.servers[vendor].requests())


def _copy(files: list[Path], to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    for file in files:
        if file.exists():
            shutil.copy2(file, to / file.name)


@pytest.mark.parametrize("vendor", ["reply_io", "saleshandy", "instantly"])
def test_a_run_without_the_local_dlt_folder_picks_up_where_the_warehouse_says(
        vendor: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        warehouse: Path, run_env: dict[str, str], tmp_path: Path) -> None:
    case = CASES[vendor]
    assert cli("run", "--source", vendor, "--no-models").code == 0
    first = case.first_run(world)
    cursor = case.cursor(attach(vendor))
    warehouse_files = [warehouse, warehouse.with_name(warehouse.name + ".wal")]
    _copy(warehouse_files, tmp_path / "before")
    world.advance(1)

    sandbox.servers[vendor].clear_log()
    assert cli("run", "--source", vendor, "--no-models").code == 0  # the machine that kept its folder
    kept = _asked(sandbox, vendor)
    assert case.loaded(attach(vendor)) == merge(first, case.rerun(world, cursor))

    for file in warehouse_files:  # the same warehouse as before that run, on a machine without a dlt folder
        file.unlink(missing_ok=True)
    _copy([tmp_path / "before" / file.name for file in warehouse_files], warehouse.parent)
    shutil.rmtree(run_env["DLT_DATA_DIR"])
    sandbox.servers[vendor].clear_log()
    assert cli("run", "--source", vendor, "--no-models").code == 0

    assert _asked(sandbox, vendor) == kept  # the same requests: not a first run again, no day skipped
    pipeline = attach(vendor)
    assert case.loaded(pipeline) == merge(first, case.rerun(world, cursor))
    assert case.cursor(pipeline) == world.today.isoformat()
