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
from typing import Any, Iterable, Iterator, Mapping, Sequence

import dlt
from dlt.common.destination.reference import TDestinationReferenceArg
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.sql_client import SqlClientBase

from pipelines import run as runner
from pipelines.models import MODELS_DATASET, models_pipeline

DEFAULT_OUTPUT = "outreach_report.html"
MARTS = ("dim_sequence", "fct_sequence_daily", "fct_funnel", "fct_step_variant")
VENDORS = {"reply_io": "Reply.io", "saleshandy": "Saleshandy", "instantly": "Instantly"}
# the funnel's stages in order, each with fct_funnel's conversion rate from the stage before it
STAGES = (("sent", None), ("delivered", "delivery_rate"), ("opened", "open_rate"), ("clicked", "click_rate"),
          ("replied", "reply_rate"), ("positive", "positive_rate"), ("meetings_booked", "meeting_rate"))
# the daily chart: bars of the first of these a vendor reports, then a line for each trend metric it reports
VOLUME_METRICS = ("sent", "delivered")
TREND_METRICS = ("opened", "clicked", "replied", "positive", "meetings_booked", "bounced")
HEADLINE_COUNTS = ("sent", "delivered", "replied", "positive", "meetings_booked", "bounced")
# what the page shows of each fct_step_variant row
VARIANT_FIELDS = ("variant", "sent", "replied", "reply_rate", "p_value", "verdict")
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
        # qualified with the catalog too: DuckDB's catalog is named after its file, and in a file
        # named like the dataset (outreach.duckdb) a bare "outreach"."table" is ambiguous
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
    """What the page shows, from the marts: headlines, funnels, daily totals per vendor, steps and variants.

    Sequences are ordered by vendor, then name; a NULL count (the vendor has no such number) stays None.
    Daily rows without a day (a send date the vendor gave could not be read) are left out of the days and
    counted in "undated".
    """
    names = {(r["vendor"], str(r["sequence_id"])): r["name"] or str(r["sequence_id"]) for r in marts["dim_sequence"]}

    def sequence(row: Row) -> dict[str, str]:
        key = (row["vendor"], str(row["sequence_id"]))
        return {"vendor": key[0], "sequence_id": key[1], "name": names.get(key, key[1])}

    def order(row: Row) -> tuple[int, str, str]:
        key = (row["vendor"], str(row["sequence_id"]))
        return _vendor_rank(key[0]), names.get(key, "").lower(), key[1]

    vendors = _vendors(marts)
    funnel_rows = sorted(marts["fct_funnel"], key=order)
    funnel = [{**sequence(row), "counts": [row[stage] for stage, _ in STAGES],
               "rates": [row[rate] if rate else None for _, rate in STAGES]} for row in funnel_rows]

    def step_order(row: Row) -> tuple[Any, ...]:
        return *order(row), _step_key(row["step"]), _variant_key(row["variant"])

    steps: list[dict[str, Any]] = []  # per sequence, its steps, each with its variants
    for row in sorted(marts["fct_step_variant"], key=step_order):
        panel = sequence(row)
        if not steps or (steps[-1]["vendor"], steps[-1]["sequence_id"]) != (panel["vendor"], panel["sequence_id"]):
            steps.append({**panel, "steps": []})
        if not steps[-1]["steps"] or steps[-1]["steps"][-1]["step"] != row["step"]:
            steps[-1]["steps"].append({"step": row["step"], "variants": []})
        steps[-1]["steps"][-1]["variants"].append({key: row[key] for key in VARIANT_FIELDS})
    for panel in steps:
        for step in panel["steps"]:
            for number, variant in enumerate(step["variants"], start=1):
                variant["label"] = variant_label(variant, number)
            step.update(label=step_label(step["step"]), verdict=step_verdict(step["variants"]))
    dated = [r for r in marts["fct_sequence_daily"] if r["day"] is not None]
    days = sorted({r["day"] for r in dated})
    return {
        "range": [days[0], days[-1]] if days else None,
        "undated": len(marts["fct_sequence_daily"]) - len(dated),
        "vendors": [{"vendor": v, "label": VENDORS.get(v, v)} for v in vendors],
        "headlines": [_headline(v, funnel_rows, marts["dim_sequence"]) for v in vendors],
        "stages": [stage for stage, _ in STAGES],
        "funnel": funnel,
        "daily": [_daily(v, dated) for v in vendors],
        "steps": steps,
    }


