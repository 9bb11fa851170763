"""`python -m pipelines demo`: the whole product on the sandbox, with no accounts and no network.

It starts the three vendor twins on loopback, loads all three vendors into a DuckDB file of its
own (never your real warehouse, and with its own pipeline state), builds the models, writes the
report, and prints where everything is and a short funnel table.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import dlt

from pipelines import report, sandbox_cmd
from pipelines import run as runner
from pipelines.models import models_pipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `demo`: where to write, and the sandbox's own options."""
    parser.add_argument("--output-dir", default="demo",
                        help="folder for the demo's DuckDB file, pipeline state and report (default: ./demo)")
    sandbox_cmd.add_arguments(parser)


def execute(args: argparse.Namespace) -> int:
    """Run the demo; return 0 when every vendor loaded and the models and report were built."""
    folder = Path(args.output_dir).resolve()
    warehouse = folder / "outreach_warehouse.duckdb"
    pipelines_dir = folder / "pipelines"
    for stale in (warehouse, pipelines_dir):  # every demo starts from an empty warehouse
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    folder.mkdir(parents=True, exist_ok=True)

    sandbox = sandbox_cmd.build(args)
    destination = dlt.destinations.duckdb(str(warehouse))
    print("Starting local twins of the Reply.io, Saleshandy and Instantly APIs ...")
    with sandbox:
        os.environ.update(sandbox.env())
        sources, _ = runner.prepare_sources(list(runner.VENDORS), explicit=True, start_date=None, end_date=None)
        progress = runner.RunProgress()
        results = []
        for vendor, source in sources.items():
            print(f"Loading {vendor} ...")
            pipeline = runner.make_pipeline(vendor, destination, str(pipelines_dir), progress)
            results.append(runner.load_vendor(pipeline, source, "parquet"))
    result = runner.RunResult(results)
    runner.rebuild_models(destination, result)
    print(runner.format_summary(result))
    if result.exit_code != runner.EXIT_OK:
        return result.exit_code

    report_path = report.write_report(destination, path=folder / "outreach_report.html")
    with models_pipeline(destination).sql_client() as client:
        marts = report.read_marts(client)
    print("\nFunnel per sequence (all loaded days):\n")
    print(funnel_table(marts["fct_funnel"], marts["dim_sequence"]))
    print(f"\nWarehouse: {warehouse}\n"
          f"  raw tables in the schemas reply_io, saleshandy, instantly; marts in outreach\n"
          f"  e.g. .venv/bin/python -c \"import duckdb; duckdb.connect('{warehouse}').sql("
          f"'select * from outreach.fct_funnel').show()\"\n"
          f"Report:    {report_path}\n"
          f"Pipeline state: {pipelines_dir}")
    return runner.EXIT_OK


def funnel_table(funnel: Sequence[dict[str, Any]], sequences: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of the funnel: one line per vendor and sequence."""
    names = {(s["vendor"], str(s["sequence_id"])): s["name"] for s in sequences}
    columns = ("sent", "delivered", "opened", "replied", "positive", "meetings_booked")
    header = f"{'vendor':<11} {'sequence':<28}" + "".join(f"{c.replace('_booked', ''):>10}" for c in columns) \
        + f"{'reply %':>9}"
    lines = [header, "-" * len(header)]
    for row in sorted(funnel, key=lambda r: (r["vendor"], str(names.get((r["vendor"], str(r["sequence_id"])), "")))):
        name = str(names.get((row["vendor"], str(row["sequence_id"])), row["sequence_id"]))[:27]
        cells = "".join(f"{'-' if row[c] is None else row[c]:>10}" for c in columns)
        rate = "-" if row["reply_rate"] is None else f"{100 * row['reply_rate']:.1f}"
        lines.append(f"{row['vendor']:<11} {name:<28}{cells}{rate:>9}")
    return "\n".join(lines)
