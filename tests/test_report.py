"""The HTML report: built from the real marts of a sandbox load, opened in headless Chromium,
every chart counted against the marts; text from the data escaped; a missing dataset explained."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import dlt
import duckdb
import psycopg2
import pytest

from pipelines import report
from pipelines.models import build_models
from pipelines.run import VENDORS, source_factory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
HOSTILE = "</script><script>document.body.dataset.pwned = 'yes'</script><img src=x onerror=\"alert(1)\">"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing and we are root.

    When it cannot be had, the test fails under CI=true and skips elsewhere.
    """
    if not shutil.which(CHROMIUM) and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run("apt-get update && apt-get install -y chromium", shell=True, env=env,
                       capture_output=True, timeout=900, check=False)
    if not shutil.which(CHROMIUM):
        reason = f"{CHROMIUM} is not installed and could not be installed (apt-get install chromium, as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


def open_in_chromium(chromium: str, page: Path, tmp_path: Path, *args: str) -> str:
    """Chromium's stdout for the page, opened with these extra arguments."""
    done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=90, check=True)
    return done.stdout


class Dom(HTMLParser):
    """The elements of an HTML document, each with its tag, attributes, text content and parent."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": {k: v or "" for k, v in attrs}, "text": "",
                   "parent": self._open[-1] if self._open else None}
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def find(self, tag: str, css_class: str | None = None, within: dict[str, Any] | None = None,
             **attrs: str) -> list[dict[str, Any]]:
        """Elements by tag, class, ancestor and attribute values (data_vendor= for data-vendor)."""
        return [e for e in self.elements if e["tag"] == tag
                and (css_class is None or css_class in e["attrs"].get("class", "").split())
                and (within is None or self._inside(e, within))
                and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]

    @staticmethod
    def _inside(element: dict[str, Any], ancestor: dict[str, Any]) -> bool:
        while element["parent"] is not None:
            element = element["parent"]
            if element is ancestor:
                return True
        return False


def mart_rows(duckdb_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        con.execute("use outreach")  # the marts' schema
        return con.execute(sql).fetchall()


def embedded_data(page: str) -> dict[str, Any]:
    """The JSON the page's script draws from."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.DOTALL)
    assert match, "the page embeds its data"
    return json.loads(match.group(1))


# -- end to end: sandbox -> DuckDB -> models -> report -> Chromium ---------------------------------------


def test_report_from_the_real_marts_renders_every_chart_in_chromium(
        sandbox: Any, make_pipeline: Callable[..., dlt.Pipeline], duckdb_path: Path, tmp_path: Path, chromium: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for vendor in VENDORS:
        make_pipeline(vendor).run(source_factory(vendor)(), loader_file_format="parquet")
    build_models(dlt.destinations.duckdb(str(duckdb_path)))
    # a vendor's sequence name is data: it must show as text, never run
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute("update outreach.dim_sequence set name = ? where (vendor, sequence_id) in (select "
                    "vendor, min(sequence_id) from outreach.dim_sequence group by vendor)", [HOSTILE])

    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))  # as .dlt/config.toml sets it
    page = tmp_path / "report.html"
    assert report.execute(argparse.Namespace(destination="duckdb", output=str(page))) == 0
    assert capsys.readouterr().out == f"report written to {page}\n"
    dom = Dom(open_in_chromium(chromium, page, tmp_path, "--dump-dom"))
    open_in_chromium(chromium, page, tmp_path, f"--screenshot={tmp_path / 'report.png'}", "--window-size=1280,2000")

    assert dom.find("body", data_rendered="true"), "the chart script ran to its end"
    assert not dom.find("body", data_pwned="yes") and not dom.find("img"), "a sequence name ran as HTML"
    assert len(dom.find("script")) == 2, "only the page's own two scripts"
    vendors = [v for (v,) in mart_rows(duckdb_path, "select distinct vendor from fct_sequence_daily")]
    assert sorted(vendors) == ["instantly", "reply_io", "saleshandy"]
    first, last = mart_rows(duckdb_path, "select min(day), max(day) from fct_sequence_daily")[0]
    assert dom.find("strong", id="covered")[0]["text"] == f"{first} to {last}"
    assert {e["attrs"]["data-vendor"] for e in dom.find("article", "headline")} == set(vendors)

    # the funnel: a row per sequence, a bar per stage count that is not NULL
    not_null = " + ".join(f"count({stage})" for stage, _ in report.STAGES)
    for vendor in vendors:
        sequences, counts = mart_rows(duckdb_path, f"select count(*), {not_null} from fct_funnel "
                                                   f"where vendor = '{vendor}'")[0]
        svg = dom.find("svg", id=f"funnel-{vendor}")[0]
        assert sequences > 0 and counts > 0
        assert len(dom.find("g", "funnel-row", within=svg)) == sequences
        assert len(dom.find("rect", "funnel-bar", within=svg)) == counts

    # the daily trends: a bar per day with sends (deliveries for Reply.io), a line point per day and metric
    volume = {"reply_io": "delivered", "saleshandy": "sent", "instantly": "sent"}
    for vendor in vendors:
        svg = dom.find("svg", id=f"daily-{vendor}")[0]
        days = mart_rows(duckdb_path, f"select count(distinct day) from fct_sequence_daily "
                                      f"where vendor = '{vendor}' and {volume[vendor]} is not null")[0][0]
        assert days > 0 and len(dom.find("rect", "daily-bar", within=svg)) == days
        for metric in report.TREND_METRICS:
            days = mart_rows(duckdb_path, f"select count(distinct day) from fct_sequence_daily "
                                          f"where vendor = '{vendor}' and {metric} is not null")[0][0]
            lines = dom.find("path", "daily-line", within=svg, data_metric=metric)
            if days == 0:  # the vendor has no such number: no line, rather than a line of zeros
                assert lines == [], f"{vendor} {metric}"
                continue
            assert len(lines) == 1, f"{vendor} {metric}"
            assert int(lines[0]["attrs"]["data-points"]) == days
            assert len(re.findall(r"[ML]", lines[0]["attrs"]["d"])) == days

    # steps and variants: a bar per fct_step_variant row, a panel per sequence, a table row per variant
    (rows, sequences) = mart_rows(duckdb_path, "select count(*), count(distinct (vendor, sequence_id)) "
                                               "from fct_step_variant")[0]
    assert rows > 0
    assert len(dom.find("rect", "variant-bar")) == rows
    assert len(dom.find("div", "step-panel")) == sequences
    assert len(dom.find("tr", "verdict-row")) == rows
    verdicts = dict(mart_rows(duckdb_path, "select verdict, count(*) from fct_step_variant group by verdict"))
    assert {v: len(dom.find("rect", "variant-bar", data_verdict=v)) for v in verdicts} == verdicts

    # the hostile names are shown, as text
    hostile_panels = [e for e in dom.find("h3") if e["attrs"].get("title") == HOSTILE]
    assert hostile_panels and all(e["text"].endswith(" \u00b7 " + HOSTILE) for e in hostile_panels)
    assert any(e["text"] == HOSTILE for e in dom.find("td"))
    assert (tmp_path / "report.png").stat().st_size > 20_000


