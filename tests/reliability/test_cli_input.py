"""Bad input from the user: every CLI and config mistake ends with exit code 2 and one line that
says what is wrong, before a single request reaches any vendor. The world's today is 2026-11-23."""

from __future__ import annotations

from typing import Callable

import pytest

from sandbox.server import Sandbox
from tests.reliability.conftest import CliResult

NO_KEYS = {"SOURCES__REPLY_IO__API_KEY": None, "SOURCES__SALESHANDY__API_KEY": None,
           "SOURCES__INSTANTLY__API_KEY": None}

# (case, options after `run --no-models`, environment changes (None: unset), the message)
CASES = [
    ("unknown source", ["--source", "hubspot"], {},
     "python -m pipelines run: error: argument --source: invalid choice: 'hubspot' (choose from 'reply_io', "
     "'saleshandy', 'instantly', 'all')"),
    ("malformed date", ["--source", "reply_io", "--start-date", "2026-13-01"], {},
     "error: --start-date must be a date like 2026-01-31, not '2026-13-01'"),
    ("date that is not a date", ["--source", "instantly", "--end-date", "yesterday"], {},
     "error: --end-date must be a date like 2026-01-31, not 'yesterday'"),
    ("end before start", ["--source", "instantly", "--start-date", "2026-11-20", "--end-date", "2026-11-10"], {},
     "error: --end-date 2026-11-10 is before --start-date 2026-11-20"),
    ("start older than Reply.io's 31 days", ["--source", "reply_io", "--start-date", "2026-10-23"], {},
     "error: --start-date 2026-10-23 is older than reply_io's API allows: the oldest day it can be asked about "
     "is 2026-10-24"),
    ("start older than Saleshandy's 2 years", ["--source", "saleshandy", "--start-date", "2024-11-22"], {},
     "error: --start-date 2024-11-22 is older than saleshandy's API allows: the oldest day it can be asked "
     "about is 2024-11-23"),
    ("end in the future", ["--source", "reply_io", "--end-date", "2026-11-24"], {},
     "error: --end-date 2026-11-24 is in the future (today is 2026-11-23 UTC)"),
    ("unknown destination", ["--source", "reply_io", "--destination", "oracle_cloud"], {},
     "error: unknown destination 'oracle_cloud': use a dlt destination name such as duckdb, postgres, filesystem, "
     "bigquery, snowflake or motherduck"),
    ("destination without credentials", ["--source", "reply_io", "--destination", "postgres"],
     {"DESTINATION__POSTGRES__CREDENTIALS": None},
     "error: destination postgres is not configured (credentials missing or incomplete): set "
     "DESTINATION__POSTGRES__CREDENTIALS (or BUCKET_URL) or [destination.postgres] in .dlt/secrets.toml (a PostgreSQL "
     "URL needs a password; with trust auth any will do)"),
    ("postgres URL without a password", ["--source", "reply_io", "--destination", "postgres"],
     {"DESTINATION__POSTGRES__CREDENTIALS": "postgresql://loader@127.0.0.1:5432/test"},
     "error: destination postgres is not configured (credentials missing or incomplete): set "
     "DESTINATION__POSTGRES__CREDENTIALS (or BUCKET_URL) or [destination.postgres] in .dlt/secrets.toml (a PostgreSQL "
     "URL needs a password; with trust auth any will do)"),
    ("destination with empty credentials", ["--source", "reply_io", "--destination", "postgres"],
     {"DESTINATION__POSTGRES__CREDENTIALS": ""},
     "error: destination postgres is not configured right: its credentials are empty or malformed; check "
     "DESTINATION__POSTGRES__CREDENTIALS or [destination.postgres] in .dlt/secrets.toml"),
    ("destination setting that cannot be read", ["--source", "reply_io", "--destination", "postgres"],
     {"DESTINATION__POSTGRES__CREDENTIALS": "postgresql://loader:s3cret@127.0.0.1:5432/test",
      "DESTINATION__POSTGRES__CREATE_INDEXES": "maybe"},
     "error: destination postgres is not configured right: its setting create_indexes could not be read; check "
     "DESTINATION__POSTGRES__CREATE_INDEXES or [destination.postgres] create_indexes"),
    ("vendor named without a key", ["--source", "instantly"], {"SOURCES__INSTANTLY__API_KEY": None},
     "error: instantly: no API key. Set SOURCES__INSTANTLY__API_KEY or [sources.instantly] api_key in "
     ".dlt/secrets.toml"),
    ("no vendor has a key", [], NO_KEYS,
     "error: no vendor has an API key: set SOURCES__<VENDOR>__API_KEY (see .dlt/example.secrets.toml)"),
    ("every key empty (unset GitHub Actions secrets)", [], {name: "" for name in NO_KEYS},
     "error: no vendor has an API key: set SOURCES__<VENDOR>__API_KEY (see .dlt/example.secrets.toml)"),
    ("vendor named with an empty key", ["--source", "saleshandy"], {"SOURCES__SALESHANDY__API_KEY": " "},
     "error: saleshandy: no API key. Set SOURCES__SALESHANDY__API_KEY or [sources.saleshandy] api_key in "
     ".dlt/secrets.toml"),
    ("negative look-back", ["--source", "reply_io"], {"SOURCES__REPLY_IO__LOOK_BACK_DAYS": "-3"},
     "error: reply_io: look_back_days must be a whole number of days >= 0, got -3"),
    ("look-back that is not a number", ["--source", "reply_io"], {"SOURCES__REPLY_IO__LOOK_BACK_DAYS": "seven"},
     "error: reply_io: Configured value for field `look_back_days` cannot be coerced into type `<class 'int'>`"),
    ("page size out of range", ["--source", "saleshandy"], {"SOURCES__SALESHANDY__PAGE_SIZE": "5"},
     "error: saleshandy: Saleshandy page_size must be 10..500, got 5"),
    ("no concurrency", ["--source", "instantly"], {"SOURCES__INSTANTLY__MAX_CONCURRENCY": "0"},
     "error: instantly: Instantly: max_concurrency must be 1 or more, got 0; see [sources.instantly] "
     "(SOURCES__INSTANTLY__<SETTING>)"),
    ("zero rate limit", ["--source", "instantly"], {"SOURCES__INSTANTLY__RATE_LIMITS": "[[0, 1]]"},
     "error: instantly: Instantly: rate_limits must be [requests, seconds] pairs with at least 1 request and more "
     "than 0 seconds, got [[0, 1.0]]; see [sources.instantly] (SOURCES__INSTANTLY__<SETTING>)"),
    ("no attempts", ["--source", "reply_io"], {"SOURCES__REPLY_IO__MAX_ATTEMPTS": "0"},
     "error: reply_io: Reply.io: max_attempts must be 1 or more, got 0; see [sources.reply_io] "
     "(SOURCES__REPLY_IO__<SETTING>)"),
    ("negative timeout", ["--source", "saleshandy"], {"SOURCES__SALESHANDY__TIMEOUT": "-1"},
     "error: saleshandy: Saleshandy: timeout must be more than 0 seconds, got -1.0; see [sources.saleshandy] "
     "(SOURCES__SALESHANDY__<SETTING>)"),
    ("one bad vendor stops a run of all", [], {"SOURCES__INSTANTLY__LOOK_BACK_DAYS": "-1"},
     "error: instantly: Instantly: look_back_days must be 0 or more, got -1"),
]


@pytest.mark.parametrize("options, env, message", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_mistake_is_refused_with_one_line_and_exit_2_before_any_request(
        options: list[str], env: dict[str, str | None], message: str, sandbox: Sandbox,
        cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    result = cli("run", "--no-models", *options)

    assert result.code == 2
    lines = result.text.strip().splitlines()
    errors = [line for line in lines if "error: " in line]
    assert errors == [message]  # one line, and it is the last thing printed
    assert lines[-1] == message
    assert all(server.requests() == [] for server in sandbox.servers.values())


def test_a_vendor_with_an_empty_key_is_skipped_and_the_others_load(
        sandbox: Sandbox, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__SALESHANDY__API_KEY", "")  # how GitHub Actions passes an unset secret

    result = cli("run", "--no-models")

    assert result.code == 0, result.text
    assert "saleshandy: skipped: no API key (SOURCES__SALESHANDY__API_KEY is not set or empty)" in result.out
    assert "reply_io: FAILED" not in result.out and "instantly: FAILED" not in result.out
    assert sandbox.saleshandy.requests() == []
    assert sandbox.reply_io.requests() and sandbox.instantly.requests()
