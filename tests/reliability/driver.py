"""`python -m tests.reliability.driver run --source X ...`: the real CLI (`pipelines.cli.main`) in a
child process, with test hooks taken from the environment:

- OUTREACH_TEST_NOW: the connector's clock (an ISO instant), so the child runs on the sandbox
  world's day;
- OUTREACH_TEST_BACKOFF: the client's first backoff between retries, in seconds (default 1), so
  fault tests stay short; which requests are retried, and how often, does not change;
- OUTREACH_TEST_CRASH: the process kills itself with SIGKILL in the middle of a dlt step:
  - ``extract``: when the OUTREACH_TEST_CRASH_AFTER-th vendor request (default 3) has been answered,
    with rows already handed to dlt;
  - ``normalize``: when dlt's normalize worker has written the package's normalized files, before
    they are committed;
  - ``load``: when the first merge into a final table has completed, before the package is complete.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any, Callable

import pendulum


def _kill() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _after(owner: Any, name: str, condition: Callable[[Any], bool]) -> None:
    """Wrap owner.name so the process is killed right after a call whose result meets `condition`."""
    real = getattr(owner, name)

    @functools.wraps(real)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if condition(result):
            _kill()
        return result

    setattr(owner, name, wrapper)


def install_crash(step: str) -> None:
    """Arm the SIGKILL for a step: extract, normalize or load."""
    if step == "extract":
        from sources.http import RequestStats, VendorClient

        after = int(os.environ.get("OUTREACH_TEST_CRASH_AFTER", "3"))
        answered = RequestStats()  # a thread-safe counter

        def enough(_: Any) -> bool:
            answered.add(done=1)
            return answered.done >= after

        _after(VendorClient, "request", enough)
    elif step == "normalize":
        from dlt.normalize import normalize

        _after(normalize, "w_normalize_files", lambda _: True)
    elif step == "load":
        from dlt.load.load import Load

        _after(Load, "complete_jobs", lambda result: any(
            job.job_file_info().file_format == "sql" for job in result[1]))
    else:
        raise ValueError(f"unknown crash step {step!r}")


def fast_backoff(initial: float) -> None:
    """Start the client's exponential backoff at `initial` seconds (capped at 4x that)."""
    from tenacity import wait_exponential_jitter

    from sources import http

    http.wait_exponential_jitter = lambda **_: wait_exponential_jitter(initial=initial, max=4 * initial,
                                                                       jitter=initial)


def main() -> int:
    """Install the hooks the environment asks for and run the CLI."""
    from pipelines import cli
    from sources import clock

    now = os.environ.get("OUTREACH_TEST_NOW")
    if now:
        pinned = pendulum.parse(now).in_tz("UTC")
        clock.utc_now = lambda: pinned
    backoff = os.environ.get("OUTREACH_TEST_BACKOFF")
    if backoff:
        fast_backoff(float(backoff))
    step = os.environ.get("OUTREACH_TEST_CRASH")
    if step:
        install_crash(step)
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
