"""Faults from the network and the vendor, per vendor, through the real CLI against the twins:
a run through 10% failing requests completes and equals the truth; a sustained outage fails the
run clearly without moving the state, and the run after it loads everything with no gap."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from sandbox.server import Sandbox
from sandbox.world import World
from sources.http import VENDORS as HTTP_VENDORS
from tests.reliability.conftest import CliResult, pending_packages
from tests.reliability.vendors import CASES, merge

NETWORK_FAULTS = ("429", "500", "502", "503", "timeout", "drop", "truncate")
OUTAGE_AFTER = 3  # good answers before the outage starts


@pytest.mark.parametrize("vendor", list(CASES))
def test_ten_percent_failing_requests_still_load_exactly_the_truth(
        vendor: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = sandbox.servers[vendor]
    # every kind at least once (each followed by a good answer, so no request exhausts its retries),
    # then 10% of the requests drawn from them all
    server.faults.script = [kind for fault in NETWORK_FAULTS for kind in (fault, "")]
    server.faults.kinds = NETWORK_FAULTS
    server.faults.error_rate = 0.10
    monkeypatch.setenv("SOURCES__SALESHANDY__PAGE_SIZE", "10")  # many pages, fetched ahead, under faults

    result = cli("run", "--source", vendor, "--no-models")

    assert result.code == 0, result.text
    faulted = [e for e in server.requests() if e.fault in NETWORK_FAULTS]
    assert {e.fault for e in faulted} == set(NETWORK_FAULTS)
    pipeline = attach(vendor)
    notes = pipeline.state["sources"][vendor]["last_run"]
    assert notes["retries"] == len(faulted)  # each failed request was retried once, and only those
    assert notes["throttled"] == len([e for e in faulted if e.fault == "429"])
    case = CASES[vendor]
    expected = case.first_run(world)
    assert all(expected.values())  # every table has rows to compare
    assert case.loaded(pipeline) == expected
    assert pending_packages(pipeline) == []


@pytest.mark.parametrize("vendor", list(CASES))
def test_an_outage_fails_clearly_keeps_the_state_and_the_next_run_leaves_no_gap(
        vendor: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[vendor]
    server = sandbox.servers[vendor]
    assert cli("run", "--source", vendor, "--no-models").code == 0
    first = case.first_run(world)
    cursor = case.cursor(attach(vendor))
    assert cursor == world.today.isoformat()

    world.advance(2)
    monkeypatch.setenv(f"SOURCES__{vendor.upper()}__MAX_ATTEMPTS", "2")
    server.clear_log()
    server.faults.script = [""] * OUTAGE_AFTER + ["503"] * 10_000  # good answers, then every request fails
    result = cli("run", "--source", vendor, "--no-models")

    assert result.code == 1
    failed = [line for line in result.out.splitlines() if line.startswith(f"{vendor}: FAILED: ")]
    assert len(failed) == 1, result.text
    title = HTTP_VENDORS[vendor].title
    bad = [e for e in server.requests() if e.status == 503]
    # the message names a request that failed (with requests of several resources in flight, any of them)
    assert any(f"{title} kept failing on {e.method} {e.path}: server error 503 (gave up after 2 attempts)"
               in failed[0] for e in bad)
    pipeline = attach(vendor)
    assert case.cursor(pipeline) == cursor  # the state did not move
    assert case.loaded(pipeline) == first  # nothing of the failed run was loaded
    assert pending_packages(pipeline) == []

    world.advance(1)
    server.faults.script = []
    monkeypatch.setenv(f"SOURCES__{vendor.upper()}__MAX_ATTEMPTS", "6")
    assert cli("run", "--source", vendor, "--no-models").code == 0
    pipeline = attach(vendor)
    assert case.loaded(pipeline) == merge(first, case.rerun(world, cursor))
    assert case.cursor(pipeline) == world.today.isoformat()


@pytest.mark.parametrize("down", list(CASES))
def test_a_vendor_in_an_outage_fails_alone_and_the_others_load_in_full(
        down: str, world: World, sandbox: Sandbox, cli: Callable[..., CliResult], attach: Callable[..., Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"SOURCES__{down.upper()}__MAX_ATTEMPTS", "2")
    sandbox.servers[down].faults.outage = True

    result = cli("run", "--no-models")  # every vendor

    assert result.code == 1, result.text
    failed = [line.split(":")[0] for line in result.out.splitlines() if ": FAILED: " in line]
    assert failed == [down], result.text
    assert CASES[down].cursor(attach(down)) is None and pending_packages(attach(down)) == []
    for vendor in CASES.keys() - {down}:
        assert CASES[vendor].loaded(attach(vendor)) == CASES[vendor].first_run(world)
        assert CASES[vendor].cursor(attach(vendor)) == world.today.isoformat()
