"""The SQL model runner: builds `sql/staging` views and `sql/intermediate` and `sql/marts` tables in
the warehouse.

Models are plain SQL files. A model names what it reads with placeholders, and the runner orders
the models by those references (not by a hand-kept list) and renders them per destination:

- ``{{ ref('stg_reply_io__sequences') }}``: another model, in the models dataset;
- ``{{ source('reply_io', 'sequences') }}``: a raw table, in the dataset the vendor was loaded into.
  It renders as a projection of the columns declared in `SOURCE_COLUMNS` (the one place that
  knows the raw columns and their types): a declared column the table lacks (dlt creates no
  column whose values were all null) becomes a typed NULL, and a table that was never loaded
  becomes an empty relation with the same typed columns, so a vendor never configured gives
  empty rows in the marts rather than an error;
- ``{{ utc_date('column') }}``, ``{{ two_sided_p_value('z') }}``, ``{{ text_bytes('text') }}`` and
  ``{{ known_sum('x') }}``: the SQL that DuckDB and PostgreSQL do not share, or that neither has,
  or a rule every model must write the same way, written once in `_MACROS`.

Every build runs in one transaction (both warehouses have transactional DDL), and a reader sees
either the previous build or the new one, never a half-built mart. A table whose columns are
unchanged is emptied and filled again in place, so a user's own views on a mart survive rebuilds
(PostgreSQL binds a view to the table itself); views, and a table whose columns changed, are
dropped and created again. A model that fails rolls the whole build back and raises
`ModelBuildError` naming the model (on PostgreSQL, a user's view that blocks a drop is named).
"""

from __future__ import annotations

import ast
import heapq
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import dlt
from dlt.common.destination import TDestinationReferenceArg
from dlt.destinations.sql_client import SqlClientBase

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
MODELS_DATASET = "outreach"
VENDORS = ("reply_io", "saleshandy", "instantly")
# folder -> how its models are materialized, in build order of the layers
LAYERS = {"staging": "view", "intermediate": "table", "marts": "table"}
DIALECTS = ("duckdb", "postgres")

# The raw-table contract as the models read it (design.md, "Raw tables"): for every raw table,
# the columns the staging models use and the portable type each has when the table or column is
# absent. Types are spelled the same on DuckDB and PostgreSQL.
SOURCE_COLUMNS: dict[tuple[str, str], dict[str, str]] = {
    ("reply_io", "sequences"): {
        "id": "bigint",
        "name": "text",
        "status": "text",
        "is_archived": "boolean",
        "owner_user_id": "bigint",
        "created": "timestamp with time zone",
    },
    ("reply_io", "sequence_stats_daily"): {
        "sequence_id": "bigint",
        "day": "date",
        **{f"email_overview__{name}": "bigint" for name in (
            "contacted", "delivered", "opened", "replied", "interested", "not_reached", "opted_out",
            "out_of_office", "bounced", "auto_replied", "meetings_booked")},
    },
    ("reply_io", "step_stats_snapshots"): {
        "sequence_id": "bigint",
        "step_id": "bigint",
        "step_number": "bigint",
        "variant_id": "bigint",
        "snapshot_day": "date",
        **{name: "bigint" for name in (
            "delivered", "opened", "replied", "interested", "not_reached", "opted_out", "meetings_booked",
            "links_clicked")},
    },
    ("saleshandy", "sequences"): {
        "id": "text",
        "title": "text",
        "active": "boolean",
    },
    ("saleshandy", "email_stats"): {
        "sequence_id": "text",
        "step_number": "bigint",
        "recipient_email": "text",
        "email_sent_at": "timestamp with time zone",
        "open_count": "bigint",
        "click_count": "bigint",
        "replied": "boolean",
        "current_sentiment": "text",
        "bounced": "boolean",
        "unsubscribed": "boolean",
    },
    ("instantly", "campaigns"): {
        "id": "text",
        "name": "text",
        "status": "bigint",
        "timestamp_created": "timestamp with time zone",
    },
    ("instantly", "step_analytics_daily"): {
        "campaign_id": "text",
        "day": "date",
        "step": "bigint",
        "variant": "text",
        **{name: "bigint" for name in (
            "sent", "opened", "unique_opened", "replies", "unique_replies", "replies_automatic",
            "unique_replies_automatic", "clicks", "unique_clicks", "opportunities", "unique_opportunities")},
    },
    ("instantly", "campaign_analytics_daily"): {
        "campaign_id": "text",
        "day": "date",
        **{name: "bigint" for name in (
            "sent", "contacted", "new_leads_contacted", "opened", "unique_opened", "replies", "unique_replies",
            "replies_automatic", "unique_replies_automatic", "clicks", "unique_clicks", "opportunities",
            "unique_opportunities")},
    },
}


