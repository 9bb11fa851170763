"""`python -m pipelines sandbox` as a user runs it."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx


def test_sandbox_command_prints_the_settings_then_ready_and_serves() -> None:
    process = subprocess.Popen([sys.executable, "-m", "pipelines", "sandbox", "--seed", "3"],
                               stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        assert process.stdout is not None
        while (line := process.stdout.readline().strip()) != "READY":
            assert line, "the sandbox exited before READY"
            lines.append(line)
        settings = dict(line.split("=", 1) for line in lines)
        assert sorted(settings) == sorted(f"SOURCES__{v}__{k}" for v in ("REPLY_IO", "SALESHANDY", "INSTANTLY")
                                          for k in ("BASE_URL", "API_KEY"))
        for vendor in ("REPLY_IO", "SALESHANDY", "INSTANTLY"):
            answer = httpx.get(settings[f"SOURCES__{vendor}__BASE_URL"] + "/nowhere", timeout=5)
            assert answer.status_code in (400, 401, 404)  # a vendor's answer, over real HTTP
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_sandbox_command_refuses_bad_options_with_exit_code_2() -> None:
    result = subprocess.run([sys.executable, "-m", "pipelines", "sandbox", "--faults", "429,gremlins"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown fault kind(s) gremlins" in result.stdout
