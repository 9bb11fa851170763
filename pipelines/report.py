"""`python -m pipelines report`: the outreach funnel as one self-contained HTML page.

The page is built from the marts in the models dataset (`outreach` by default) of whichever
warehouse holds them, read through dlt's own SQL client. It needs nothing at view time: no
network, no chart library. The numbers are embedded as JSON and a small inline script
(`report.js`) draws the charts as SVG; the headline numbers and the A/B verdict table are plain
HTML, so they print and read without the script. Every text taken from the data is escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import html
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import dlt
from dlt.common.destination.reference import TDestinationReferenceArg
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase

from pipelines import run as runner

MODELS_DATASET = "outreach"
DEFAULT_OUTPUT = "outreach_report.html"
MARTS = ("dim_sequence", "fct_sequence_daily", "fct_funnel", "fct_step_variant")
VENDORS = {"reply_io": "Reply.io", "saleshandy": "Saleshandy", "instantly": "Instantly"}
# the funnel's stages in order; a stage a mart does not have is left out
STAGES = ("sent", "delivered", "opened", "clicked", "replied", "positive", "meetings_booked")
# the daily chart: bars of sends, lines of these
TREND_METRICS = ("opened", "clicked", "replied", "positive")
ASSETS = Path(__file__).resolve().parent

Row = dict[str, Any]


class MartsMissing(RuntimeError):
    """The models dataset or one of its marts is not in the warehouse."""


def read_marts(client: SqlClientBase[Any], models_dataset: str = MODELS_DATASET) -> dict[str, list[Row]]:
    """Every row of the four marts, by mart name, as JSON-ready dicts, through an open SQL client.

    Raises `MartsMissing` (saying what to run) when the dataset or a mart is not there.
    """
    hint = ("run `python -m pipelines run` (load and build the models) or `python -m pipelines models` first, "
            "with the same --destination")
    marts: dict[str, list[Row]] = {}
    with client.with_alternative_dataset_name(models_dataset):
        if not client.has_dataset():
            raise MartsMissing(f"the warehouse has no models dataset '{models_dataset}': {hint}")
        # qualified with the catalog too: DuckDB's catalog is named after its file, and in the default
        # outreach.duckdb a bare "outreach"."table" is ambiguous
        catalog = client.execute_sql("select current_database()")[0][0]
        for mart in MARTS:
            name = ".".join(client.make_qualified_table_name_path(mart, catalog=catalog))
            try:
                with client.execute_query(f"select * from {name}") as cursor:
                    columns = [column[0] for column in cursor.description]
                    marts[mart] = [dict(zip(columns, map(_plain, row))) for row in cursor.fetchall()]
            except DatabaseUndefinedRelation:
                raise MartsMissing(f"the models dataset '{models_dataset}' has no table {mart}: {hint}") from None
    return marts


def _plain(value: Any) -> Any:
    """A warehouse value as JSON has it: dates as ISO strings, decimals as floats."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def report_data(marts: Mapping[str, Sequence[Row]]) -> dict[str, Any]:
    """What the page shows, from the marts: headlines, funnels, daily totals per vendor, steps and variants."""
    names = {(r["vendor"], str(r["sequence_id"])): r.get("name") or str(r["sequence_id"])
             for r in marts["dim_sequence"]}

    def sequence(row: Row) -> dict[str, str]:
        key = (row["vendor"], str(row["sequence_id"]))
        return {"vendor": row["vendor"], "sequence_id": key[1], "name": names.get(key, key[1])}

    def order(row: Row) -> tuple[int, str, str]:
        return _vendor_rank(row["vendor"]), names.get((row["vendor"], str(row["sequence_id"])), ""), str(row["sequence_id"])

    funnel_rows = sorted(marts["fct_funnel"], key=order)
    stages = [s for s in STAGES if any(s in row for row in funnel_rows)]
    funnel = [{**sequence(row), "counts": [row.get(s) for s in stages]} for row in funnel_rows]

    days = sorted({r["day"] for r in marts["fct_sequence_daily"]})
    daily = []
    for vendor in _vendors(marts):
        rows = [r for r in marts["fct_sequence_daily"] if r["vendor"] == vendor]
        vendor_days = sorted({r["day"] for r in rows})
        series = {metric: [_sum(r.get(metric) for r in rows if r["day"] == day) for day in vendor_days]
                  for metric in ("sent", *TREND_METRICS)}
        daily.append({"vendor": vendor, "days": vendor_days,
                      "series": {m: v for m, v in series.items() if any(x is not None for x in v)}})

    steps: list[dict[str, Any]] = []
    for row in sorted(marts["fct_step_variant"], key=lambda r: (*order(r), _step_key(r["step"]), str(r["variant"]))):
        panel = sequence(row)
        if not steps or (steps[-1]["vendor"], steps[-1]["sequence_id"]) != (panel["vendor"], panel["sequence_id"]):
            steps.append({**panel, "variants": []})
        steps[-1]["variants"].append({k: row.get(k) for k in
                                      ("step", "variant", "sent", "replied", "reply_rate", "p_value", "verdict")})

    return {
        "range": [days[0], days[-1]] if days else None,
        "vendors": [{"vendor": v, "label": VENDORS.get(v, v)} for v in _vendors(marts)],
        "headlines": [_headline(v, funnel_rows, marts) for v in _vendors(marts)],
        "stages": stages,
        "funnel": funnel,
        "daily": daily,
        "steps": steps,
    }