# -- dialect: the SQL the two warehouses do not share, in one place ----------------------------


def _utc_date(dialect: str, column: str) -> str:
    """The UTC calendar date of a timestamp with time zone, whatever the session's time zone.

    DuckDB (with its bundled ICU) and PostgreSQL both read `at time zone 'UTC'` the same way: a
    plain timestamp in UTC, whose date is the UTC day. (A bare cast to date would use the
    session's time zone.)
    """
    return f"cast(({column}) at time zone 'UTC' as date)"


# Abramowitz & Stegun 7.1.26: erfc(x) ~ t * (a1 + t*(a2 + t*(a3 + t*(a4 + t*a5)))) * exp(-x^2),
# t = 1 / (1 + p*x), x >= 0, absolute error below 1.5e-7.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _two_sided_p_value(dialect: str, z: str) -> str:
    """P(|Z| >= |z|) for a standard normal Z, i.e. erfc(|z| / sqrt 2), by A&S 7.1.26.

    Neither warehouse has erf(). PostgreSQL raises on exp() underflow, so the exponent is capped
    at 700 (exp(-700) ~ 1e-304, a p-value of zero for every purpose).
    """
    x = f"(abs(cast({z} as double precision)) / sqrt(cast(2 as double precision)))"  # double, not numeric
    t = f"(1.0 / (1.0 + {_AS_P} * {x}))"
    a1, a2, a3, a4, a5 = _AS_A
    poly = f"({t} * ({a1} + {t} * ({a2} + {t} * ({a3} + {t} * ({a4} + {t} * {a5})))))"
    return f"({poly} * exp(-least({x} * {x}, 700.0)))"


def _known_sum(dialect: str, value: str) -> str:
    """The sum of an aggregate's values as a bigint, NULL when any of them is NULL: a total with an
    unknown part is unknown (plain sum() would skip the NULLs and give a made-up lower bound).

    A bigint in both: PostgreSQL's sum(bigint) is numeric, DuckDB's is hugeint.
    """
    return f"cast(case when count({value}) = count(*) then sum({value}) end as bigint)"


def _text_bytes(dialect: str, text: str) -> str:
    """A text's UTF-8 bytes, which both warehouses order byte by byte whatever the collation."""
    if dialect == "duckdb":
        return f"encode({text})"
    return f"convert_to({text}, 'UTF8')"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _qualified(dialect: str, database: str, schema: str, name: str) -> str:
    """A table or view name as the models write it.

    DuckDB names its catalog after the database file, so in a file named `outreach.duckdb` the
    catalog and the models dataset are both "outreach" and `outreach.x` is ambiguous: DuckDB
    names get the catalog too. (A view then names the file's catalog; a renamed file needs a
    rebuild.) PostgreSQL connects to one database and takes schema.name.
    """
    if dialect == "duckdb":
        return f"{_quote(database)}.{_quote(schema)}.{_quote(name)}"
    return f"{_quote(schema)}.{_quote(name)}"


