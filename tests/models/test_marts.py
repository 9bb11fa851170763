"""The marts over one sandbox load: exact numbers from the simulated world, the invariants, the
same marts on DuckDB and PostgreSQL, rebuilds, and a vendor never loaded.

One module-scoped load (the three twins, the three sources, into DuckDB and into PostgreSQL from
the same world at the same instant) serves every test. Expected numbers are computed here from
`World.emails` (each sent email with its event timestamps), not from the twins' answers.
"""

from __future__ import annotations

import math
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator

import dlt
import numpy as np
import psycopg2
import pytest

from pipelines.models import SOURCE_COLUMNS, BuildReport, build_models
from sandbox import instantly as instantly_twin
from sandbox import reply_io as reply_twin
from sandbox import saleshandy as saleshandy_twin
from sandbox.server import Sandbox
from sandbox.world import AUTO_REPLY, DAY, HUMAN, NEVER, OUT_OF_OFFICE, POSITIVE, Emails, Sequence, World, WorldConfig
from sources import clock
from sources.instantly import instantly_source
from sources.reply_io import reply_io
from sources.saleshandy import saleshandy_source
from tests.conftest import POSTGRES_URL, WORLD_START

MARTS = {  # mart -> its grain
    "dim_sequence": ("vendor", "sequence_id"),
    "fct_sequence_daily": ("vendor", "sequence_id", "day"),
    "fct_funnel": ("vendor", "sequence_id"),
    "fct_step_variant": ("vendor", "sequence_id", "step", "variant"),
}
REPLY_DAYS = 31  # the Reply.io source's first run: today - 30 ... today
INSTANTLY_DAYS = 91  # the Instantly source's first run: today - 90 ... today
MIN_SENDS, ALPHA = 100, 0.05


# -- the load ------------------------------------------------------------------------------------


class Load:
    """The world, and the DuckDB / PostgreSQL destinations holding its raw tables and marts."""

    def __init__(self, world: World, duckdb_path: Path, postgres: Any, prefix: str) -> None:
        self.world = world
        self.duckdb_path = duckdb_path
        self.duckdb = dlt.destinations.duckdb(str(duckdb_path))
        self.postgres = postgres
        self.prefix = prefix
        self.reports: dict[str, BuildReport] = {}

    def pg_names(self) -> dict[str, str]:
        return {v: f"{self.prefix}_{v}" for v in ("reply_io", "saleshandy", "instantly")}


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Load]:
    """Loads the three vendors from one world into DuckDB and PostgreSQL, and builds the models in both."""
    tmp = tmp_path_factory.mktemp("marts")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
        mp.setenv("DLT_DATA_DIR", str(tmp / "dlt-data"))
        world = World(WorldConfig(seed=7, start=WORLD_START))
        mp.setattr(clock, "utc_now", lambda: world.now_dt)
        prefix = f"m{np.random.default_rng().integers(1 << 30):08x}"
        postgres = None
        try:
            psycopg2.connect(POSTGRES_URL, connect_timeout=3).close()
            postgres = dlt.destinations.postgres(POSTGRES_URL)
        except psycopg2.OperationalError:
            if os.environ.get("CI", "").lower() == "true":
                raise
        state = Load(world, tmp / "outreach.duckdb", postgres, prefix)
        sources = {"reply_io": reply_io, "saleshandy": saleshandy_source, "instantly": instantly_source}
        with Sandbox(world) as running:
            for name, value in running.env().items():
                mp.setenv(name, value)
            for vendor, source in sources.items():
                pipeline = dlt.pipeline(pipeline_name=vendor, destination=state.duckdb, dataset_name=vendor,
                                        pipelines_dir=str(tmp / "pipelines"))
                pipeline.run(source(), loader_file_format="parquet")
                if postgres is not None:
                    pipeline = dlt.pipeline(pipeline_name=f"pg_{vendor}", destination=postgres,
                                            dataset_name=f"{prefix}_{vendor}", pipelines_dir=str(tmp / "pipelines"))
                    pipeline.run(source(), loader_file_format="csv")
        state.reports["duckdb"] = build_models(state.duckdb)
        if postgres is not None:
            state.reports["postgres"] = build_models(postgres, dataset_names=state.pg_names(),
                                                     models_dataset=f"{prefix}_outreach")
        yield state
        if postgres is not None:
            with psycopg2.connect(POSTGRES_URL) as conn, conn.cursor() as cur:
                cur.execute("select nspname from pg_namespace where nspname like %s", (prefix + "%",))
                for (schema,) in cur.fetchall():
                    cur.execute(f'drop schema "{schema}" cascade')


