"""The command line: what a user (or a scheduler) runs."""

from __future__ import annotations

import argparse
import logging

from pipelines import demo, report, run_cmd, sandbox_cmd
from pipelines.models import DIALECTS, ModelError, build_models, models_pipeline
from pipelines.run import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, WAREHOUSE_ERRORS, ConfigError, check_destination,
                           mask_passwords, resolve_destination, warehouse_error)


def parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m pipelines`."""
    root = argparse.ArgumentParser(prog="python -m pipelines",
                                   description="Outreach analytics from Reply.io, Saleshandy and Instantly "
                                               "into your warehouse.")
    root.add_argument("-v", "--verbose", action="store_true", help="log what happens, request by request")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="load the vendors into the warehouse, then build the models")
    run_cmd.add_arguments(run)
    run.set_defaults(handler=run_cmd.execute)

    demo_parser = commands.add_parser("demo", help="the whole product on local twins of the APIs: load, model, report")
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(handler=demo.execute)

    models_parser = commands.add_parser("models", help="rebuild the SQL models (staging views and marts)")
    models_parser.add_argument("--destination", default="duckdb", help="the warehouse: duckdb (default) or postgres")
    models_parser.set_defaults(handler=rebuild_models)

    report_parser = commands.add_parser("report", help="write the HTML funnel report from the models")
    report.add_arguments(report_parser)
    report_parser.set_defaults(handler=report.execute)

    sandbox = commands.add_parser("sandbox", help="serve local twins of the three vendor APIs until interrupted")
    sandbox_cmd.add_arguments(sandbox)
    sandbox.set_defaults(handler=sandbox_cmd.serve)
    return root


def rebuild_models(args: argparse.Namespace) -> int:
    """`python -m pipelines models`: rebuild the models and print what was built.

    An unknown or unconfigured destination raises ConfigError; a failing model or warehouse returns EXIT_FAILED.
    """
    destination = resolve_destination(args.destination)
    if destination.destination_name not in DIALECTS:
        raise ConfigError(f"the SQL models run on {' and '.join(DIALECTS)}, not on {args.destination}")
    check_destination(models_pipeline(destination))
    try:
        print(build_models(destination).summary())
    except ModelError as exc:
        print(f"error: {mask_passwords(str(exc))}")
        return EXIT_FAILED
    except WAREHOUSE_ERRORS as exc:
        print(f"error: {warehouse_error(exc)}")
        return EXIT_FAILED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run a command; return its exit code (0 ok, 1 failed, 2 bad usage or config, 3 another run is going on)."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"error: {exc}")
        return EXIT_USAGE