_MACROS: dict[str, Callable[..., str]] = {
    "utc_date": _utc_date,
    "two_sided_p_value": _two_sided_p_value,
    "text_bytes": _text_bytes,
    "known_sum": _known_sum,
}


# -- models and their order --------------------------------------------------------------------


class ModelError(Exception):
    """The models could not be built."""


class ModelGraphError(ModelError):
    """The models do not form a buildable graph: an unknown reference, a cycle, a bad placeholder."""


class ModelBuildError(ModelError):
    """A model's SQL failed in the warehouse; the whole build was rolled back."""

    def __init__(self, model: str, path: Path, error: Exception) -> None:
        self.model = model
        self.path = path
        self.error = error
        super().__init__(f"model {model} ({path}) failed: {error}")


_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\((.*?)\)\s*\}\}", re.DOTALL)


@dataclass(frozen=True)
class Model:
    """One SQL file: its name (the file stem), how it is materialized, and what it reads."""

    name: str
    materialization: str  # "view" or "table"
    path: Path
    template: str
    refs: tuple[str, ...]
    sources: tuple[tuple[str, str], ...]


def _placeholders(template: str, path: Path) -> list[tuple[re.Match[str], str, tuple[str, ...]]]:
    """Every placeholder of a template as (match, function name, string arguments)."""
    found = []
    for match in _PLACEHOLDER.finditer(template):
        name, raw = match.group(1), match.group(2)
        if name not in ("ref", "source") and name not in _MACROS:
            raise ModelGraphError(f"{path}: unknown placeholder {match.group(0)!r}")
        try:
            args = ast.literal_eval(f"({raw},)") if raw.strip() else ()
        except (ValueError, SyntaxError) as exc:
            raise ModelGraphError(f"{path}: bad arguments in {match.group(0)!r}: {exc}") from exc
        if not all(isinstance(a, str) for a in args):
            raise ModelGraphError(f"{path}: arguments of {match.group(0)!r} must be quoted strings")
        found.append((match, name, tuple(args)))
    return found


def _load_model(path: Path, materialization: str) -> Model:
    """Read one model file and find its references."""
    template = path.read_text()
    refs, sources = [], []
    for match, name, args in _placeholders(template, path):
        if name == "ref":
            if len(args) != 1:
                raise ModelGraphError(f"{path}: ref() takes one model name: {match.group(0)!r}")
            refs.append(args[0])
        elif name == "source":
            if len(args) != 2:
                raise ModelGraphError(f"{path}: source() takes a dataset and a table: {match.group(0)!r}")
            sources.append((args[0], args[1]))
    return Model(name=path.stem, materialization=materialization, path=path, template=template,
                 refs=tuple(dict.fromkeys(refs)), sources=tuple(dict.fromkeys(sources)))


