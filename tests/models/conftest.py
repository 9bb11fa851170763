"""A warehouse fixture for model tests that must hold on DuckDB and on PostgreSQL alike: raw tables
are written with plain SQL, the models built with `build_models`, and marts read back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import dlt
import duckdb
import psycopg2
import pytest

from pipelines.models import VENDORS, BuildReport, build_models


def sql_value(value: Any) -> str:
    """A Python value as a SQL literal (the same text on both warehouses)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass
class Warehouse:
    """One warehouse with its raw datasets and models dataset (prefixed on PostgreSQL)."""

    dialect: str
    destination: Any
    dataset_names: dict[str, str]
    models_dataset: str
    duckdb_path: Path | None = None
    postgres_url: str | None = None

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        if self.dialect == "duckdb":
            with duckdb.connect(str(self.duckdb_path)) as con:
                cursor = con.execute(sql)
                return cursor.fetchall() if cursor.description else []
        with psycopg2.connect(self.postgres_url) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []

    def raw_table(self, vendor: str, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        """Create vendor's raw `table` (`columns`: "name type, ...") holding `rows`."""
        schema = self.dataset_names[vendor]
        statements = [f"create schema if not exists {schema}", f"create table {schema}.{table} ({columns})"]
        if rows:
            values = ", ".join("(" + ", ".join(sql_value(v) for v in row) + ")" for row in rows)
            statements.append(f"insert into {schema}.{table} values {values}")
        for statement in statements:
            self.execute(statement)

    def build(self, **kwargs: Any) -> BuildReport:
        return build_models(self.destination, dataset_names=self.dataset_names, models_dataset=self.models_dataset,
                            **kwargs)

    def name(self, relation: str) -> str:
        """A models-dataset relation's name as a query writes it here."""
        if self.dialect == "duckdb":
            return f'"{self.duckdb_path.stem}"."{self.models_dataset}"."{relation}"'
        return f'"{self.models_dataset}"."{relation}"'

    def rows(self, relation: str, columns: str, where: str = "true") -> list[dict[str, Any]]:
        names = [c.strip() for c in columns.split(",")]
        found = self.execute(f"select {columns} from {self.name(relation)} where {where}")
        return [dict(zip(names, row)) for row in found]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, duckdb_path: Path) -> Iterator[Warehouse]:
    """The same test on DuckDB and on PostgreSQL (prefixed schemas, dropped afterwards)."""
    if request.param == "duckdb":
        yield Warehouse("duckdb", dlt.destinations.duckdb(str(duckdb_path)), {v: v for v in VENDORS}, "outreach",
                        duckdb_path=duckdb_path)
        return
    url = request.getfixturevalue("postgres_url")
    prefix = request.getfixturevalue("postgres_schema_prefix")  # its teardown drops the prefix's schemas
    yield Warehouse("postgres", dlt.destinations.postgres(url), {v: f"{prefix}_{v}" for v in VENDORS},
                    f"{prefix}_outreach", postgres_url=url)