def _vendor_rank(vendor: str) -> int:
    return list(VENDORS).index(vendor) if vendor in VENDORS else len(VENDORS)


def _vendors(marts: Mapping[str, Sequence[Row]]) -> list[str]:
    """The vendors that have any row in any mart, in the usual order."""
    found = {row["vendor"] for rows in marts.values() for row in rows}
    return sorted(found, key=lambda v: (_vendor_rank(v), v))


def _step_key(step: Any) -> tuple[int, str]:
    """Steps in numeric order; a step that is not a number (an unattributed key) last."""
    text = str(step)
    return (int(text), "") if text.isdigit() else (1 << 30, text)


def _sum(values: Iterator[Any]) -> float | None:
    """The sum of the values that are not NULL; NULL when all are."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _headline(vendor: str, funnel_rows: Sequence[Row], marts: Mapping[str, Sequence[Row]]) -> dict[str, Any]:
    rows = [r for r in funnel_rows if r["vendor"] == vendor]
    totals = {s: _sum(r.get(s) for r in rows) for s in ("sent", "replied", "positive", "meetings_booked")}
    days = [r["day"] for r in marts["fct_sequence_daily"] if r["vendor"] == vendor]
    return {
        "vendor": vendor,
        "label": VENDORS.get(vendor, vendor),
        "sequences": sum(1 for r in marts["dim_sequence"] if r["vendor"] == vendor),
        **totals,
        "reply_rate": totals["replied"] / totals["sent"] if totals["sent"] and totals["replied"] is not None else None,
        "first_day": min(days) if days else None,
        "last_day": max(days) if days else None,
    }


# -- the page ------------------------------------------------------------------------------------


def render_html(data: Mapping[str, Any], generated_at: dt.datetime | None = None) -> str:
    """The whole page for `report_data(...)`: template, styles, script and data inline; all data text escaped."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    covered = f"{data['range'][0]} to {data['range'][1]}" if data["range"] else "no days loaded yet"
    parts = {
        "covered": html.escape(covered),
        "generated": html.escape(generated_at.strftime("%Y-%m-%d %H:%M UTC")),
        "headlines": _headlines_html(data["headlines"]),
        "verdicts": _verdicts_html(data["steps"]),
        "data": _script_json(data),
        "script": (ASSETS / "report.js").read_text(),
    }
    template = (ASSETS / "report_template.html").read_text()
    # one pass, so a placeholder-like text inside the data is never itself replaced
    return re.sub(r"\{\{ (\w+) \}\}", lambda match: parts[match.group(1)], template)


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' can end it or open a tag."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _headlines_html(headlines: Sequence[Mapping[str, Any]]) -> str:
    if not headlines:
        return '<p class="empty">No vendor has data in the marts yet.</p>'
    cards = []
    for h in headlines:
        days = f"{h['first_day']} to {h['last_day']}" if h["first_day"] else "no days loaded"
        figures = [("sequences", _number(h["sequences"])), ("sent", _number(h["sent"])),
                   ("replied", _number(h["replied"])), ("reply rate", _percent(h["reply_rate"])),
                   ("positive", _number(h["positive"])), ("meetings", _number(h["meetings_booked"]))]
        cells = "".join(f'<div class="figure"><span class="value">{html.escape(value)}</span>'
                        f'<span class="label">{html.escape(label)}</span></div>' for label, value in figures)
        cards.append(f'<article class="headline" data-vendor="{html.escape(h["vendor"])}">'
                     f'<h3>{html.escape(h["label"])}</h3><p class="days">{html.escape(days)}</p>'
                     f'<div class="figures">{cells}</div></article>')
    return "\n".join(cards)