def discover_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every model under `sql_dir`/staging, /intermediate and /marts, in build order (references first)."""
    models = []
    for folder, materialization in LAYERS.items():
        models += [_load_model(path, materialization) for path in sorted((sql_dir / folder).glob("*.sql"))]
    return order_models(models)


def order_models(models: Sequence[Model]) -> list[Model]:
    """The models in an order where each comes after every model it references.

    Ties are broken by layer and name, so the order is the same on every run. Raises
    `ModelGraphError` on a duplicate name, a reference to no model, or a cycle.
    """
    by_name: dict[str, Model] = {}
    for model in models:
        if model.name in by_name:
            raise ModelGraphError(f"two models are named {model.name}: {by_name[model.name].path} and {model.path}")
        by_name[model.name] = model
    layer_rank = {kind: i for i, kind in enumerate(LAYERS.values())}
    waiting = {}
    users: dict[str, list[str]] = {name: [] for name in by_name}
    for model in models:
        for ref in model.refs:
            if ref not in by_name:
                raise ModelGraphError(f"model {model.name} references {ref!r}, which is no model")
            users[ref].append(model.name)
        waiting[model.name] = len(model.refs)

    def rank(name: str) -> tuple[int, str]:
        return layer_rank[by_name[name].materialization], name

    ready = [rank(name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, rank(user))
    if len(ordered) < len(models):
        stuck = sorted(name for name, count in waiting.items() if count > 0)
        raise ModelGraphError(f"the models reference each other in a cycle: {', '.join(stuck)}")
    return ordered


# -- rendering ---------------------------------------------------------------------------------


@dataclass
class _Catalog:
    """What the warehouse holds: the columns of every table or view in the datasets looked at."""

    database: str
    columns: dict[tuple[str, str], set[str]]
    kinds: dict[tuple[str, str], str]  # "view" or "table"


# Every model's table or view carries this comment: it tells a reader where the relation comes from,
# and the runner which relations of the models dataset are its own (a model whose file is gone is dropped).
BUILT_BY = "built by outreach-elt from sql/"

_COMMENTS_SQL = {
    "duckdb": ("select table_name, comment from duckdb_tables() where database_name = current_database()"
               " and schema_name = {schema} union all"
               " select view_name, comment from duckdb_views() where database_name = current_database()"
               " and schema_name = {schema}"),
    "postgres": ("select c.relname, obj_description(c.oid, 'pg_class') from pg_class as c"
                 " join pg_namespace as n on n.oid = c.relnamespace"
                 " where n.nspname = {schema} and c.relkind in ('r', 'v', 'm', 'p')"),
}


def _built_models(client: SqlClientBase[Any], dialect: str, schema: str) -> set[str]:
    """The relations of `schema` that an earlier build made (they carry the BUILT_BY comment)."""
    rows = client.execute_sql(_COMMENTS_SQL[dialect].format(schema=_literal(schema))) or []
    return {name for name, comment in rows if str(comment or "").startswith(BUILT_BY)}


# The view a table model's new query is first created as, to compare its columns with the table's.
_SCRATCH = "_outreach_build_scratch"


def _columns(client: SqlClientBase[Any], schema: str, name: str) -> list[tuple[str, str]]:
    """A relation's (column, type) in order, as information_schema reports them."""
    rows = client.execute_sql(
        "select column_name, data_type from information_schema.columns where table_catalog = current_database()"
        f" and table_schema = {_literal(schema)} and table_name = {_literal(name)} order by ordinal_position") or []
    return [(str(column), str(kind)) for column, kind in rows]


def _readers(client: SqlClientBase[Any], dialect: str, qualified: str) -> list[str]:
    """The views (schema.name) that PostgreSQL records as reading a relation; [] on DuckDB, which binds
    views by name and lets the relation go."""
    if dialect != "postgres":
        return []
    rows = client.execute_sql(
        "select distinct n.nspname, c.relname from pg_depend as d"
        " join pg_rewrite as r on r.oid = d.objid"
        " join pg_class as c on c.oid = r.ev_class"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass"
        f" and d.refobjid = to_regclass({_literal(qualified)}) and c.oid <> d.refobjid order by 1, 2") or []
    return [f"{schema}.{name}" for schema, name in rows]


def _read_catalog(client: SqlClientBase[Any], schemas: Sequence[str]) -> _Catalog:
    in_list = ", ".join(_literal(schema) for schema in schemas)
    rows = client.execute_sql(
        "select c.table_schema, c.table_name, c.column_name, t.table_type"
        " from information_schema.columns as c"
        " join information_schema.tables as t"
        " on t.table_catalog = c.table_catalog and t.table_schema = c.table_schema"
        " and t.table_name = c.table_name"
        f" where c.table_catalog = current_database() and c.table_schema in ({in_list})"
    ) or []
    catalog = _Catalog(database=client.execute_sql("select current_database()")[0][0], columns={}, kinds={})
    for schema, table, column, table_type in rows:
        catalog.columns.setdefault((schema, table), set()).add(column)
        catalog.kinds[(schema, table)] = "view" if "VIEW" in str(table_type).upper() else "table"
    return catalog


