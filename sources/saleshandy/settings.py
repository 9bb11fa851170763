"""Saleshandy Open API constants: endpoints, limits, defaults and the `email_stats` columns."""

import pyarrow as pa

SEQUENCES_PATH = "/v1/sequences"
STATS_PATH = "/v1/analytics/consolidated-stats"

SEQUENCES_PAGE_SIZE = 1000  # the API's maximum pageSize for GET /v1/sequences
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 10, 500  # consolidated-stats pageLimit bounds
MAX_HISTORY_YEARS = 2  # startDate may be no older than today - 2 years
MAX_WINDOW_YEARS = 1  # endDate may be at most startDate + 1 year

DEFAULT_LOOK_BACK_DAYS = 30
DEFAULT_SEQUENCE_CHUNK_SIZE = 50
DEFAULT_PAGE_SIZE = 500
DEFAULT_PREFETCH_PAGES = 4
DEFAULT_RATE_LIMITS = ((10, 1.0),)  # Saleshandy publishes no limit: cautious
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 6

BATCH_ROWS = 20_000  # rows per Arrow table handed to dlt

EMAIL_STATS_KEY = ("sequence_id", "step_number", "recipient_email")

# consolidated-stats row label -> (column, kind); kinds: text, count, flag, timestamp
FIELDS = (
    ("Sequence Id", "sequence_id", "text"),
    ("Sequence Title", "sequence_title", "text"),
    ("Sequence Owner", "sequence_owner", "text"),
    ("Step Number", "step_number", "count"),
    ("Sender Email", "sender_email", "text"),
    ("Recipient Email", "recipient_email", "text"),
    ("Recipient name", "recipient_name", "text"),
    ("Email Sent At", "email_sent_at", "timestamp"),
    ("Open Count", "open_count", "count"),
    ("Last Opened At", "last_opened_at", "timestamp"),
    ("Replied", "replied", "flag"),
    ("Replied At", "replied_at", "timestamp"),
    ("Conversation Id", "conversation_id", "text"),
    ("Current Sentiment", "current_sentiment", "text"),
    ("Click Count", "click_count", "count"),
    ("Last Clicked At", "last_clicked_at", "timestamp"),
    ("Last Link Clicked", "last_link_clicked", "text"),
    ("Bounced", "bounced", "flag"),
    ("Bounced At", "bounced_at", "timestamp"),
    ("Unsubscribed", "unsubscribed", "flag"),
    ("Deleted", "deleted", "flag"),
)
CLIENT_LABEL = "Client"
CLIENT_FIELDS = (
    ("id", "client__id"),
    ("firstName", "client__first_name"),
    ("lastName", "client__last_name"),
    ("email", "client__email"),
    ("status", "client__status"),
    ("companyName", "client__company_name"),
)
LABELS = tuple(label for label, _, _ in FIELDS) + (CLIENT_LABEL,)

_ARROW_TYPES = {"text": pa.string(), "count": pa.int64(), "flag": pa.bool_(),
                "timestamp": pa.timestamp("us", tz="UTC")}
EMAIL_STATS_SCHEMA = pa.schema(
    [pa.field(column, _ARROW_TYPES[kind], nullable=column not in EMAIL_STATS_KEY) for _, column, kind in FIELDS]
    + [pa.field("day", pa.date32())]
    + [pa.field(column, pa.string()) for _, column in CLIENT_FIELDS]
)
