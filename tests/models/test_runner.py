"""The model runner on fake raw tables: order by references, rendering of absent sources, one
transaction per build, errors that name the model, the dialect macros."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import dlt
import duckdb
import psycopg2
import pytest

from pipelines.models import (
    ModelBuildError,
    ModelError,
    ModelGraphError,
    build_models,
    discover_models,
)


def write_models(root: Path, models: dict[str, str]) -> Path:
    """Model files under root: {"staging/stg_x": "select ...", "marts/fct_y": "..."}."""
    for name, sql in models.items():
        path = root / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql)
    (root / "staging").mkdir(exist_ok=True)
    (root / "marts").mkdir(exist_ok=True)
    return root


# A small project over two real raw tables: reply_io.sequences is loaded (without its
# is_archived column), saleshandy.sequences is not.
PROJECT = {
    "staging/stg_reply": (
        "-- grain: one row per Reply.io sequence\n"
        "select cast(s.id as text) as sequence_id, s.name as name, s.is_archived as is_archived\n"
        "from {{ source('reply_io', 'sequences') }} as s"
    ),
    "staging/stg_sales": (
        "select s.id as sequence_id, s.title as name, s.active as is_archived\n"
        "from {{ source('saleshandy', 'sequences') }} as s"
    ),
    "marts/all_sequences": (
        "select 'reply_io' as vendor, r.sequence_id, r.name, r.is_archived from {{ ref('stg_reply') }} as r\n"
        "union all\n"
        "select 'saleshandy' as vendor, s.sequence_id, s.name, s.is_archived from {{ ref('stg_sales') }} as s"
    ),
    "marts/counts": (
        "select a.vendor, count(*) as sequences from {{ ref('all_sequences') }} as a group by a.vendor"
    ),
}


def fill_reply_duckdb(path: Path, schema: str = "reply_io") -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema {schema}")
        con.execute(f"create table {schema}.sequences (id bigint, name text, status text, "
                    "created timestamptz, owner_user_id bigint)")
        con.execute(f"insert into {schema}.sequences values (1001, 'one', 'active', '2026-01-01 10:00:00+00', 7),"
                    " (1002, 'two', 'paused', '2026-01-02 10:00:00+00', 7)")


def read_duckdb(path: Path, sql: str) -> list[tuple]:
    """Rows of a query with the models dataset as the default schema."""
    with duckdb.connect(str(path)) as con:
        con.execute(f'use "{path.stem}".outreach')
        return con.execute(sql).fetchall()


def test_models_are_ordered_by_their_references_not_their_names(tmp_path: Path) -> None:
    root = write_models(tmp_path / "sql", {
        "staging/stg_b": "select 1 as x from {{ source('reply_io', 'sequences') }} as s",
        "staging/stg_a": "select x from {{ ref('stg_b') }} as b",
        "marts/a_mart": "select x from {{ ref('z_mart') }} as z",
        "marts/z_mart": "select x from {{ ref('stg_a') }} as a",
    })
    models = discover_models(root)
    assert [m.name for m in models] == ["stg_b", "stg_a", "z_mart", "a_mart"]
    assert [m.materialization for m in models] == ["view", "view", "table", "table"]
    assert models[0].sources == (("reply_io", "sequences"),)
    assert models[3].refs == ("z_mart",)


def test_a_cycle_or_an_unknown_reference_is_refused_by_name(tmp_path: Path) -> None:
    cycle = write_models(tmp_path / "cycle", {
        "marts/m1": "select * from {{ ref('m2') }} as a",
        "marts/m2": "select * from {{ ref('m1') }} as a",
        "marts/ok": "select 1 as x",
    })
    with pytest.raises(ModelGraphError, match="cycle: m1, m2"):
        discover_models(cycle)
    unknown = write_models(tmp_path / "unknown", {"marts/m1": "select * from {{ ref('nope') }} as a"})
    with pytest.raises(ModelGraphError, match="model m1 references 'nope'"):
        discover_models(unknown)
    bad = write_models(tmp_path / "bad", {"marts/m1": "select {{ erf('x') }} as a"})
    with pytest.raises(ModelGraphError, match="unknown placeholder"):
        discover_models(bad)


def test_build_reads_an_absent_vendor_as_empty_and_an_absent_column_as_null(tmp_path: Path, duckdb_path: Path
                                                                            ) -> None:
    fill_reply_duckdb(duckdb_path)
    root = write_models(tmp_path / "sql", PROJECT)
    report = build_models(dlt.destinations.duckdb(str(duckdb_path)), sql_dir=root)

    assert [(m.name, m.materialization, m.rows) for m in report.models] == [
        ("stg_reply", "view", None), ("stg_sales", "view", None), ("all_sequences", "table", 2), ("counts", "table", 1)]
    assert report.missing_tables == ["saleshandy.sequences"]
    assert report.missing_columns == {"reply_io.sequences": ["is_archived"]}
    assert str(report).splitlines()[1:] == [
        "  all_sequences: 2 rows", "  counts: 1 rows", "  not loaded (read as empty): saleshandy.sequences",
        "  reply_io.sequences: no column is_archived (read as NULL)"]
    assert read_duckdb(duckdb_path, "select vendor, sequence_id, name, is_archived from all_sequences "
                                    "order by sequence_id") == [("reply_io", "1001", "one", None),
                                                               ("reply_io", "1002", "two", None)]
    assert read_duckdb(duckdb_path, "select * from counts") == [("reply_io", 2)]
    # the empty relation and the NULL column keep their declared types
    types = dict(read_duckdb(duckdb_path, "select column_name, data_type from information_schema.columns "
                                          "where table_schema = 'outreach' and table_name = 'stg_sales'"))
    assert types == {"sequence_id": "VARCHAR", "name": "VARCHAR", "is_archived": "BOOLEAN"}
    assert read_duckdb(duckdb_path, "select data_type from information_schema.columns where table_schema = 'outreach'"
                                    " and table_name = 'all_sequences' and column_name = 'is_archived'") == [("BOOLEAN",)]


def test_an_unknown_vendor_in_dataset_names_is_refused(tmp_path: Path, duckdb_path: Path) -> None:
    root = write_models(tmp_path / "sql", PROJECT)
    with pytest.raises(ModelError, match="dataset_names has no vendor replyio; the vendors are reply_io, "):
        build_models(dlt.destinations.duckdb(str(duckdb_path)), dataset_names={"replyio": "x"}, sql_dir=root)


def test_a_failing_model_is_named_and_the_previous_build_is_left_whole(tmp_path: Path, duckdb_path: Path) -> None:
    fill_reply_duckdb(duckdb_path)
    root = write_models(tmp_path / "sql", PROJECT)
    destination = dlt.destinations.duckdb(str(duckdb_path))
    build_models(destination, sql_dir=root)
    with duckdb.connect(str(duckdb_path)) as con:  # new raw data, then a build that breaks half-way
        con.execute("insert into reply_io.sequences values (1003, 'three', 'new', '2026-01-03 10:00:00+00', 7)")
    (root / "marts" / "counts.sql").write_text("select a.vendor, count(*) as sequences from {{ ref('all_sequences') }}"
                                               " as a group by a.no_such_column")
    (root / "marts" / "extra.sql").write_text("select 1 as x")

    with pytest.raises(ModelBuildError) as caught:
        build_models(destination, sql_dir=root)
    assert caught.value.model == "counts"
    assert caught.value.path == root / "marts" / "counts.sql"
    assert "no_such_column" in str(caught.value) and "model counts" in str(caught.value)
    # all_sequences was rebuilt before counts failed, but the rollback kept the old one, and
    # `extra` (built before counts: same layer, name order) does not exist
    assert read_duckdb(duckdb_path, "select count(*) from all_sequences") == [(2,)]
    assert read_duckdb(duckdb_path, "select * from counts") == [("reply_io", 2)]
    assert read_duckdb(duckdb_path, "select table_name from information_schema.tables "
                                    "where table_schema = 'outreach' order by 1") == [
        ("all_sequences",), ("counts",), ("stg_reply",), ("stg_sales",)]


def test_a_model_that_changes_kind_or_columns_is_rebuilt(tmp_path: Path, duckdb_path: Path) -> None:
    fill_reply_duckdb(duckdb_path)
    root = write_models(tmp_path / "sql", PROJECT)
    destination = dlt.destinations.duckdb(str(duckdb_path))
    build_models(destination, sql_dir=root)
    # stg_sales becomes a table (moved to marts) with another column set
    (root / "staging" / "stg_sales.sql").unlink()
    (root / "marts" / "stg_sales.sql").write_text("select cast('x' as text) as sequence_id, cast(null as text) as name,"
                                                  " cast(null as boolean) as is_archived")
    report = build_models(destination, sql_dir=root)
    assert [(m.name, m.rows) for m in report.models if m.rows is not None] == [
        ("stg_sales", 1), ("all_sequences", 3), ("counts", 2)]
    assert read_duckdb(duckdb_path, "select table_type from information_schema.tables "
                                    "where table_schema = 'outreach' and table_name = 'stg_sales'") == [("BASE TABLE",)]


def test_a_model_whose_file_is_gone_is_dropped_and_nothing_else(tmp_path: Path, duckdb_path: Path) -> None:
    fill_reply_duckdb(duckdb_path)
    root = write_models(tmp_path / "sql", {**PROJECT, "staging/stg_reply_names": (
        "select r.name from {{ ref('stg_reply') }} as r")})
    destination = dlt.destinations.duckdb(str(duckdb_path))
    build_models(destination, sql_dir=root)
    with duckdb.connect(str(duckdb_path)) as con:  # a table of the user's own, beside the models
        con.execute("create table outreach.my_notes as select 1 as n")
    (root / "marts" / "counts.sql").unlink()
    (root / "staging" / "stg_reply_names.sql").unlink()
    report = build_models(destination, sql_dir=root)
    assert report.dropped == ["counts", "stg_reply_names"]
    assert "dropped (no longer in sql/): counts, stg_reply_names" in report.summary()
    assert read_duckdb(duckdb_path, "select table_name from information_schema.tables "
                                    "where table_schema = 'outreach' order by 1") == [
        ("all_sequences",), ("my_notes",), ("stg_reply",), ("stg_sales",)]
    assert read_duckdb(duckdb_path, "select comment from duckdb_views() where view_name = 'stg_reply'") == [
        ("built by outreach-elt from sql/staging/stg_reply.sql",)]


def test_macros_give_the_utc_day_and_the_normal_tail_on_duckdb(tmp_path: Path, duckdb_path: Path) -> None:
    root = write_models(tmp_path / "sql", {"marts/checks": (
        "select {{ utc_date(\"cast('2026-01-01 23:30:00-02:00' as timestamp with time zone)\") }} as late_day,\n"
        "  {{ two_sided_p_value('1.959963984540054') }} as p196,\n"
        "  {{ two_sided_p_value('-1.0') }} as p1,\n"
        "  {{ two_sided_p_value('0.0') }} as p0,\n"
        "  {{ two_sided_p_value('40.0') }} as p40")})
    build_models(dlt.destinations.duckdb(str(duckdb_path)), sql_dir=root)
    (late_day, p196, p1, p0, p40), = read_duckdb(duckdb_path, "select * from checks")
    assert str(late_day) == "2026-01-02"
    assert p196 == pytest.approx(0.05, abs=2e-7)
    assert p1 == pytest.approx(math.erfc(1 / math.sqrt(2)), abs=2e-7)
    assert p0 == pytest.approx(1.0, abs=2e-7)
    assert p40 == pytest.approx(0.0, abs=1e-300)


@pytest.mark.postgres
def test_postgres_build_in_prefixed_schemas_matches_and_readers_never_see_a_half_build(
        tmp_path: Path, postgres_url: str, postgres_schema_prefix: str) -> None:
    prefix = postgres_schema_prefix
    raw, models_dataset = f"{prefix}_reply_io", f"{prefix}_outreach"
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute(f"create schema {raw}")
        cur.execute(f"create table {raw}.sequences (id bigint, name text, status text, created timestamptz, "
                    "owner_user_id bigint)")
        cur.execute(f"insert into {raw}.sequences values (1001, 'one', 'active', '2026-01-01 10:00:00+00', 7),"
                    " (1002, 'two', 'paused', '2026-01-02 10:00:00+00', 7)")
    root = write_models(tmp_path / "sql", {**PROJECT, "marts/checks": (
        "select {{ utc_date(\"cast('2026-01-01 23:30:00-02:00' as timestamp with time zone)\") }} as late_day,\n"
        "  {{ two_sided_p_value('1.959963984540054') }} as p196,\n"
        "  {{ two_sided_p_value('40.0') }} as p40")})
    destination = dlt.destinations.postgres(postgres_url)
    names = {"reply_io": raw, "saleshandy": f"{prefix}_saleshandy", "instantly": f"{prefix}_instantly"}
    report = build_models(destination, dataset_names=names, models_dataset=models_dataset, sql_dir=root)
    assert report.missing_tables == ["saleshandy.sequences"]
    assert report.missing_columns == {"reply_io.sequences": ["is_archived"]}

    def read(sql: str) -> list[tuple]:
        with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    assert read(f"select vendor, sequence_id, name, is_archived from {models_dataset}.all_sequences order by 2") == [
        ("reply_io", "1001", "one", None), ("reply_io", "1002", "two", None)]
    (late_day, p196, p40), = read(f"select * from {models_dataset}.checks")
    assert str(late_day) == "2026-01-02" and p196 == pytest.approx(0.05, abs=2e-7) and p40 < 1e-300

    # A slow rebuild with a new raw row: a reader during the build sees the old table, whole (never a
    # missing, empty or half-built one), and does not wait for the build to end.
    read(f"insert into {raw}.sequences values (1003, 'three', 'new', '2026-01-03 10:00:00+00', 7) returning id")
    (root / "marts" / "slow.sql").write_text(
        "select count(*) as n from {{ ref('all_sequences') }} as a cross join (select pg_sleep(1.5)) as s")
    builder = threading.Thread(target=build_models, args=(destination,),
                               kwargs={"dataset_names": names, "models_dataset": models_dataset, "sql_dir": root})
    builder.start()
    deadline = time.monotonic() + 30
    while not read("select count(*) from pg_stat_activity where state = 'active' and query like "
                   "'%pg_sleep(1.5)%' and pid <> pg_backend_pid()")[0][0]:  # slow is building: counts is rebuilt
        assert builder.is_alive() and time.monotonic() < deadline, "the build never reached the slow model"
        time.sleep(0.02)
    during = read(f"select sequences from {models_dataset}.counts")
    answered_while_building = builder.is_alive()
    builder.join()
    assert during == [(2,)] and answered_while_building
    assert read(f"select vendor, sequences from {models_dataset}.counts") == [("reply_io", 3)]
    assert read(f"select n from {models_dataset}.slow") == [(3,)]

    # A view model that read another model is deleted: PostgreSQL would refuse to drop the model it
    # read while it exists, so the next build drops it first.
    (root / "staging" / "stg_reply_names.sql").write_text("select r.name from {{ ref('stg_reply') }} as r")
    build_models(destination, dataset_names=names, models_dataset=models_dataset, sql_dir=root)
    (root / "staging" / "stg_reply_names.sql").unlink()
    report = build_models(destination, dataset_names=names, models_dataset=models_dataset, sql_dir=root)
    assert report.dropped == ["stg_reply_names"]
    assert read(f"select table_name from information_schema.tables where table_schema = '{models_dataset}' "
                "order by 1") == [("all_sequences",), ("checks",), ("counts",), ("slow",), ("stg_reply",),
                                  ("stg_sales",)]


def test_a_users_view_on_a_mart_survives_rebuilds_and_a_blocking_one_is_named(tmp_path: Path, warehouse) -> None:
    warehouse.raw_table("reply_io", "sequences", "id bigint, name text, status text, created timestamptz, "
                        "owner_user_id bigint", [(1001, "one", "active", "2026-01-01 10:00:00+00", 7),
                                                 (1002, "two", "paused", "2026-01-02 10:00:00+00", 7)])
    root = write_models(tmp_path / "sql", PROJECT)
    warehouse.build(sql_dir=root)
    bi = warehouse.models_dataset.replace("outreach", "bi")  # the user's own schema (prefixed on PostgreSQL)
    warehouse.execute(f"create schema {bi}")
    warehouse.execute(f"create view {bi}.sequences_by_vendor as select a.vendor, count(*) as n "
                      f"from {warehouse.name('all_sequences')} as a group by a.vendor")
    raw = warehouse.dataset_names["reply_io"]
    warehouse.execute(f"insert into {raw}.sequences values (1003, 'three', 'new', '2026-01-03 10:00:00+00', 7)")

    # the same columns: the mart is refilled in place, and the user's view reads the new rows
    report = warehouse.build(sql_dir=root)
    assert [(m.name, m.rows) for m in report.models if m.rows is not None] == [("all_sequences", 3), ("counts", 1)]
    assert warehouse.execute(f"select vendor, n from {bi}.sequences_by_vendor") == [("reply_io", 3)]
    assert warehouse.execute("select comment from duckdb_tables() where table_name = 'all_sequences'"
                             if warehouse.dialect == "duckdb" else
                             f"select obj_description(to_regclass('{warehouse.models_dataset}.all_sequences'), "
                             "'pg_class')") == [("built by outreach-elt from sql/marts/all_sequences.sql",)]

    # new columns: the table must be dropped; PostgreSQL refuses while the view reads it, and the
    # error names the view and what to do; the previous build stays whole
    (root / "marts" / "all_sequences.sql").write_text(
        PROJECT["marts/all_sequences"].replace("r.is_archived from", "r.is_archived, 1 as extra from").replace(
            "s.is_archived from", "s.is_archived, 1 as extra from"))
    if warehouse.dialect == "postgres":
        with pytest.raises(ModelBuildError) as caught:
            warehouse.build(sql_dir=root)
        message = str(caught.value)
        assert caught.value.model == "all_sequences"
        assert f"{bi}.sequences_by_vendor" in message and "its columns changed" in message
        assert f"drop view {bi}.sequences_by_vendor" in message
        assert warehouse.execute(f"select vendor, n from {bi}.sequences_by_vendor") == [("reply_io", 3)]
        warehouse.execute(f"drop view {bi}.sequences_by_vendor")
    report = warehouse.build(sql_dir=root)
    assert warehouse.execute(f"select count(*), min(extra) from {warehouse.name('all_sequences')}") == [(3, 1)]

    # a user's view on a staging view (rebuilt by dropping it) is named too
    warehouse.execute(f"create view {bi}.reply_names as select r.name from {warehouse.name('stg_reply')} as r")
    if warehouse.dialect == "postgres":
        with pytest.raises(ModelBuildError, match=f"{bi}.reply_names") as caught:
            warehouse.build(sql_dir=root)
        assert caught.value.model == "stg_reply"
    else:
        warehouse.build(sql_dir=root)
    assert sorted(warehouse.execute(f"select name from {bi}.reply_names")) == [("one",), ("three",), ("two",)]


def test_build_models_duckdb_by_name_builds_in_the_warehouse_the_cli_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`build_models("duckdb")` (the README's example) uses the CLI's file, outreach_warehouse.duckdb,
    not one named after a pipeline of its own, where it would find no raw table and build empty marts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    warehouse = tmp_path / "outreach_warehouse.duckdb"
    fill_reply_duckdb(warehouse)
    root = write_models(tmp_path / "sql", PROJECT)
    report = build_models("duckdb", sql_dir=root)
    assert report.missing_tables == ["saleshandy.sequences"]
    assert read_duckdb(warehouse, "select count(*) from all_sequences") == [(2,)]
    assert sorted(p.name for p in tmp_path.glob("*.duckdb")) == ["outreach_warehouse.duckdb"]