def _verdicts_html(steps: Sequence[Mapping[str, Any]]) -> str:
    if not steps:
        return '<p class="empty">No step or variant statistics yet.</p>'
    head = "".join(f"<th>{h}</th>" for h in ("Vendor", "Sequence", "Step", "Variant", "Sent", "Replied",
                                              "Reply rate", "p-value", "Verdict"))
    body = []
    for panel in steps:
        for v in panel["variants"]:
            cells = [VENDORS.get(panel["vendor"], panel["vendor"]), panel["name"], v["step"], v["variant"],
                     _number(v["sent"]), _number(v["replied"]), _percent(v["reply_rate"]),
                     "" if v["p_value"] is None else f"{v['p_value']:.3f}", v["verdict"] or ""]
            body.append('<tr class="verdict-row">' + "".join(
                f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f'<table id="ab-verdicts"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# -- opening the warehouse ---------------------------------------------------------------------------


def models_pipeline(destination: TDestinationReferenceArg, models_dataset: str = MODELS_DATASET) -> dlt.Pipeline:
    """The pipeline the models are built with (see pipelines.models): its dataset is the models dataset."""
    return dlt.pipeline(pipeline_name=f"{models_dataset}_models", destination=destination, dataset_name=models_dataset)


@contextlib.contextmanager
def _open_client(source: TDestinationReferenceArg | dlt.Pipeline | SqlClientBase[Any],
                 models_dataset: str) -> Iterator[SqlClientBase[Any]]:
    """An open SQL client on the warehouse; a client passed in open is used as it is."""
    if isinstance(source, SqlClientBase):
        if source.native_connection is not None:
            yield source
            return
        client = source
    elif isinstance(source, dlt.Pipeline):
        client = source.sql_client()
    else:
        client = models_pipeline(source, models_dataset).sql_client()
    with client:
        yield client


def write_report(source: TDestinationReferenceArg | dlt.Pipeline | SqlClientBase[Any],
                 models_dataset: str = MODELS_DATASET, path: str | Path = DEFAULT_OUTPUT) -> Path:
    """Write the HTML funnel report from the marts of a warehouse; return the file's path.

    Args:
        source: where the marts are: a dlt destination (``"duckdb"``, ``"postgres"``,
            ``dlt.destinations.duckdb("outreach.duckdb")``), a pipeline whose destination to use,
            or a dlt SQL client (used as it is when already open).
        models_dataset: the dataset the models were built in.
        path: the HTML file to write (its folder must exist); overwritten.

    Raises:
        MartsMissing: the models dataset or one of its marts is not there (the message says what to run).
    """
    with _open_client(source, models_dataset) as client:
        marts = read_marts(client, models_dataset)
    target = Path(path)
    target.write_text(render_html(report_data(marts)), encoding="utf-8")
    return target


# -- the command -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `report`."""
    parser.add_argument("--destination", default="duckdb",
                        help="the dlt destination that holds the models: duckdb (default) or postgres")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"the HTML file to write (default {DEFAULT_OUTPUT})")


def execute(args: argparse.Namespace) -> int:
    """Write the report; print where it is. Returns 0, or 1 when the marts are missing.

    An unknown or unconfigured destination raises `ConfigError`.
    """
    pipeline = models_pipeline(runner.resolve_destination(args.destination))
    runner.check_destination(pipeline)
    try:
        path = write_report(pipeline, path=args.output)
    except MartsMissing as exc:
        print(f"error: {exc}")
        return 1
    print(f"report written to {path.resolve()}")
    return 0