def step_verdict(variants: Sequence[Row]) -> dict[str, str]:
    """One step's A/B verdict from its variants' verdicts: {"text": ..., "kind": significant|none|few}."""
    verdicts = {v["verdict"] for v in variants}
    worse = [v for v in variants if v["verdict"] == "significantly worse"]
    if worse:
        best = next(v["label"] for v in variants if v["verdict"] == "best")
        return {"text": f"{best} wins, {_p_phrase(min(v['p_value'] for v in worse))}", "kind": "significant"}
    if "not significantly different" in verdicts:
        tested = [v["p_value"] for v in variants if v["p_value"] is not None]
        return {"text": f"no clear winner, {_p_phrase(min(tested))}", "kind": "none"}
    if "too few sends" in verdicts:
        return {"text": "too few sends", "kind": "few"}
    if "counts unknown" in verdicts:
        return {"text": "counts unknown for some variants", "kind": "few"}
    return {"text": sorted(verdicts)[0] if verdicts else "", "kind": "none"}


def _vendor_rank(vendor: str) -> int:
    return list(VENDORS).index(vendor) if vendor in VENDORS else len(VENDORS)


def _vendors(marts: Mapping[str, Sequence[Row]]) -> list[str]:
    """The vendors that have any row in any mart, in the usual order."""
    found = {row["vendor"] for rows in marts.values() for row in rows}
    return sorted(found, key=lambda v: (_vendor_rank(v), v))


def _step_key(step: Any) -> tuple[int, int]:
    """Steps in numeric order; a negative step (Instantly's unattributed sends) last."""
    number = int(step)
    return (1, -number) if number < 0 else (0, number)


def _variant_key(variant: Any) -> tuple[int, str]:
    """Numeric ids in numeric order, names in alphabetical order."""
    text = str(variant)
    return (int(text), "") if text.isdigit() else (0, text)


def _sum(values: Iterable[Any]) -> Any:
    """The sum of the values that are not NULL; NULL when all are."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _daily(vendor: str, daily_rows: Sequence[Row]) -> dict[str, Any]:
    """A vendor's days and, per metric it reports, its total over all sequences per day.

    The bars ("volume") are the sends, or the deliveries for a vendor that does not report sends.
    """
    totals: dict[str, dict[str, list[Any]]] = {}
    for row in daily_rows:
        if row["vendor"] == vendor:
            per_day = totals.setdefault(row["day"], {})
            for metric in VOLUME_METRICS + TREND_METRICS:
                per_day.setdefault(metric, []).append(row[metric])
    days = sorted(totals)
    series = {metric: [_sum(totals[day][metric]) for day in days] for metric in VOLUME_METRICS + TREND_METRICS}
    reported = {metric: values for metric, values in series.items() if any(v is not None for v in values)}
    volume = next((m for m in VOLUME_METRICS if m in reported), None)
    shown = {m: v for m, v in reported.items() if m == volume or m in TREND_METRICS}
    return {"vendor": vendor, "days": days, "volume": volume, "series": shown}


def _headline(vendor: str, funnel_rows: Sequence[Row], sequences: Sequence[Row]) -> dict[str, Any]:
    """A vendor's totals over its sequences; reply rate = replied / delivered (or sent), as in fct_funnel."""
    rows = [r for r in funnel_rows if r["vendor"] == vendor]
    totals = {key: _sum(r[key] for r in rows) for key in HEADLINE_COUNTS}
    reached = totals["delivered"] if totals["delivered"] is not None else totals["sent"]
    return {
        "vendor": vendor,
        "label": VENDORS.get(vendor, vendor),
        "sequences": sum(1 for r in sequences if r["vendor"] == vendor),
        **totals,
        "reply_rate": totals["replied"] / reached if reached and totals["replied"] is not None else None,
        "first_day": min((r["first_day"] for r in rows if r["first_day"] is not None), default=None),
        "last_day": max((r["last_day"] for r in rows if r["last_day"] is not None), default=None),
    }


# -- the page ------------------------------------------------------------------------------------


