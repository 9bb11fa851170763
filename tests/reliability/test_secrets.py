"""Secrets: one distinctive key for all three vendors, through every failure path (network and
vendor faults, broken bodies, an outage, a refusal that echoes the key, a SIGKILL mid-load and the
recovery run). The key then appears nowhere: not in stdout or stderr (with verbose logging), not in
an exception, not in any file dlt keeps (state, trace, schemas, load packages) and not in the
warehouse, the pipeline state table included."""

from __future__ import annotations

import signal
import traceback
from pathlib import Path
from typing import Any, Callable

import dlt
import pytest
from dlt.common.versioned_state import decompress_state
from dlt.pipeline.exceptions import PipelineStepFailed

from sandbox.server import FAULT_KINDS, Request, Response, Sandbox
from sandbox.world import World
from sources.instantly import instantly_source
from tests.conftest import query
from tests.reliability.conftest import fast_backoff
from tests.reliability.test_crash import run_child

KEY = "sk-live-LEAKCANARY-7f3a9c1e5b2d"
VENDORS = ("reply_io", "saleshandy", "instantly")


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under root whose bytes contain the needle."""
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def echo_the_key_on_refusal(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    """Each twin refuses the key, quoting it back in its error body (as careless vendors do)."""
    for server in sandbox.servers.values():
        twin = server.twin

        def refuse(request: Request, twin: Any = twin) -> Response:
            presented = request.headers.get("x-api-key") or request.headers.get("Authorization") or ""
            return twin.error(401, f"Unknown API key {presented!r} for this workspace")

        monkeypatch.setattr(twin, "authenticate", refuse)


@pytest.fixture
def secret_env(child_env: dict[str, str], sandbox: Sandbox) -> dict[str, str]:
    """The children's environment with the distinctive key, accepted by every twin; dlt logs at INFO."""
    env = dict(child_env, RUNTIME__LOG_LEVEL="INFO")
    for vendor in VENDORS:
        sandbox.servers[vendor].twin.api_key = KEY
        env[f"SOURCES__{vendor.upper()}__API_KEY"] = KEY
        env[f"SOURCES__{vendor.upper()}__MAX_ATTEMPTS"] = "4"
    return env


def test_the_key_appears_nowhere_after_every_failure_path(
        world: World, sandbox: Sandbox, secret_env: dict[str, str], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    outputs: list[str] = []

    def run(crash: str | None = None) -> int:
        done = run_child(secret_env, "all", crash)
        outputs.extend([done.stdout, done.stderr])
        return done.returncode

    # faults of every kind, retried, for two vendors; a sustained outage for the third: it fails
    for vendor in ("reply_io", "instantly"):
        sandbox.servers[vendor].faults.error_rate = 0.15
        sandbox.servers[vendor].faults.kinds = FAULT_KINDS
    sandbox.saleshandy.faults.outage = True
    assert run() == 1
    assert "saleshandy: FAILED: Saleshandy kept failing" in outputs[-2]
    assert {e.fault for vendor in ("reply_io", "instantly") for e in sandbox.servers[vendor].requests()} > {None}
    # killed while loading, then recovered
    for server in sandbox.servers.values():
        server.faults.error_rate, server.faults.outage = 0.0, False
    world.advance(1)
    secret_env["OUTREACH_TEST_NOW"] = world.now_dt.isoformat()
    assert run(crash="load") == -signal.SIGKILL
    assert run() == 0
    # a refusal that quotes the key back
    with monkeypatch.context() as patch:
        echo_the_key_on_refusal(patch, sandbox)
        assert run() == 1
    refusals = [line for line in outputs[-2].splitlines() if "FAILED" in line]
    assert len(refusals) == 3 and all("Unknown API key '***'" in line or "Bearer ***" in line for line in refusals)

    # an exception raised in this process, and its log lines
    fast_backoff(monkeypatch)
    monkeypatch.setenv("SOURCES__INSTANTLY__API_KEY", KEY)
    sandbox.instantly.faults.outage = True
    pipeline = dlt.pipeline(pipeline_name="instantly_in_process", destination="duckdb",
                            pipelines_dir=str(Path(secret_env["DLT_DATA_DIR"]) / "in-process"))
    with caplog.at_level("DEBUG"), pytest.raises(PipelineStepFailed) as failure:
        pipeline.run(instantly_source(max_attempts=2))
    outputs += ["".join(traceback.format_exception(failure.value)), repr(failure.value), caplog.text,
                str(pipeline.last_trace)]

    assert sum(len(server.requests()) for server in sandbox.servers.values()) > 100  # the key was used
    assert [text for text in outputs if KEY in text] == []
    data_dir = Path(secret_env["DLT_DATA_DIR"])
    assert len(list(data_dir.rglob("trace.pickle"))) == 4 and len(list(data_dir.rglob("state.json"))) >= 4
    assert files_holding(data_dir, KEY.encode()) == []
    assert files_holding(Path(secret_env["DESTINATION__DUCKDB__CREDENTIALS"]).parent, KEY.encode()) == []
    for vendor in VENDORS:
        loaded = attach(vendor)
        assert KEY not in str(loaded.last_trace) and KEY not in str(loaded.state)
        states = query(loaded, "select state from _dlt_pipeline_state")
        assert states and all(KEY not in str(decompress_state(state)) for (state,) in states)
