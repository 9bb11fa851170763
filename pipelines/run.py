"""`python -m pipelines run`: load the vendors into the warehouse, then build the models.

Each vendor is its own dlt pipeline and dataset (reply_io, saleshandy, instantly) in one
destination. A run checks its whole configuration before the first request, refuses to start
while another run of the same pipeline is going on, finishes any load a crashed run left
pending, loads each vendor (one failing vendor does not stop the others), and ends with a
summary and an exit code a scheduler can act on.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import dlt
import duckdb
import psycopg2
from dlt.common.configuration.exceptions import ConfigFieldMissingException, ConfigurationException
from dlt.common.destination import Destination
from dlt.common.destination.exceptions import DestinationException
from dlt.common.runtime.collector import LogCollector
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.models import DIALECTS, BuildReport, ModelError, build_models
from sources.http import VendorError, live_clients

log = logging.getLogger(__name__)

VENDORS = ("reply_io", "saleshandy", "instantly")
# the @dlt.source of each vendor, as module:function
SOURCE_FACTORIES = {
    "reply_io": "sources.reply_io:reply_io",
    "saleshandy": "sources.saleshandy:saleshandy_source",
    "instantly": "sources.instantly:instantly_source",
}
# the loader file format per destination: parquet is far faster than dlt's default insert_values (and
# dlt 1.31 over-counts the rows of csv files in its normalize info, which the run summary reports)
LOADER_FORMATS = {"duckdb": "parquet", "filesystem": "parquet", "motherduck": "parquet", "postgres": "parquet"}

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3
# not "outreach.duckdb": DuckDB names the catalog after the file, and "outreach" would clash with the
# models' dataset, making `select * from outreach.fct_funnel` ambiguous
DEFAULT_DUCKDB_FILE = "outreach_warehouse.duckdb"
# what dlt or the warehouse's driver raises when the warehouse cannot be reached or refuses a statement
WAREHOUSE_ERRORS = (DestinationException, psycopg2.Error, duckdb.Error)


class ConfigError(ValueError):
    """The configuration or the command line is wrong; nothing was requested."""


class RunBusy(RuntimeError):
    """Another run of the same pipeline is in progress."""


@dataclass
class VendorResult:
    """What one vendor's run did."""

    vendor: str
    rows: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None


@dataclass
class RunResult:
    """What a whole run did: each vendor, then the models."""

    vendors: list[VendorResult]
    models: BuildReport | str | None = None  # the build report, or why the models were skipped
    models_error: str | None = None

    @property
    def exit_code(self) -> int:
        """EXIT_FAILED when a vendor or the models failed, else EXIT_OK."""
        failed = any(v.error for v in self.vendors) or self.models_error
        return EXIT_FAILED if failed else EXIT_OK


def source_factory(vendor: str) -> Any:
    """The @dlt.source function of a vendor."""
    module, name = SOURCE_FACTORIES[vendor].split(":")
    return getattr(importlib.import_module(module), name)


def make_pipeline(vendor: str, destination: Any, pipelines_dir: str | None = None,
                  progress: Any = None) -> dlt.Pipeline:
    """The dlt pipeline of one vendor: pipeline and dataset are named after the vendor."""
    return dlt.pipeline(pipeline_name=vendor, destination=destination, dataset_name=vendor,
                        pipelines_dir=pipelines_dir, progress=progress)


def resolve_destination(name: str) -> Destination:
    """A dlt destination by name; ConfigError when dlt does not know it.

    DuckDB without configured credentials is the one file DEFAULT_DUCKDB_FILE in the working
    folder (dlt would make one file per pipeline, and the models need all vendors in one). A
    relative DuckDB path is made absolute here, against the working folder: dlt would resolve it
    against the folder the pipeline was first run from.
    """
    if name == "duckdb":
        return dlt.destinations.duckdb(_absolute(dlt.secrets.get("destination.duckdb.credentials") or DEFAULT_DUCKDB_FILE))
    try:
        return Destination.from_reference(name)
    except Exception:  # dlt raises several types for a name it cannot resolve
        raise ConfigError(f"unknown destination '{name}': use a dlt destination name such as duckdb, postgres, "
                          f"filesystem, bigquery, snowflake or motherduck") from None


def _absolute(credentials: Any) -> Any:
    """A DuckDB file path made absolute (against the working folder); other credentials as they are."""
    if isinstance(credentials, str) and not credentials.startswith(":") and "://" not in credentials:
        return str(Path(credentials).expanduser().resolve())
    return credentials


