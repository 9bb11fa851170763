"""The connector's notion of "now" (UTC). Sources call `clock.utc_now()`; tests replace it to run
the connector on a simulated day without touching the process clock."""

import pendulum


def utc_now() -> pendulum.DateTime:
    """The current instant in UTC."""
    return pendulum.now("UTC")


def utc_today() -> pendulum.Date:
    """Today's date in UTC."""
    return utc_now().date()
