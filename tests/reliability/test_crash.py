"""Crashes: a run killed with SIGKILL during extract, normalize and load (in a child process, at a
fixed point of each step), then run again with the CLI. The warehouse then equals the truth, no key
is doubled, and no load package is left pending: the rerun completed what the killed run had
committed (its state already counted on that data) and dropped what it had not."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any, Callable

import pytest

from sandbox.server import Sandbox
from sandbox.world import World
from tests.conftest import query
from tests.reliability.conftest import pending_packages
from tests.reliability.vendors import CASES

DRIVER = [sys.executable, "-m", "tests.reliability.driver", "run", "--no-models", "--source"]


def run_child(env: dict[str, str], vendor: str, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process (see driver.py), optionally killed at a step."""
    child_env = dict(env, OUTREACH_TEST_CRASH=crash or "")
    return subprocess.run([*DRIVER, vendor], env=child_env, capture_output=True, text=True, timeout=120,
                          cwd=env["PYTHONPATH"])


@pytest.mark.parametrize("vendor, step", [
    ("reply_io", "extract"), ("saleshandy", "extract"), ("instantly", "normalize"), ("reply_io", "load"),
])
def test_a_run_killed_mid_step_is_completed_by_the_next_run(
        vendor: str, step: str, world: World, sandbox: Sandbox, child_env: dict[str, str],
        attach: Callable[..., Any]) -> None:
    killed = run_child(child_env, vendor, crash=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    requests = len(sandbox.servers[vendor].requests())
    assert requests >= 3  # it was loading when it died
    pipeline = attach(vendor)
    if step == "extract":  # nothing was committed: no package, no state
        assert pending_packages(pipeline) == [] and CASES[vendor].cursor(pipeline) is None
    else:  # the package is pending, and the state already counts on its data: dropping it would leave a gap
        assert pending_packages(pipeline) and CASES[vendor].cursor(pipeline) == world.today.isoformat()
    if step == "load":  # a final table was merged, but the load was never recorded as complete
        assert query(pipeline, "select count(*) from _dlt_loads") == [(0,)]
        assert any(rows for rows in CASES[vendor].loaded(pipeline).values())

    rerun = run_child(child_env, vendor)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-2000:]
    pipeline = attach(vendor)
    assert CASES[vendor].loaded(pipeline) == CASES[vendor].first_run(world)  # `loaded` fails on a doubled key
    assert pending_packages(pipeline) == []
    assert CASES[vendor].cursor(pipeline) == world.today.isoformat()
