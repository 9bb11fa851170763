"""Fixtures of the model tests."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import dlt
import pytest


def postgres_destination(url: str) -> dlt.destinations.postgres:
    """A PostgreSQL URL as a dlt destination.

    dlt's PostgreSQL credentials require a password; a server with trust auth ignores it, so a
    URL without one gets a placeholder.
    """
    parts = urlsplit(url)
    if parts.password is None:
        user, _, host = parts.netloc.rpartition("@")
        parts = parts._replace(netloc=f"{user or 'postgres'}:unused@{host}")
    return dlt.destinations.postgres(urlunsplit(parts))


@pytest.fixture
def pg_destination(postgres_url: str) -> dlt.destinations.postgres:
    """The local PostgreSQL server as a dlt destination."""
    return postgres_destination(postgres_url)
