"""Instantly API v2 constants: endpoints, defaults, and the keys the raw tables use."""

from typing import Any

CAMPAIGNS_PATH = "/api/v2/campaigns"
STEP_ANALYTICS_PATH = "/api/v2/campaigns/analytics/steps"
DAILY_ANALYTICS_PATH = "/api/v2/campaigns/analytics/daily"

PAGE_SIZE = 100  # the largest `limit` the campaign list accepts
DEFAULT_START_DAYS = 90  # the first run starts this many days before today
DEFAULT_LOOK_BACK_DAYS = 7  # later runs re-read this many days before the last loaded day
DEFAULT_RATE_LIMITS = ((100, 1.0), (6000, 60.0))  # Instantly's workspace limits: 100/s and 6,000/min
DEFAULT_MAX_CONCURRENCY = 20  # with ~100 ms per request, 10-15 in flight already fill 100/s
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 6
ROW_BATCH = 5000  # rows per item yielded to dlt
ANSWERS_AHEAD = 200  # answers (a few rows each) fetched ahead, so that handing a batch to dlt never stalls requests

# The key of rows Instantly could not tie to a step or variant (null or "null" in the API).
# Real steps are 1-based (0-based in some readings of the docs) and real variants are letters,
# so neither value can clash with a real one.
UNATTRIBUTED_STEP = -1
UNATTRIBUTED_VARIANT = "unattributed"

STEP_COUNTS = ("sent", "opened", "unique_opened", "replies", "unique_replies", "replies_automatic",
               "unique_replies_automatic", "clicks", "unique_clicks", "opportunities", "unique_opportunities")
DAILY_COUNTS = ("sent", "contacted", "new_leads_contacted", "opened", "unique_opened", "replies", "unique_replies",
                "replies_automatic", "unique_replies_automatic", "clicks", "unique_clicks", "opportunities",
                "unique_opportunities")

_COUNT: dict[str, Any] = {"data_type": "bigint", "nullable": True}
STEP_COLUMNS: dict[str, Any] = {
    "campaign_id": {"data_type": "text", "nullable": False},
    "day": {"data_type": "date", "nullable": False},
    "step": {"data_type": "bigint", "nullable": False},
    "variant": {"data_type": "text", "nullable": False},
    **{name: dict(_COUNT) for name in STEP_COUNTS},
}
DAILY_COLUMNS: dict[str, Any] = {
    "campaign_id": {"data_type": "text", "nullable": False},
    "day": {"data_type": "date", "nullable": False},
    **{name: dict(_COUNT) for name in DAILY_COUNTS},
}
CAMPAIGN_COLUMNS: dict[str, Any] = {
    "id": {"data_type": "text", "nullable": False},
    "status": {"data_type": "bigint"},
    "timestamp_created": {"data_type": "timestamp"},
    "timestamp_updated": {"data_type": "timestamp"},
    "sequences": {"data_type": "json"},  # steps and variants with their texts, as Instantly sends them
    "email_list": {"data_type": "json"},
    "campaign_schedule__start_date": {"data_type": "text"},
    "campaign_schedule__end_date": {"data_type": "text"},
    "campaign_schedule__schedules": {"data_type": "json"},
    "not_sending_status": {"data_type": "bigint"},
}
