"""What one run of a source did, kept in the source's dlt state for the run summary.

Each source makes one `RunNotes` per run; its resources record warnings, the days they covered and
the days they could not reach, and call `save()` when they finish. The notes land in the pipeline
state under `sources.<name>.last_run`, where `python -m pipelines run` reads them for its summary.
"""

from __future__ import annotations

import logging
from typing import Any

import dlt

from sources.http import VendorClient

log = logging.getLogger(__name__)


class RunNotes:
    """Warnings, coverage and request counts of one source run."""

    def __init__(self, client: VendorClient) -> None:
        self.client = client
        self.warnings: list[str] = []
        self.missing_days: list[str] = []
        self.days: dict[str, list[str]] = {}  # resource -> [first day, last day] covered
        self.counters: dict[str, int] = {}

    def warn(self, message: str) -> None:
        """Log a warning and keep it for the summary."""
        log.warning("%s: %s", self.client.vendor.title, message)
        if message not in self.warnings:
            self.warnings.append(message)

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a named counter (e.g. values that did not parse)."""
        self.counters[name] = self.counters.get(name, 0) + amount

    def covered(self, resource: str, first_day: str, last_day: str) -> None:
        """Record the range of days a resource asked for."""
        self.days[resource] = [first_day, last_day]

    def as_dict(self) -> dict[str, Any]:
        stats = self.client.stats
        return {
            "requests": stats.requests,
            "retries": stats.retries,
            "throttled": stats.throttled,
            "throttle_wait_s": round(stats.throttle_wait_s, 2),
            "warnings": list(self.warnings),
            "missing_days": list(self.missing_days),
            "days": dict(self.days),
            "counters": dict(self.counters),
        }

    def save(self) -> None:
        """Write the notes into the source state; call from inside a resource while it runs."""
        dlt.current.source_state()["last_run"] = self.as_dict()