def render_html(data: Mapping[str, Any], generated_at: dt.datetime | None = None) -> str:
    """The whole page for `report_data(...)`: template, styles, script and data inline; all data text escaped."""
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    covered = f"{data['range'][0]} to {data['range'][1]}" if data["range"] else "no days loaded yet"
    parts = {
        "covered": html.escape(covered),
        "undated": _undated_html(data["undated"]),
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


def _undated_html(count: int) -> str:
    """The note on daily rows left out of the charts for want of a day; nothing when there are none."""
    if not count:
        return ""
    return (f'<p class="note" id="undated">Left out of these charts: {count:,} daily row(s) without a day (a send '
            f'date the vendor gave could not be read); their counts are in the totals and funnels above.</p>')


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _percent(value: Any) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _p_text(value: Any) -> str:
    return "" if value is None else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _p_phrase(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def variant_label(row: Row, number: int) -> str:
    """A variant's short name on the charts: its own (A, B), #1, #2... in id order for a numeric id
    (Reply.io), none where there is no variant breakdown (Saleshandy's "all", Instantly's unattributed)."""
    if row["verdict"] == "no variant breakdown":
        return ""
    return f"#{number}" if str(row["variant"]).isdigit() else str(row["variant"])


def step_label(step: Any) -> str:
    """How a step is named on the page: its number, or "unattributed" for Instantly's negative key."""
    return "unattributed" if int(step) < 0 else f"step {step}"


def _headlines_html(headlines: Sequence[Mapping[str, Any]]) -> str:
    if not headlines:
        return '<p class="empty">No vendor has data in the marts yet.</p>'
    cards = []
    for h in headlines:
        days = f"{h['first_day']} to {h['last_day']}" if h["first_day"] else "no days loaded"
        figures = [("sequences", _number(h["sequences"])), ("sent", _number(h["sent"])),
                   ("delivered", _number(h["delivered"])), ("replied", _number(h["replied"])),
                   ("reply rate", _percent(h["reply_rate"])), ("positive", _number(h["positive"])),
                   ("meetings", _number(h["meetings_booked"])), ("bounced", _number(h["bounced"]))]
        cells = "".join(f'<div class="figure"><span class="value">{html.escape(value)}</span>'
                        f'<span class="label">{html.escape(label)}</span></div>' for label, value in figures)
        cards.append(f'<article class="headline" data-vendor="{html.escape(h["vendor"])}">'
                     f'<h3>{html.escape(h["label"])}</h3><p class="days">{html.escape(days)}</p>'
                     f'<div class="figures">{cells}</div></article>')
    return "\n".join(cards)


def _verdicts_html(panels: Sequence[Mapping[str, Any]]) -> str:
    if not panels:
        return '<p class="empty">No step or variant statistics yet.</p>'
    head = "".join(f"<th>{h}</th>" for h in ("Vendor", "Sequence", "Step", "Variant", "Sent", "Replied",
                                              "Reply rate", "p-value vs best", "Verdict"))
    body = []
    for panel in panels:
        for step in panel["steps"]:
            for v in step["variants"]:
                cells = [VENDORS.get(panel["vendor"], panel["vendor"]), panel["name"], step_label(step["step"]),
                         f'{v["label"]} ({v["variant"]})' if str(v["variant"]).isdigit() else v["variant"],
                         _number(v["sent"]), _number(v["replied"]), _percent(v["reply_rate"]),
                         _p_text(v["p_value"]), v["verdict"]]
                body.append(f'<tr class="verdict-row" data-verdict="{html.escape(v["verdict"])}">' + "".join(
                    f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return f'<table id="ab-verdicts"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# -- opening the warehouse ---------------------------------------------------------------------------


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
            ``dlt.destinations.duckdb("outreach_warehouse.duckdb")``), a pipeline (its SQL client is used),
            or a dlt SQL client (used as it is when already open). The marts are read from
            `models_dataset` whatever the pipeline's or client's own dataset.
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
    """Write the report; print where it is. Returns 0, or 1 when the marts or the warehouse are not there.

    An unknown or unconfigured destination raises `ConfigError`.
    """
    pipeline = models_pipeline(runner.resolve_destination(args.destination))
    runner.check_destination(pipeline)
    try:
        path = write_report(pipeline, path=args.output)
    except MartsMissing as exc:
        print(f"error: {exc}")
        return runner.EXIT_FAILED
    except runner.WAREHOUSE_ERRORS as exc:
        print(f"error: {runner.warehouse_error(exc)}")
        return runner.EXIT_FAILED
    except OSError as exc:
        print(f"error: the report could not be written to {args.output}: {exc.strerror or exc}")
        return runner.EXIT_FAILED
    print(f"report written to {path.resolve()}")
    return runner.EXIT_OK
