"""`python -m pipelines run`: the command a scheduler calls."""

from __future__ import annotations

import argparse
import contextlib
import logging
from typing import Callable

import pendulum

from pipelines import run as runner
from sources import clock
from sources.reply_io.helpers import earliest_day as reply_io_earliest_day
from sources.saleshandy.helpers import oldest_allowed as saleshandy_oldest_allowed

# each API's reach, from the source that obeys it (Instantly takes any range)
OLDEST_START: dict[str, Callable[[pendulum.Date], pendulum.Date]] = {
    "reply_io": reply_io_earliest_day,
    "saleshandy": saleshandy_oldest_allowed,
}

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `run`."""
    parser.add_argument("--source", default="all", choices=[*runner.VENDORS, "all"],
                        help="which vendor to load (default: all that have an API key)")
    parser.add_argument("--destination", default="duckdb",
                        help="any dlt destination name: duckdb (default), postgres, filesystem, bigquery, ...")
    parser.add_argument("--start-date", help="first day to load (YYYY-MM-DD): a backfill or a re-read of a range")
    parser.add_argument("--end-date", help="last day to load (YYYY-MM-DD); default today")
    parser.add_argument("--no-models", action="store_true", help="load only; do not rebuild the SQL models")


def parse_day(value: str | None, option: str) -> pendulum.Date | None:
    """A YYYY-MM-DD option as a date; ConfigError when malformed."""
    if value is None:
        return None
    try:
        parsed = pendulum.parse(value, strict=True, exact=True)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        parsed = None
    if not isinstance(parsed, pendulum.Date) or isinstance(parsed, pendulum.DateTime):
        raise runner.ConfigError(f"{option} must be a date like 2026-01-31, not '{value}'")
    return parsed


def oldest_start(vendor: str, today: pendulum.Date) -> pendulum.Date | None:
    """The oldest start day the vendor's API accepts, as its source knows it (None: no limit)."""
    rule = OLDEST_START.get(vendor)
    return rule(today) if rule else None


def check_dates(vendors: list[str], start: pendulum.Date | None, end: pendulum.Date | None) -> None:
    """Refuse an illegal range before any request."""
    today = clock.utc_today()
    if start and end and end < start:
        raise runner.ConfigError(f"--end-date {end} is before --start-date {start}")
    if end and end > today:
        raise runner.ConfigError(f"--end-date {end} is in the future (today is {today} UTC)")
    for vendor in vendors:
        oldest = oldest_start(vendor, today)
        if start and oldest and start < oldest:
            raise runner.ConfigError(f"--start-date {start} is older than {vendor}'s API allows: "
                                     f"the oldest day it can be asked about is {oldest}")


def execute(args: argparse.Namespace) -> int:
    """Check everything, load each vendor, build the models, print the summary; return the exit code."""
    explicit = args.source != "all"
    vendors = [args.source] if explicit else list(runner.VENDORS)
    start = parse_day(args.start_date, "--start-date")
    end = parse_day(args.end_date, "--end-date")
    check_dates(vendors, start, end)
    destination = runner.resolve_destination(args.destination)
    sources, skipped = runner.prepare_sources(vendors, explicit, args.start_date, args.end_date)
    for item in skipped:
        print(f"{item.vendor}: skipped: {item.skipped}")
    if not sources:
        raise runner.ConfigError("no vendor has an API key: set SOURCES__<VENDOR>__API_KEY "
                                 "(see .dlt/example.secrets.toml)")
    progress = runner.RunProgress()
    pipelines = {v: runner.make_pipeline(v, destination, progress=progress) for v in sources}
    runner.check_destination(next(iter(pipelines.values())))
    file_format = runner.loader_format(args.destination)
    with contextlib.ExitStack() as locks:
        try:
            for pipeline in pipelines.values():
                locks.enter_context(runner.exclusive(pipeline))
        except runner.RunBusy as exc:
            print(f"error: {exc}")
            return runner.EXIT_BUSY
        results = [runner.load_vendor(pipelines[v], sources[v], file_format) for v in sources]
    result = runner.RunResult(skipped + results)
    if not args.no_models:
        runner.rebuild_models(destination, result)
    print(runner.format_summary(result))
    return result.exit_code