def check_destination(pipeline: dlt.Pipeline) -> None:
    """Resolve the destination's configuration and credentials now, before any request.

    Missing or unreadable (e.g. empty) settings raise ConfigError; no setting's value is shown.
    """
    name = pipeline.destination.destination_name
    try:
        pipeline.destination_client()
    except ConfigFieldMissingException as exc:
        hint = " (a PostgreSQL URL needs a password; with trust auth any will do)" if name == "postgres" else ""
        raise ConfigError(f"destination {name} is not configured ({', '.join(exc.fields)} missing or incomplete): "
                          f"set DESTINATION__{name.upper()}__CREDENTIALS (or BUCKET_URL) or [destination.{name}] "
                          f"in .dlt/secrets.toml{hint}") from None
    except ConfigurationException as exc:
        field = getattr(exc, "field_name", None)
        if field and "credentials" not in field and "password" not in field:
            raise ConfigError(f"destination {name} is not configured right: its setting {field} could not be read; "
                              f"check DESTINATION__{name.upper()}__{field.upper()} or [destination.{name}] {field}"
                              ) from None
        raise ConfigError(f"destination {name} is not configured right: its credentials are empty or malformed; "
                          f"check DESTINATION__{name.upper()}__CREDENTIALS or [destination.{name}] "
                          f"in .dlt/secrets.toml") from None


def loader_format(destination: Any) -> str | None:
    """The loader file format to use for a destination (None: dlt's own choice)."""
    name = destination if isinstance(destination, str) else destination.destination_name
    return LOADER_FORMATS.get(name)


def prepare_sources(vendors: list[str], explicit: bool, start_date: str | None, end_date: str | None,
                    ) -> tuple[dict[str, Any], list[VendorResult]]:
    """Build every requested source before any request: config errors surface here.

    A vendor without an API key (or with an empty one, as an unset GitHub Actions secret is) is
    skipped (with a message) when running all; asked for by name, it is a ConfigError. Bad dates
    raise ConfigError.
    """
    sources: dict[str, Any] = {}
    skipped: list[VendorResult] = []
    for vendor in vendors:
        kwargs = {k: v for k, v in (("start_date", start_date), ("end_date", end_date)) if v}
        key = dlt.secrets.get(f"sources.{vendor}.api_key")
        if key is not None and not str(key).strip():
            skipped.append(_without_key(vendor, explicit))
            continue
        try:
            sources[vendor] = source_factory(vendor)(**kwargs)
        except ConfigFieldMissingException as exc:
            if "api_key" not in exc.fields:
                raise ConfigError(f"{vendor}: missing setting(s) {', '.join(exc.fields)}") from None
            skipped.append(_without_key(vendor, explicit))
        except ValueError as exc:
            raise ConfigError(f"{vendor}: {exc}") from None
    return sources, skipped


def _without_key(vendor: str, explicit: bool) -> VendorResult:
    """A vendor without an API key: skipped, or a ConfigError when it was asked for by name."""
    setting = f"SOURCES__{vendor.upper()}__API_KEY"
    if explicit:
        raise ConfigError(f"{vendor}: no API key. Set {setting} or [sources.{vendor}] api_key in .dlt/secrets.toml")
    return VendorResult(vendor, skipped=f"no API key ({setting} is not set or empty)")