@dataclass
class _Renderer:
    dialect: str
    dataset_names: Mapping[str, str]
    models_dataset: str
    catalog: _Catalog
    missing_tables: set[str] = field(default_factory=set)
    missing_columns: dict[str, list[str]] = field(default_factory=dict)

    def render(self, model: Model) -> str:
        out, last = [], 0
        for match, name, args in _placeholders(model.template, model.path):
            out.append(model.template[last:match.start()])
            if name == "ref":
                out.append(self.name(self.models_dataset, args[0]))
            elif name == "source":
                out.append(self._source(model, *args))
            else:
                out.append(_MACROS[name](self.dialect, *args))
            last = match.end()
        out.append(model.template[last:])
        return "".join(out)

    def name(self, schema: str, name: str) -> str:
        """A relation's name, qualified for the dialect."""
        return _qualified(self.dialect, self.catalog.database, schema, name)

    def _source(self, model: Model, dataset: str, table: str) -> str:
        declared = SOURCE_COLUMNS.get((dataset, table))
        if declared is None:
            raise ModelGraphError(f"model {model.name} reads source {dataset}.{table}, "
                                  "which SOURCE_COLUMNS does not declare")
        schema = self.dataset_names.get(dataset, dataset)
        present = self.catalog.columns.get((schema, table))
        label = f"{dataset}.{table}"
        if present is None:
            self.missing_tables.add(label)
            typed = ", ".join(f"cast(null as {kind}) as {_quote(col)}" for col, kind in declared.items())
            return f"(select {typed} where 1 = 0)"
        absent = [col for col in declared if col not in present]
        if absent:
            self.missing_columns[label] = absent
        projected = ", ".join(_quote(col) if col in present else f"cast(null as {kind}) as {_quote(col)}"
                              for col, kind in declared.items())
        return f"(select {projected} from {self.name(schema, table)})"


# -- building ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelResult:
    """One built model: its materialization, its rows (tables only) and how long it took."""

    name: str
    materialization: str
    rows: int | None
    seconds: float


