"""Concurrency: two runs of the same pipeline at once. The first holds the pipeline's run lock and
loads; the second refuses with exit code 3 and a clear message, without a request or a change to
the pipeline, and the warehouse ends up holding the truth once."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from sandbox.server import Sandbox
from sandbox.world import World
from tests.reliability.conftest import pending_packages
from tests.reliability.test_crash import DRIVER, run_child
from tests.reliability.vendors import CASES


def test_a_second_run_of_the_same_pipeline_refuses_cleanly(
        world: World, sandbox: Sandbox, child_env: dict[str, str], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()  # the twin holds its answers until the second run has been refused
    answer = sandbox.reply_io.twin.dispatch
    monkeypatch.setattr(sandbox.reply_io.twin, "dispatch", lambda request: gate.wait(60) and answer(request))
    lock = Path(child_env["DLT_DATA_DIR"]) / "pipelines" / "reply_io" / "run.lock"
    first = subprocess.Popen([*DRIVER, "reply_io"], env=dict(child_env, SOURCES__REPLY_IO__TIMEOUT="60"),
                             cwd=child_env["PYTHONPATH"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not sandbox.reply_io.requests() and time.monotonic() < deadline:  # it holds the lock and loads
            time.sleep(0.05)
        assert lock.read_text() == str(first.pid)

        second = run_child(child_env, "reply_io")

        assert first.poll() is None  # the first run was still going while the second gave up
        assert second.returncode == 3
        assert second.stdout.strip().splitlines() == [
            f"error: another run of pipeline 'reply_io' is in progress (pid {first.pid}); this run did nothing. "
            f"Try again when it has finished."]
        gate.set()
        out, err = first.communicate(timeout=120)
    finally:
        gate.set()
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out + err
    expected = CASES["reply_io"].first_run(world)
    # one run's requests (31 days, one list page, one snapshot per active or paused sequence): none from the second
    snapshotted = {key[0] for key in expected["step_stats_snapshots"]}
    assert len(sandbox.reply_io.requests()) == 31 + 1 + len(snapshotted)
    pipeline = attach("reply_io")
    assert CASES["reply_io"].loaded(pipeline) == expected
    assert pending_packages(pipeline) == []
