"""SQL model build benchmark: the marts on DuckDB over 5,000,000 Saleshandy email rows.

    .venv/bin/python -m benchmarks.bench_models [--emails N] [--sequences S] [--days D]

The raw tables are synthesized directly in a throwaway DuckDB file with DuckDB's own SQL (not
loaded through the twins: at this scale that would benchmark the twins), with the raw-table
contract's column names and types (`pipelines.models.SOURCE_COLUMNS`). The other vendors match
the scale: the same number of sequences and days of history.

- saleshandy.email_stats: N emails (default 5,000,000) over S sequences (default 1,000) and D
  days (default 365), 1-4 steps; saleshandy.sequences: S rows;
- instantly.step_analytics_daily: S campaigns x D days x 5 step/variant rows (3 variants in step 1,
  2 in step 2), plus campaign_analytics_daily (S x D) and campaigns (S);
- reply_io.sequence_stats_daily: S x D rows; step_stats_snapshots: S sequences x D snapshot days x
  5 variants; sequences: S.

Then `build_models` builds every model (staging views and the four marts, in one transaction)
and the wall time of that build is reported, with each mart's rows and seconds. Target: < 20 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import dlt
import duckdb

from pipelines.models import build_models

TARGET_SECONDS = 20.0
T0 = "timestamptz '2025-11-23 00:00:00+00'"  # the first day of the synthetic history


def synthesize(path: str, emails: int, sequences: int, days: int) -> dict[str, int]:
    """Create the raw tables in a DuckDB file; return rows per table."""
    s, d = sequences, days
    statements = [
        "create schema saleshandy", "create schema instantly", "create schema reply_io",
        # one row per sent email: hash-based pseudo-random engagement, deterministic
        f"""create table saleshandy.email_stats as
        select
            'sh' || lpad(cast(i % {s} as varchar), 8, '0') as sequence_id,
            cast(1 + hash(i, 1) % 4 as bigint) as step_number,
            'p' || cast(i as varchar) || '@prospects.example' as recipient_email,
            {T0} + to_seconds(cast(hash(i, 2) % ({d} * 86400) as bigint)) as email_sent_at,
            cast(case when hash(i, 3) % 100 < 45 then 1 + hash(i, 4) % 3 else 0 end as bigint) as open_count,
            cast(case when hash(i, 5) % 100 < 10 then 1 + hash(i, 6) % 2 else 0 end as bigint) as click_count,
            hash(i, 7) % 100 < 8 as replied,
            case when hash(i, 7) % 100 < 3 then 'Positive' when hash(i, 7) % 100 < 8 then 'Neutral' end
                as current_sentiment,
            hash(i, 8) % 100 < 3 as bounced,
            hash(i, 9) % 1000 < 12 as unsubscribed,
            'Sequence ' || cast(i % {s} as varchar) as sequence_title,
            'owner@outreach-team.example' as sender_email
        from range({emails}) as t(i)""",
        f"""create table saleshandy.sequences as
        select 'sh' || lpad(cast(i as varchar), 8, '0') as id, 'Sequence ' || cast(i as varchar) as title,
            i % 3 <> 0 as active
        from range({s}) as t(i)""",
        f"""create table instantly.campaigns as
        select 'c' || lpad(cast(i as varchar), 35, '0') as id, 'Campaign ' || cast(i as varchar) as name,
            cast(i % 4 as bigint) as status, {T0} + to_days(cast(i % 30 as integer)) as timestamp_created
        from range({s}) as t(i)""",
        f"""create table instantly.step_analytics_daily as
        select
            'c' || lpad(cast(c.i as varchar), 35, '0') as campaign_id,
            cast({T0} as date) + cast(dd.j as integer) as day,
            g.step as step, g.variant as variant,
            cast(10 + hash(c.i, dd.j, g.k) % 20 as bigint) as sent,
            cast(hash(c.i, dd.j, g.k, 1) % 15 as bigint) as opened,
            cast(hash(c.i, dd.j, g.k, 1) % 10 as bigint) as unique_opened,
            cast(hash(c.i, dd.j, g.k, 2) % 3 as bigint) as replies,
            cast(hash(c.i, dd.j, g.k, 2) % 3 as bigint) as unique_replies,
            cast(hash(c.i, dd.j, g.k, 3) % 2 as bigint) as replies_automatic,
            cast(hash(c.i, dd.j, g.k, 3) % 2 as bigint) as unique_replies_automatic,
            cast(hash(c.i, dd.j, g.k, 4) % 4 as bigint) as clicks,
            cast(hash(c.i, dd.j, g.k, 4) % 3 as bigint) as unique_clicks,
            cast(hash(c.i, dd.j, g.k, 5) % 2 as bigint) as opportunities,
            cast(hash(c.i, dd.j, g.k, 5) % 2 as bigint) as unique_opportunities
        from range({s}) as c(i)
        cross join range({d}) as dd(j)
        cross join (values (0, 1, 'A'), (1, 1, 'B'), (2, 1, 'C'), (3, 2, 'A'), (4, 2, 'B')) as g(k, step, variant)""",
        """create table instantly.campaign_analytics_daily as
        select s.campaign_id, s.day, sum(s.sent) as sent, sum(s.sent) as contacted, 0 as new_leads_contacted,
            sum(s.opened) as opened, sum(s.unique_opened) as unique_opened, sum(s.replies) as replies,
            sum(s.unique_replies) as unique_replies, sum(s.replies_automatic) as replies_automatic,
            sum(s.unique_replies_automatic) as unique_replies_automatic, sum(s.clicks) as clicks,
            sum(s.unique_clicks) as unique_clicks, sum(s.opportunities) as opportunities,
            sum(s.unique_opportunities) as unique_opportunities
        from instantly.step_analytics_daily as s group by s.campaign_id, s.day""",
        f"""create table reply_io.sequences as
        select cast(1001 + i as bigint) as id, 'Reply sequence ' || cast(i as varchar) as name,
            case i % 3 when 0 then 'active' when 1 then 'paused' else 'new' end as status,
            i % 7 = 0 as is_archived, cast(101 + i % 4 as bigint) as owner_user_id,
            {T0} + to_days(cast(i % 30 as integer)) as created
        from range({s}) as t(i)""",
        f"""create table reply_io.sequence_stats_daily as
        select cast(1001 + q.i as bigint) as sequence_id, cast({T0} as date) + cast(dd.j as integer) as day,
            cast(hash(q.i, dd.j) % 40 as bigint) as email_overview__contacted,
            cast(hash(q.i, dd.j) % 40 as bigint) as email_overview__delivered,
            cast(hash(q.i, dd.j, 1) % 20 as bigint) as email_overview__opened,
            cast(hash(q.i, dd.j, 2) % 4 as bigint) as email_overview__replied,
            cast(hash(q.i, dd.j, 3) % 2 as bigint) as email_overview__interested,
            cast(hash(q.i, dd.j, 4) % 2 as bigint) as email_overview__not_reached,
            cast(hash(q.i, dd.j, 5) % 2 as bigint) as email_overview__opted_out,
            cast(hash(q.i, dd.j, 6) % 2 as bigint) as email_overview__out_of_office,
            cast(hash(q.i, dd.j, 4) % 2 as bigint) as email_overview__bounced,
            cast(hash(q.i, dd.j, 7) % 2 as bigint) as email_overview__auto_replied,
            cast(hash(q.i, dd.j, 3) % 2 as bigint) as email_overview__meetings_booked
        from range({s}) as q(i) cross join range({d}) as dd(j)""",
        f"""create table reply_io.step_stats_snapshots as
        select cast(1001 + q.i as bigint) as sequence_id, cast(500000 + q.i * 10 + g.step as bigint) as step_id,
            cast(g.step as bigint) as step_number, cast(1000000 + q.i * 10 + g.k as bigint) as variant_id,
            cast({T0} as date) + cast(dd.j as integer) as snapshot_day,
            cast(100 + dd.j + hash(q.i, g.k) % 200 as bigint) as delivered,
            cast(50 + hash(q.i, g.k, 1) % 100 as bigint) as opened,
            cast(5 + hash(q.i, g.k, 2) % 30 as bigint) as replied,
            cast(hash(q.i, g.k, 3) % 5 as bigint) as interested,
            cast(hash(q.i, g.k, 4) % 10 as bigint) as not_reached,
            cast(hash(q.i, g.k, 5) % 3 as bigint) as opted_out,
            cast(hash(q.i, g.k, 6) % 3 as bigint) as meetings_booked,
            cast(hash(q.i, g.k, 7) % 40 as bigint) as links_clicked
        from range({s}) as q(i) cross join range({d}) as dd(j)
        cross join (values (0, 1), (1, 1), (2, 1), (3, 2), (4, 2)) as g(k, step)""",
    ]
    counts: dict[str, int] = {}
    with duckdb.connect(path) as con:
        for sql in statements:
            con.execute(sql)
        for schema, table in con.execute("select table_schema, table_name from information_schema.tables "
                                         "where table_schema in ('saleshandy', 'instantly', 'reply_io') "
                                         "order by 1, 2").fetchall():
            counts[f"{schema}.{table}"] = con.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=5_000_000, help="Saleshandy email rows")
    parser.add_argument("--sequences", type=int, default=1_000, help="sequences (campaigns) per vendor")
    parser.add_argument("--days", type=int, default=365, help="days of history")
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DLT_DATA_DIR"] = f"{tmp}/dlt"
        path = f"{tmp}/outreach.duckdb"
        started = time.perf_counter()
        counts = synthesize(path, args.emails, args.sequences, args.days)
        print(f"synthesized the raw tables in {time.perf_counter() - started:.1f} s:")
        for table, rows in counts.items():
            print(f"  {table:40s} {rows:>12,}")

        started = time.perf_counter()
        report = build_models(dlt.destinations.duckdb(path))
        seconds = time.perf_counter() - started
        started = time.perf_counter()  # every later run: the marts exist and are refilled in place
        build_models(dlt.destinations.duckdb(path))
        rebuild_seconds = time.perf_counter() - started
    print(f"built {len(report.models)} models (DuckDB {duckdb.__version__}, {os.cpu_count()} cores):")
    for model in report.models:
        rows = "" if model.rows is None else f"{model.rows:>12,} rows"
        print(f"  {model.name:40s} {model.materialization:5s} {model.seconds:6.2f} s {rows}")
    verdict = "under" if seconds < TARGET_SECONDS else "OVER"
    print(f"build_models: {seconds:.2f} s wall ({verdict} the {TARGET_SECONDS:.0f} s target)")
    print(f"build_models again (the marts refilled in place): {rebuild_seconds:.2f} s wall, "
          f"{rebuild_seconds / seconds:.2f}x the first build")


if __name__ == "__main__":
    main()