@dataclass
class BuildReport:
    """What a build did."""

    models_dataset: str
    dialect: str
    models: list[ModelResult]
    dropped: list[str]  # models of an earlier build whose SQL file is gone
    missing_tables: list[str]  # "vendor.table" read as empty: the vendor was never loaded
    missing_columns: dict[str, list[str]]  # "vendor.table" -> declared columns read as NULL
    seconds: float

    def summary(self) -> str:
        """A few lines for a person: what was built, and what was read as empty."""
        lines = [f"built {len(self.models)} models in {self.models_dataset} ({self.dialect}) "
                 f"in {self.seconds:.1f} s"]
        lines += [f"  {m.name}: {m.rows} rows" for m in self.models if m.rows is not None]
        if self.dropped:
            lines.append(f"  dropped (no longer in sql/): {', '.join(self.dropped)}")
        if self.missing_tables:
            lines.append(f"  not loaded (read as empty): {', '.join(self.missing_tables)}")
        for table, columns in self.missing_columns.items():
            lines.append(f"  {table}: no column {', '.join(columns)} (read as NULL)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _dialect_of(destination_type: str) -> str:
    dialect = destination_type.rsplit(".", 1)[-1]
    if dialect not in DIALECTS:
        raise ModelError(f"the SQL models run on {' and '.join(DIALECTS)}; this destination is {destination_type}")
    return dialect


def run_models(client: SqlClientBase[Any], dialect: str, models: Sequence[Model],
               dataset_names: Mapping[str, str] | None = None, models_dataset: str = MODELS_DATASET,
               ) -> BuildReport:
    """Build `models` (in build order) through an open SQL client, in one transaction.

    Every model is rendered before anything changes; then, in one transaction, the relations of an
    earlier build whose model is gone are dropped, the existing views of models (and relations
    whose model changed kind) are dropped, users first, and every model is built in order: a table
    that exists with the same columns is emptied and filled again in place (a user's own views on
    it survive), any other is created. A failing model raises `ModelBuildError` and leaves the
    previous build as it was.
    """
    started = time.perf_counter()
    unknown = set(dataset_names or {}) - set(VENDORS)
    if unknown:
        raise ModelError(f"dataset_names has no vendor {', '.join(sorted(unknown))}; the vendors are "
                         f"{', '.join(VENDORS)}")
    names = {vendor: (dataset_names or {}).get(vendor, vendor) for vendor in VENDORS}
    catalog = _read_catalog(client, [*names.values(), models_dataset])
    renderer = _Renderer(dialect, names, models_dataset, catalog)
    rendered = [(model, renderer.render(model)) for model in models]
    for table in sorted(renderer.missing_tables):
        log.info("raw table %s is not loaded: its models read it as empty", table)
    for table, columns in renderer.missing_columns.items():
        log.warning("raw table %s has no column %s: read as NULL", table, ", ".join(columns))

    client.execute_sql(f"create schema if not exists {_quote(models_dataset)}")
    stale = sorted(_built_models(client, dialect, models_dataset) - {model.name for model in models})
    results = []
    with client.begin_transaction():
        for name in sorted(stale, key=lambda name: catalog.kinds.get((models_dataset, name)) != "view"):
            kind = catalog.kinds.get((models_dataset, name), "table")
            # cascade: a gone view may still be read by another gone one (PostgreSQL tracks that)
            client.execute_sql(f"drop {kind} if exists {renderer.name(models_dataset, name)} cascade")
            log.info("dropped %s %s: its model is no longer in sql/", kind, name)
        for model in reversed(models):  # views go first (a model view reading another goes before it)
            kind = catalog.kinds.get((models_dataset, model.name))
            if kind == "view" or (kind and kind != model.materialization):
                why = "a view is built anew" if kind == "view" else f"it becomes a {model.materialization}"
                _drop(client, dialect, model, kind, renderer.name(models_dataset, model.name), why)
        for model, sql in rendered:
            begun = time.perf_counter()
            target = renderer.name(models_dataset, model.name)
            if model.materialization == "table" and catalog.kinds.get((models_dataset, model.name)) == "table":
                _refill_table(client, dialect, model, sql, renderer, models_dataset)
            else:
                _execute(client, model, f"create {model.materialization} {target} as\n{sql}")
            origin = _literal(f"{BUILT_BY}{model.path.parent.name}/{model.path.name}")
            _execute(client, model, f"comment on {model.materialization} {target} is {origin}")
            rows = None
            if model.materialization == "table":
                rows = int(_execute(client, model, f"select count(*) from {target}")[0][0])
            results.append(ModelResult(model.name, model.materialization, rows, time.perf_counter() - begun))
            log.info("built %s %s (%s rows) in %.2f s", model.materialization, model.name,
                     "-" if rows is None else rows, results[-1].seconds)
    return BuildReport(models_dataset=models_dataset, dialect=dialect, models=results, dropped=stale,
                       missing_tables=sorted(renderer.missing_tables),
                       missing_columns=dict(renderer.missing_columns),
                       seconds=time.perf_counter() - started)


def _drop(client: SqlClientBase[Any], dialect: str, model: Model, kind: str, target: str, why: str) -> None:
    """Drop a model's relation; on PostgreSQL a view of the user's own that reads it is named in the error
    (PostgreSQL refuses the drop, and dropping the view silently would lose the user's work)."""
    readers = _readers(client, dialect, target)
    if readers:
        views = ", ".join(readers)
        raise ModelBuildError(model.name, model.path, ModelError(
            f"the {kind} {target} must be dropped and created anew ({why}), and PostgreSQL will not drop it "
            f"while views read it: {views}. Drop them ({'; '.join(f'drop view {v}' for v in readers)}), build "
            "again, and create them anew on the new model."))
    _execute(client, model, f"drop {kind} {target}")


def _refill_table(client: SqlClientBase[Any], dialect: str, model: Model, sql: str, renderer: _Renderer,
                  schema: str) -> None:
    """Rebuild an existing table model: in place (emptied and filled again) when the new query has the
    same columns and types, so the views that read it are untouched; otherwise dropped and created."""
    target, scratch = renderer.name(schema, model.name), renderer.name(schema, _SCRATCH)
    _execute(client, model, f"create view {scratch} as\n{sql}")
    same = _columns(client, schema, _SCRATCH) == _columns(client, schema, model.name)
    if same:
        _execute(client, model, f"delete from {target}")
        _execute(client, model, f"insert into {target} select * from {scratch}")
    _execute(client, model, f"drop view {scratch}")
    if not same:
        log.info("table %s has new columns: dropped and created anew", model.name)
        _drop(client, dialect, model, "table", target, "its columns changed")
        _execute(client, model, f"create table {target} as\n{sql}")


def _execute(client: SqlClientBase[Any], model: Model, sql: str) -> Sequence[Sequence[Any]]:
    try:
        return client.execute_sql(sql) or []
    except Exception as exc:  # the warehouse's own error, wrapped by dlt
        raise ModelBuildError(model.name, model.path, exc) from exc


def models_pipeline(destination: TDestinationReferenceArg, models_dataset: str = MODELS_DATASET) -> dlt.Pipeline:
    """The pipeline the models are built and read with: its dataset is the models dataset."""
    return dlt.pipeline(pipeline_name=f"{models_dataset}_models", destination=destination,
                        dataset_name=models_dataset)


def build_models(destination: TDestinationReferenceArg | dlt.Pipeline,
                 dataset_names: Mapping[str, str] | None = None,
                 models_dataset: str = MODELS_DATASET, sql_dir: Path = SQL_DIR) -> BuildReport:
    """Build every SQL model in the warehouse, through the destination's own SQL client.

    Args:
        destination: where the raw tables are: a dlt destination (``"duckdb"``,
            ``dlt.destinations.duckdb("outreach_warehouse.duckdb")``, ``dlt.destinations.postgres(url)``)
            or a pipeline whose destination to use. DuckDB and PostgreSQL are supported. A name is
            resolved as the CLI does: ``"duckdb"`` is the file configured in
            ``destination.duckdb.credentials``, else ``outreach_warehouse.duckdb`` in the working folder.
        dataset_names: the dataset each vendor was loaded into, by vendor name (``reply_io``,
            ``saleshandy``, ``instantly``); a vendor left out is looked for in the dataset of its
            own name. A vendor whose tables are not there reads as empty.
        models_dataset: the dataset the models are built in.
        sql_dir: the folder holding ``staging/``, ``intermediate/`` and ``marts/``.

    Returns:
        A `BuildReport`: the models built with their row counts, and the raw tables and columns
        that were not there and read as empty / NULL.

    Raises:
        ModelError: the destination is neither DuckDB nor PostgreSQL, or dataset_names names no vendor.
        pipelines.run.ConfigError: the destination is a name dlt does not know.
        ModelGraphError: the models reference something that does not exist, or each other in a cycle.
        ModelBuildError: a model's SQL failed; names the model and carries the warehouse's error.
            Nothing was changed: the previous build is left as it was.
    """
    if isinstance(destination, dlt.Pipeline):
        destination = destination.destination
    elif isinstance(destination, str):
        # a name, as the CLI resolves it: "duckdb" is the configured file or outreach_warehouse.duckdb
        # (dlt alone would open a file named after the pipeline below, which holds no raw tables)
        from pipelines.run import resolve_destination  # here: pipelines.run imports this module

        destination = resolve_destination(destination)
    models = discover_models(sql_dir)
    pipeline = models_pipeline(destination, models_dataset)
    dialect = _dialect_of(pipeline.destination.destination_type)
    with pipeline.sql_client() as client:
        return run_models(client, dialect, models, dataset_names, models_dataset)