def read(destination: Any, mart: str, models_dataset: str = "outreach") -> list[dict[str, Any]]:
    """Every row of a mart as dicts, sorted by its grain."""
    pipeline = dlt.pipeline(pipeline_name="marts_reader", destination=destination, dataset_name=models_dataset)
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(mart)
        if pipeline.destination.destination_name == "duckdb":  # outreach.duckdb: "outreach" is a catalog too
            name = f'"{client.execute_sql("select current_database()")[0][0]}".{name}'
        with client.execute_query(f"select * from {name}") as cursor:
            columns = [c[0] for c in cursor.description]
            rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in MARTS[mart]))


def keyed(rows: list[dict[str, Any]], mart: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {tuple(r[k] for k in MARTS[mart]): {k: v for k, v in r.items() if k not in MARTS[mart]} for r in rows}
    assert len(out) == len(rows), f"{mart}: a grain key is doubled"
    return out


# -- the world, counted independently -------------------------------------------------------------


def utc_day(ts: np.ndarray) -> np.ndarray:
    return ts // DAY


def epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def as_date(epoch: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(epoch))


def count_by_day(ts: np.ndarray, mask: np.ndarray, days: range, people: np.ndarray | None = None) -> dict[int, int]:
    """Events (or distinct people, when `people` is given) per UTC day, for days in `days`."""
    happened = mask & (ts < NEVER)
    day = utc_day(ts[happened])
    keep = (day >= days.start) & (day < days.stop)
    day = day[keep]
    if people is not None:
        pairs = np.unique(np.stack([day, people[happened][keep]]), axis=1)
        day = pairs[0]
    values, counts = np.unique(day, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def today(world: World) -> int:
    return world.now // DAY


def expected_daily(world: World) -> dict[tuple[str, str, date], dict[str, int | None]]:
    out: dict[tuple[str, str, date], dict[str, int | None]] = {}
    t = today(world)

    # Reply.io: distinct people with the event on the day, every visible sequence on every loaded day
    days = range(t - REPLY_DAYS + 1, t + 1)
    for seq in world.visible_sequences("reply_io"):
        e = world.emails(seq)
        p = e.prospect
        ones = np.ones(len(e), dtype=bool)
        counts = {
            "delivered": count_by_day(e.sent_ts, e.bounce_ts == NEVER, days, p),
            "opened": count_by_day(e.open_ts, ones, days, p),
            "replied": count_by_day(e.reply_ts, e.reply_kind == HUMAN, days, p),
            "positive": count_by_day(e.interested_ts, ones, days, p),
            "bounced": count_by_day(e.bounce_ts, ones, days, p),
            "unsubscribed": count_by_day(e.unsub_ts, ones, days, p),
            "meetings_booked": count_by_day(e.meeting_ts, ones, days, p),
        }
        for day in days:
            out[("reply_io", str(reply_twin.sequence_id(seq)), as_date(day))] = {
                "sent": None, "clicked": None, **{m: c.get(day, 0) for m, c in counts.items()}}

    # Instantly: emails with the event on the day (first open, first click, human reply, interest)
    days = range(t - INSTANTLY_DAYS + 1, t + 1)
    for seq in world.visible_sequences("instantly"):
        e = world.emails(seq)
        ones = np.ones(len(e), dtype=bool)
        counts = {
            "sent": count_by_day(e.sent_ts, ones, days),
            "opened": count_by_day(e.open_ts, ones, days),
            "clicked": count_by_day(e.click_ts, ones, days),
            "replied": count_by_day(e.reply_ts, e.reply_kind == HUMAN, days),
            "positive": count_by_day(e.interested_ts, ones, days),
        }
        automatic = count_by_day(e.reply_ts, np.isin(e.reply_kind, (AUTO_REPLY, OUT_OF_OFFICE)), days)
        for day in sorted(set().union(*counts.values(), automatic)):  # days with any step row
            out[("instantly", instantly_twin.campaign_id(seq), as_date(day))] = {
                "delivered": None, "bounced": None, "unsubscribed": None, "meetings_booked": None,
                **{m: c.get(day, 0) for m, c in counts.items()}}

    # Saleshandy: every email by its UTC send day, with its state now
    for seq in world.visible_sequences("saleshandy"):
        e = world.emails(seq)
        for day in np.unique(utc_day(e.sent_ts)).tolist():
            s = e.take(utc_day(e.sent_ts) == day)
            out[("saleshandy", saleshandy_twin.sequence_id(seq), as_date(day))] = {
                **cohort_counts(s), "meetings_booked": None}
    return out


def cohort_counts(e: Emails) -> dict[str, int]:
    """Saleshandy's counts of a set of sent emails: their state now."""
    replied = e.reply_ts < NEVER
    return {
        "sent": len(e),
        "delivered": int((e.bounce_ts == NEVER).sum()),
        "opened": int((e.open_count > 0).sum()),
        "clicked": int((e.click_count > 0).sum()),
        "replied": int(replied.sum()),
        "positive": int((replied & (e.sentiment == POSITIVE)).sum()),
        "bounced": int((e.bounce_ts < NEVER).sum()),
        "unsubscribed": int((e.unsub_ts < NEVER).sum()),
    }


def email_counts(e: Emails, start: int = -(2**62), stop: int = 2**62) -> dict[str, int]:
    """Events among emails whose event instant lies in [start, stop) (days as epoch seconds)."""
    def n(ts: np.ndarray, mask: np.ndarray | bool = True) -> int:
        return int(((ts >= start) & (ts < stop) & (ts < NEVER) & mask).sum())

    return {"sent": n(e.sent_ts), "opened": n(e.open_ts), "clicked": n(e.click_ts),
            "replied": n(e.reply_ts, e.reply_kind == HUMAN), "positive": n(e.interested_ts),
            "delivered": n(e.sent_ts, e.bounce_ts == NEVER), "bounced": n(e.bounce_ts),
            "unsubscribed": n(e.unsub_ts), "meetings_booked": n(e.meeting_ts)}


def snapshotted(world: World, seq: Sequence) -> bool:
    """The Reply.io source snapshots the step stats of active and paused (not archived) sequences."""
    return not seq.archived and reply_twin.list_status(seq, world.now) in ("active", "paused")


def expected_step_counts(world: World) -> dict[tuple[str, str, int, str], dict[str, int | None]]:
    out: dict[tuple[str, str, int, str], dict[str, int | None]] = {}
    for seq in world.visible_sequences("reply_io"):
        if not snapshotted(world, seq):
            continue
        e = world.emails(seq)
        for k, step in enumerate(seq.steps):
            for variant in step.variants:
                c = email_counts(e.take((e.step == k) & (e.variant == variant.index)))
                out[("reply_io", str(reply_twin.sequence_id(seq)), step.number, str(variant.id))] = c
    for seq in world.visible_sequences("saleshandy"):
        e = world.emails(seq)
        for k, step in enumerate(seq.steps):
            if (e.step == k).any():
                out[("saleshandy", saleshandy_twin.sequence_id(seq), step.number, "all")] = {
                    **cohort_counts(e.take(e.step == k)), "meetings_booked": None}
    start = (today(world) - INSTANTLY_DAYS + 1) * DAY
    for seq in world.visible_sequences("instantly"):
        e = world.emails(seq)
        groups = {(-1, "unattributed"): e.unattributed}
        for k, step in enumerate(seq.steps):
            for variant in step.variants:
                groups[(step.number, variant.letter)] = ~e.unattributed & (e.step == k) & (e.variant == variant.index)
        for (step_number, letter), mask in groups.items():
            c = email_counts(e.take(mask), start)
            automatic = int(((e.reply_ts >= start) & (e.reply_ts < NEVER) & mask
                             & np.isin(e.reply_kind, (AUTO_REPLY, OUT_OF_OFFICE))).sum())
            if any(c[m] for m in ("sent", "opened", "clicked", "replied", "positive")) or automatic:
                out[("instantly", instantly_twin.campaign_id(seq), step_number, letter)] = {
                    **{m: c[m] for m in ("sent", "opened", "clicked", "replied", "positive")},
                    "delivered": None, "bounced": None, "unsubscribed": None, "meetings_booked": None}
    return out


def z_test_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def expected_verdicts(counts: dict[tuple[str, str, int, str], dict[str, int | None]],
                      ) -> dict[tuple[str, str, int, str], tuple[str | None, float | None, str]]:
    """(best variant, p-value, verdict) per step and variant, by the rules of fct_step_variant."""
    steps: dict[tuple[str, str, int], list[tuple[str, dict[str, Any]]]] = {}
    for (vendor, seq, step, variant), c in counts.items():
        steps.setdefault((vendor, seq, step), []).append((variant, c))
    out = {}
    for (vendor, seq, step), variants in steps.items():
        real = [(v, c) for v, c in variants if v not in ("all", "unattributed")]
        eligible = [(v, c) for v, c in real if c["sent"] >= MIN_SENDS] if len(real) >= 2 else []
        best = min(eligible, key=lambda vc: (-vc[1]["replied"] / vc[1]["sent"], -vc[1]["sent"], vc[0]),
                   default=None)
        for v, c in variants:
            if v in ("all", "unattributed"):
                out[(vendor, seq, step, v)] = (None, None, "no variant breakdown")
            elif len(real) < 2:
                out[(vendor, seq, step, v)] = (None, None, "single variant")
            elif best is None or c["sent"] < MIN_SENDS:
                out[(vendor, seq, step, v)] = (best and best[0], None, "too few sends")
            elif v == best[0]:
                out[(vendor, seq, step, v)] = (v, None, "best")
            else:
                p = z_test_p_value(c["replied"], c["sent"], best[1]["replied"], best[1]["sent"])
                out[(vendor, seq, step, v)] = (best[0], p, "significantly worse" if p < ALPHA
                                               else "not significantly different")
    return out


COUNTS = ("sent", "delivered", "opened", "clicked", "replied", "positive", "bounced", "unsubscribed",
          "meetings_booked")


# -- tests ---------------------------------------------------------------------------------------


def test_fct_sequence_daily_equals_the_world_per_vendor_sequence_and_day(load: Load) -> None:
    marts = keyed(read(load.duckdb, "fct_sequence_daily"), "fct_sequence_daily")
    expected = expected_daily(load.world)
    assert {k[0] for k in marts} == {"reply_io", "saleshandy", "instantly"}
    assert set(marts) == set(expected)
    assert {k: {m: v[m] for m in COUNTS} for k, v in marts.items()} == expected
    assert len(marts) == sum(m.rows for m in load.reports["duckdb"].models if m.name == "fct_sequence_daily")


def test_fct_funnel_sums_the_days_and_rates_each_stage_on_the_one_before(load: Load) -> None:
    funnel = keyed(read(load.duckdb, "fct_funnel"), "fct_funnel")
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for (vendor, seq, day), counts in expected_daily(load.world).items():
        row = sums.setdefault((vendor, seq), {"first_day": day, "last_day": day, **dict.fromkeys(COUNTS)})
        row["first_day"], row["last_day"] = min(row["first_day"], day), max(row["last_day"], day)
        row.setdefault("days", []).append(counts)
    for row in sums.values():  # a total with an unknown (NULL) day is unknown
        days = row.pop("days")
        for m in COUNTS:
            row[m] = None if any(d[m] is None for d in days) else sum(d[m] for d in days)
    assert {k: {m: v[m] for m in ("first_day", "last_day", *COUNTS)} for k, v in funnel.items()} == sums

    def rate(part: int | None, whole: int | None) -> float | None:
        return None if part is None or not whole else part / whole

    for key, row in funnel.items():
        base = row["delivered"] if row["delivered"] is not None else row["sent"]
        assert row["delivery_rate"] == rate(row["delivered"], row["sent"])
        assert row["open_rate"] == rate(row["opened"], base)
        assert row["click_rate"] == rate(row["clicked"], row["opened"])
        assert row["reply_rate"] == rate(row["replied"], base)
        assert row["positive_rate"] == rate(row["positive"], row["replied"])
        assert row["meeting_rate"] == rate(row["meetings_booked"], row["positive"])
        assert row["bounce_rate"] == rate(row["bounced"], row["sent"])
        assert row["unsubscribe_rate"] == rate(row["unsubscribed"], base)
    # what a vendor does not report stays NULL
    assert {k[0]: (v["sent"], v["clicked"]) for k, v in funnel.items() if k[0] == "reply_io"} == {
        "reply_io": (None, None)}
    assert all(v["delivered"] is None and v["meetings_booked"] is None for k, v in funnel.items()
               if k[0] == "instantly")


def test_fct_step_variant_equals_the_world_per_step_and_variant_with_textbook_verdicts(load: Load) -> None:
    marts = keyed(read(load.duckdb, "fct_step_variant"), "fct_step_variant")
    counts = expected_step_counts(load.world)
    assert set(marts) == set(counts)
    assert {k: {m: v[m] for m in COUNTS} for k, v in marts.items()} == counts
    verdicts = expected_verdicts(counts)
    got = {k: (v["best_variant"], v["p_value"], v["verdict"]) for k, v in marts.items()}
    assert {k: (b, v) for k, (b, _, v) in got.items()} == {k: (b, v) for k, (b, _, v) in verdicts.items()}
    for key, (_, p, _) in verdicts.items():
        assert (got[key][1] is None) == (p is None), key
        if p is not None:
            assert got[key][1] == pytest.approx(p, abs=2e-7), key
            assert marts[key]["is_significant"] == (p < ALPHA)
    seen = {v for _, _, v in got.values()}
    assert {"best", "too few sends", "single variant", "no variant breakdown"} <= seen
    assert seen & {"significantly worse", "not significantly different"}
    for key, row in marts.items():
        assert row["reply_rate"] == (row["replied"] / row["sent"] if row["sent"] else None)


def test_dim_sequence_lists_every_sequence_with_its_vendor_status(load: Load) -> None:
    dim = keyed(read(load.duckdb, "dim_sequence"), "dim_sequence")
    world = load.world
    instantly_status = {0: "draft", 1: "active", 2: "paused", 3: "completed"}
    expected = {}
    for seq in world.visible_sequences("reply_io"):
        status = "archived" if seq.archived else reply_twin.list_status(seq, world.now)
        expected[("reply_io", str(reply_twin.sequence_id(seq)))] = (seq.name, status, seq.created_ts)
    for seq in world.visible_sequences("saleshandy"):
        status = "active" if seq.status(world.now) == "active" else "inactive"
        expected[("saleshandy", saleshandy_twin.sequence_id(seq))] = (seq.name, status, None)
    for seq in world.visible_sequences("instantly"):
        status = instantly_status[instantly_twin.STATUS_CODES[seq.status(world.now)]]
        expected[("instantly", instantly_twin.campaign_id(seq))] = (seq.name, status, seq.created_ts)
    assert {k: (v["name"], v["status"], v["created_at"] and int(v["created_at"].timestamp()))
            for k, v in dim.items()} == expected


def test_invariants_hold_in_every_mart(load: Load) -> None:
    for mart, grain in MARTS.items():
        rows = read(load.duckdb, mart)
        assert rows, mart
        assert all(r[k] is not None for r in rows for k in grain), mart
        assert len({tuple(r[k] for k in grain) for r in rows}) == len(rows), mart
        for r in rows:
            for name, value in r.items():
                if name.endswith("_rate") and value is not None:
                    assert 0.0 <= value <= 1.0, (mart, name, r)
            for small, big in (("replied", "delivered"), ("delivered", "sent"), ("replied", "sent")):
                if r.get(small) is not None and r.get(big) is not None:
                    assert r[small] <= r[big], (mart, small, big, r)
            for name in COUNTS:
                assert r.get(name) is None or r[name] >= 0


def test_duckdb_and_postgresql_build_identical_marts(load: Load) -> None:
    if load.postgres is None:
        pytest.skip("PostgreSQL is not reachable")
    models_dataset = f"{load.prefix}_outreach"
    assert load.reports["postgres"].missing_tables == load.reports["duckdb"].missing_tables == []
    for mart in MARTS:
        duck, pg = read(load.duckdb, mart), read(load.postgres, mart, models_dataset)
        assert len(duck) == len(pg), mart
        for a, b in zip(duck, pg):
            assert a.keys() == b.keys(), mart
            for name in a:
                if isinstance(a[name], float) and b[name] is not None:
                    assert b[name] == pytest.approx(a[name], rel=1e-12, abs=1e-15), (mart, name, a)
                else:
                    assert a[name] == b[name], (mart, name, a, b)


def test_a_rebuild_without_new_data_gives_identical_tables(load: Load) -> None:
    before = {mart: read(load.duckdb, mart) for mart in MARTS}
    report = build_models(load.duckdb)
    assert [(m.name, m.rows) for m in report.models] == [(m.name, m.rows) for m in load.reports["duckdb"].models]
    assert {mart: read(load.duckdb, mart) for mart in MARTS} == before


def test_a_rebuild_refills_every_mart_in_place_so_a_users_views_survive(
        load: Load, caplog: pytest.LogCaptureFixture) -> None:
    destinations = [("duckdb", load.duckdb, {}, "outreach")]
    if load.postgres is not None:
        destinations.append(("postgres", load.postgres, {"dataset_names": load.pg_names()}, f"{load.prefix}_outreach"))
    for dialect, destination, names, models_dataset in destinations:
        before = {mart: read(destination, mart, models_dataset) for mart in MARTS}
        bi = f"{load.prefix}_bi"  # the user's own schema, beside the models dataset
        pipeline = dlt.pipeline(pipeline_name="bi_user", destination=destination, dataset_name=models_dataset)
        with pipeline.sql_client() as client:
            catalog = f'"{client.execute_sql("select current_database()")[0][0]}".' if dialect == "duckdb" else ""
            client.execute_sql(f"create schema {bi}")
            for mart in MARTS:  # (outreach.duckdb: "outreach" is a catalog too, so name the catalog)
                client.execute_sql(f"create view {catalog}{bi}.{mart} as select * from {catalog}{models_dataset}.{mart}")
        with caplog.at_level("INFO", logger="pipelines.models"):
            build_models(destination, models_dataset=models_dataset, **names)
        assert "new columns" not in caplog.text, dialect  # every table kept its columns: refilled in place
        assert {mart: read(destination, mart, bi) for mart in MARTS} == before, dialect
        assert {mart: read(destination, mart, models_dataset) for mart in MARTS} == before, dialect
        with pipeline.sql_client() as client:
            client.execute_sql(f"drop schema {catalog}{bi} cascade")


def test_a_vendor_never_loaded_gives_no_rows_and_no_error(load: Load) -> None:
    report = build_models(load.duckdb, dataset_names={"saleshandy": "saleshandy_never_loaded"},
                          models_dataset="outreach_without_saleshandy")
    assert report.missing_tables == ["saleshandy.email_stats", "saleshandy.sequences"]
    for mart in MARTS:
        full = [r for r in read(load.duckdb, mart) if r["vendor"] != "saleshandy"]
        assert read(load.duckdb, mart, "outreach_without_saleshandy") == full, mart


def test_the_loaded_raw_tables_have_every_declared_column_with_its_type(load: Load) -> None:
    """SOURCE_COLUMNS (what the models read when a table or column is absent) agrees with the sources."""
    names = {"BIGINT": "bigint", "VARCHAR": "text", "BOOLEAN": "boolean", "DATE": "date",
             "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "character varying": "text", "text": "text",
             "bigint": "bigint", "boolean": "boolean", "date": "date",
             "timestamp with time zone": "timestamp with time zone"}
    destinations = [(load.duckdb, {v: v for v in load.pg_names()})]
    if load.postgres is not None:
        destinations.append((load.postgres, load.pg_names()))
    for destination, datasets in destinations:
        pipeline = dlt.pipeline(pipeline_name="raw_reader", destination=destination, dataset_name="outreach")
        with pipeline.sql_client() as client:
            rows = client.execute_sql("select table_schema, table_name, column_name, data_type "
                                      "from information_schema.columns")
        found = {(schema, table, column): names.get(kind, kind) for schema, table, column, kind in rows}
        for (vendor, table), columns in SOURCE_COLUMNS.items():
            for column, kind in columns.items():
                assert found.get((datasets[vendor], table, column)) == kind, (destination, vendor, table, column)
    assert load.reports["duckdb"].missing_columns == {}