@pytest.mark.postgres
def test_report_reads_the_real_marts_from_postgresql(sandbox: Any, postgres_url: str, postgres_schema_prefix: str,
                                                      tmp_path: Path) -> None:
    destination = dlt.destinations.postgres(postgres_url)
    datasets = {vendor: f"{postgres_schema_prefix}_{vendor}" for vendor in VENDORS}
    for vendor, dataset in datasets.items():
        pipeline = dlt.pipeline(pipeline_name=f"pg_{vendor}", destination=destination, dataset_name=dataset,
                                pipelines_dir=str(tmp_path / "pipelines"))
        pipeline.run(source_factory(vendor)(), loader_file_format="csv")
    models_dataset = f"{postgres_schema_prefix}_outreach"
    build_models(destination, dataset_names=datasets, models_dataset=models_dataset)

    page = report.write_report(destination, models_dataset=models_dataset, path=tmp_path / "report.html")

    data = embedded_data(page.read_text())
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        def one(sql: str) -> tuple[Any, ...]:
            cur.execute(sql.replace("{ds}", f'"{models_dataset}"'))
            return cur.fetchone()

        first, last = one("select min(day), max(day) from {ds}.fct_sequence_daily")
        assert data["range"] == [first.isoformat(), last.isoformat()]
        assert len(data["funnel"]) == one("select count(*) from {ds}.fct_funnel")[0]
        variants = [v for panel in data["steps"] for step in panel["steps"] for v in step["variants"]]
        assert len(variants) == one("select count(*) from {ds}.fct_step_variant")[0] > 0
        for headline in data["headlines"]:
            vendor = headline["vendor"]
            assert (headline["replied"], headline["positive"]) == one(
                f"select sum(replied), sum(positive) from {{ds}}.fct_funnel where vendor = '{vendor}'")
            daily = next(d for d in data["daily"] if d["vendor"] == vendor)
            assert len(daily["days"]) == one(
                f"select count(distinct day) from {{ds}}.fct_sequence_daily where vendor = '{vendor}'")[0]


# -- the page, without a browser ---------------------------------------------------------------------


def small_marts(name: str) -> dict[str, list[dict[str, Any]]]:
    """Marts as read_marts returns them: one Instantly sequence called `name`, two days, one A/B-tested step."""
    sequence = {"vendor": "instantly", "sequence_id": "c1"}
    counts = {"delivered": None, "opened": 40, "clicked": 5, "replied": 9, "positive": 3, "bounced": None,
              "unsubscribed": None, "meetings_booked": None}
    rates = {"delivery_rate": None, "open_rate": 0.4, "click_rate": 0.125, "reply_rate": 0.09, "positive_rate": 0.33,
             "meeting_rate": None}
    variant = {"sent": 150, "replied": 12, "reply_rate": 0.08, "best_variant": "A", "is_significant": None}
    return {
        "dim_sequence": [{**sequence, "name": name, "status": "active", "created_at": "2026-09-01T00:00:00+00:00"}],
        "fct_sequence_daily": [{**sequence, "day": day, **counts, "sent": sent}
                               for day, sent in (("2026-11-01", 60), ("2026-11-02", 40))],
        "fct_funnel": [{**sequence, "first_day": "2026-11-01", "last_day": "2026-11-02", "sent": 100, **counts,
                        **rates}],
        "fct_step_variant": [{**sequence, "step": 1, "variant": "A", **variant, "p_value": None, "verdict": "best"},
                             {**sequence, "step": 1, "variant": "B", **variant, "replied": 2, "reply_rate": 0.013,
                              "p_value": 0.004, "is_significant": True, "verdict": "significantly worse"}],
    }