@contextlib.contextmanager
def exclusive(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Hold the pipeline's run lock; raise RunBusy when another run holds it."""
    Path(pipeline.working_dir).mkdir(parents=True, exist_ok=True)
    lock_path = Path(pipeline.working_dir) / "run.lock"
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunBusy(f"another run of pipeline '{pipeline.pipeline_name}' is in progress (pid {holder}); "
                          f"this run did nothing. Try again when it has finished.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_vendor(pipeline: dlt.Pipeline, source: Any, file_format: str | None) -> VendorResult:
    """Finish what a crashed run left pending, then load the source; never raises for vendor errors.
    The vendor's HTTP connections are closed when it is done."""
    result = VendorResult(pipeline.pipeline_name)
    try:
        if pipeline.has_pending_data:
            log.warning("%s: completing the load a previous run left pending", pipeline.pipeline_name)
            pipeline.run()
        pipeline.run(source, loader_file_format=file_format)
    except PipelineStepFailed as exc:
        result.error = _reason(exc)
    except VendorError as exc:
        result.error = str(exc)
    finally:
        for client in live_clients():
            if client.vendor.name == pipeline.pipeline_name:
                client.close()
    trace = pipeline.last_trace
    normalize_info = trace.last_normalize_info if trace else None
    if normalize_info and not result.error:
        result.rows = {t: n for t, n in normalize_info.row_counts.items() if not t.startswith("_dlt")}
    state = pipeline.state.get("sources", {}).get(pipeline.pipeline_name, {})
    result.notes = dict(state.get("last_run", {})) if not result.error else {}
    return result


def rebuild_models(destination: Destination, result: RunResult) -> None:
    """Rebuild the SQL models after the loads; a failure is recorded in the result, not raised."""
    if destination.destination_name not in DIALECTS:
        result.models = (f"skipped: the SQL models run on {' and '.join(DIALECTS)}, not on "
                         f"{destination.destination_name}")
        return
    try:
        result.models = build_models(destination)
    except ModelError as exc:
        result.models_error = mask_passwords(str(exc))
    except WAREHOUSE_ERRORS as exc:
        result.models_error = warehouse_error(exc)


def warehouse_error(exc: BaseException) -> str:
    """A warehouse's error (e.g. it cannot be reached) in one line, any password in it masked."""
    return f"warehouse error: {_first_line(exc)}"


def mask_passwords(text: str) -> str:
    """The text with the password of every URL (scheme://user:password@host) and password=... masked."""
    text = re.sub(r"(://[^/:@\s]*:)\S*@", r"\1***@", text)  # up to the last @: a password may hold one
    return re.sub(r"""(password\s*=\s*)('[^']*'|"[^"]*"|\S+)""", r"\1***", text, flags=re.IGNORECASE)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), passwords masked."""
    lines = str(exc).strip().splitlines()
    return mask_passwords(lines[0] if lines else type(exc).__name__)


def _reason(exc: BaseException) -> str:
    """The most useful message in an exception chain: the vendor's error, or the warehouse's."""
    seen = exc
    while seen is not None:
        if isinstance(seen, (VendorError, ConfigError)):
            return str(seen)
        if isinstance(seen, WAREHOUSE_ERRORS):
            return warehouse_error(seen)
        seen = seen.__cause__ or seen.__context__
    return _first_line(exc)


class RunProgress(LogCollector):
    """dlt's log collector, plus the requests each vendor client made and planned; written to stderr.

    Silent for the first `log_period` seconds of a step, so short runs print nothing.
    """

    def __init__(self, log_period: float = 10.0) -> None:
        super().__init__(log_period=log_period, logger=sys.stderr, dump_system_stats=False)

    def _start(self, step: str) -> None:
        super()._start(step)
        self.last_log_time = self._clock()

    def _stop(self) -> None:
        self.counters = None
        self.counter_info = None
        self.messages = None

    def dump_counters(self) -> None:
        """dlt's counters, then each live vendor client's requests, retries and throttle waits."""
        super().dump_counters()
        for client in live_clients():
            stats = client.stats
            planned = f"{stats.planned_done}/{stats.planned} planned requests done, " if stats.planned else ""
            sys.stderr.write(f"{client.vendor.title}: {planned}{stats.done} requests in all, {stats.retries} retries, "
                             f"{stats.throttled} throttled\n")


def format_summary(result: RunResult) -> str:
    """The end-of-run summary: rows per table, requests, retries, throttle waits, days, gaps, warnings."""
    lines = ["", "Run summary", "==========="]
    for vendor in result.vendors:
        if vendor.skipped:
            lines.append(f"{vendor.vendor}: skipped: {vendor.skipped}")
            continue
        if vendor.error:
            lines.append(f"{vendor.vendor}: FAILED: {vendor.error}")
            continue
        notes = vendor.notes
        lines.append(f"{vendor.vendor}: {notes.get('requests', 0)} requests, {notes.get('retries', 0)} retries, "
                     f"{notes.get('throttled', 0)} throttled ({notes.get('throttle_wait_s', 0)} s waited)")
        for table, count in sorted(vendor.rows.items()):
            lines.append(f"  {table}: {count} rows loaded")
        for resource, (first, last) in sorted(notes.get("days", {}).items()):
            lines.append(f"  {resource}: days {first} .. {last}")
        if notes.get("missing_days"):
            days = notes["missing_days"]
            lines.append(f"  GAP: {len(days)} day(s) out of the API's reach, not loaded: {_day_ranges(days)}")
        for name, count in sorted(notes.get("counters", {}).items()):
            lines.append(f"  {name}: {count}")
        for warning in notes.get("warnings", []):
            lines.append(f"  warning: {warning}")
    if result.models_error:
        lines.append(f"models: FAILED: {result.models_error}")
    elif result.models is not None:
        lines.append(f"models: {result.models}")
    return "\n".join(lines)


def _day_ranges(days: list[str]) -> str:
    """'2026-01-01 .. 2026-01-05, 2026-01-09' from a list of ISO days."""
    import pendulum

    ordered = sorted(set(days))
    ranges: list[list[str]] = []
    for day in ordered:
        if ranges and pendulum.parse(day).date() == pendulum.parse(ranges[-1][1]).date().add(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return ", ".join(first if first == last else f"{first} .. {last}" for first, last in ranges)