def test_text_from_the_data_is_escaped_and_round_trips_through_the_embedded_json() -> None:
    page = report.render_html(report.report_data(small_marts(HOSTILE)))

    assert HOSTILE not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2, "only the page's own two scripts"
    assert "&lt;/script&gt;&lt;script&gt;document.body.dataset.pwned" in page  # the verdict table
    data = embedded_data(page)
    assert data["funnel"][0]["name"] == HOSTILE
    assert data["steps"][0]["name"] == HOSTILE


def test_the_page_needs_no_network_and_keeps_null_as_null() -> None:
    page = report.render_html(report.report_data(small_marts("Q4 outbound")))

    assert not re.search(r"\b(src|href)\s*=|<link|@import|url\(", page)
    data = embedded_data(page)
    assert data["range"] == ["2026-11-01", "2026-11-02"]
    assert data["stages"] == [stage for stage, _ in report.STAGES]
    assert data["funnel"][0]["counts"] == [100, None, 40, 5, 9, 3, None]
    daily = data["daily"][0]
    assert daily["volume"] == "sent" and daily["series"]["sent"] == [60, 40]
    assert "bounced" not in daily["series"] and "meetings_booked" not in daily["series"]
    assert data["steps"][0]["steps"][0]["verdict"] == {"text": "A wins, p = 0.004", "kind": "significant"}
    assert data["undated"] == 0 and 'id="undated"' not in page


def test_daily_rows_without_a_day_are_left_out_of_the_daily_charts_and_counted() -> None:
    marts = small_marts("Q4 outbound")  # plus a second sequence whose every send date was unreadable (NULL day)
    undated = {**marts["fct_sequence_daily"][0], "sequence_id": "c2", "day": None, "sent": 7}
    marts["fct_sequence_daily"] += [undated, {**undated, "sent": 3}]
    marts["fct_funnel"].append({**marts["fct_funnel"][0], "sequence_id": "c2", "first_day": None, "last_day": None})

    data = report.report_data(marts)
    page = report.render_html(data)

    assert data["range"] == ["2026-11-01", "2026-11-02"] and data["undated"] == 2
    assert data["daily"][0]["days"] == ["2026-11-01", "2026-11-02"]
    assert data["daily"][0]["series"]["sent"] == [60, 40]
    assert (data["headlines"][0]["first_day"], data["headlines"][0]["last_day"]) == ("2026-11-01", "2026-11-02")
    assert data["headlines"][0]["sent"] == 200  # the undated sequence still counts in the totals
    assert '<p class="note" id="undated">Left out of these charts: 2 daily row(s) without a day' in page


@pytest.mark.parametrize(("verdicts", "p_values", "expected"), [
    (["best", "not significantly different"], [None, 0.31], {"text": "no clear winner, p = 0.310", "kind": "none"}),
    (["best", "significantly worse", "significantly worse"], [None, 0.02, 0.0001],
     {"text": "A wins, p < 0.001", "kind": "significant"}),
    (["too few sends", "too few sends"], [None, None], {"text": "too few sends", "kind": "few"}),
    (["no variant breakdown"], [None], {"text": "no variant breakdown", "kind": "none"}),
    (["best", "counts unknown"], [None, None], {"text": "counts unknown for some variants", "kind": "few"}),
])
def test_a_step_verdict_sums_up_its_variants(verdicts: list[str], p_values: list[float | None],
                                             expected: dict[str, str]) -> None:
    variants = [{"label": chr(ord("A") + i), "verdict": v, "p_value": p}
                for i, (v, p) in enumerate(zip(verdicts, p_values))]
    assert report.step_verdict(variants) == expected


# -- a warehouse without the marts ------------------------------------------------------------------


def test_a_missing_models_dataset_tells_the_user_what_to_run(duckdb_path: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(duckdb_path))
    args = argparse.Namespace(destination="duckdb", output=str(tmp_path / "report.html"))

    assert report.execute(args) == 1
    out = capsys.readouterr().out
    assert "no models dataset 'outreach'" in out and "python -m pipelines run" in out
    assert "python -m pipelines models" in out
    assert not (tmp_path / "report.html").exists()

    with duckdb.connect(str(duckdb_path)) as con:  # the dataset, but a mart short
        con.execute("create schema outreach")
        for mart in report.MARTS[:-1]:
            con.execute(f"create table outreach.{mart} (vendor text)")
    with pytest.raises(report.MartsMissing, match="has no table fct_step_variant"):
        report.write_report(dlt.destinations.duckdb(str(duckdb_path)), path=tmp_path / "report.html")
