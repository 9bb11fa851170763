"""Reply.io API v3 constants: endpoints, reach, page size and the fields the connector types."""

BASE_URL = "https://api.reply.io"  # every path starts with /v3
SEQUENCES_PATH = "/v3/sequences"
SEQUENCE_STATS_PATH = "/v3/sequences/stats"
STEP_STATS_PATH = "/v3/sequences/{id}/stats/emails"

PAGE_SIZE = 1000  # the largest `top` the list endpoint accepts
DEFAULT_RATE_LIMITS = ((100, 60.0), (3000, 3600.0))  # Reply.io's published limits per user: 100/minute, 3,000/hour
REACH_DAYS = 31  # /v3/sequences/stats answers only for `from` within the last 31 days: today - 30 ... today
KNOWN_STATUSES = ("new", "active", "paused", "archived")  # "archived" stands for isArchived sequences
# Rows added at the head of the list while paging can bring the page before back once or twice; a page
# that comes back this many times in a row means the API ignores `skip`.
MAX_REPEATED_PAGES = 3

# Keys of step_stats_snapshots that Reply did not send. Real step and variant ids are whole numbers >= 1,
# so none of these can clash with one: a step or variant without an id is keyed by minus its 1-based
# position (in the answer, or in its step), and a step without variants gets one row of its own totals
# under this variant id.
STEP_ONLY_VARIANT_ID = 0

EMAIL_COUNTS = ("contacted", "delivered", "opened", "replied", "interested", "notReached", "optedOut",
                "outOfOffice", "bounced", "autoReplied", "meetingsBooked")
EMAIL_PERCENTAGES = ("deliveredPercentage", "openedPercentage", "repliedPercentage", "interestedPercentage",
                     "notReachedPercentage", "optedOutPercentage", "outOfOfficePercentage", "bouncedPercentage",
                     "autoRepliedPercentage", "meetingsBookedPercentage")
LINKEDIN_COUNTS = ("connectionsSent", "connectionsAccepted", "messagesSent", "replied", "inMailsSent",
                   "inMailsReplied", "connectionNotesSent", "connectionNotesReplied", "profileViews", "likes",
                   "follows", "endorses", "regularMessagesSent", "regularMessagesReplied")
LINKEDIN_PERCENTAGES = ("connectionsAcceptedPercentage", "repliedPercentage", "inMailsRepliedPercentage",
                        "connectionNotesRepliedPercentage", "regularMessagesRepliedPercentage")
STEP_COUNTS = ("delivered", "opened", "replied", "interested", "notReached", "optedOut", "meetingsBooked",
               "linksClicked")
STEP_PERCENTAGES = ("deliveredPercentage", "openedPercentage", "repliedPercentage", "interestedPercentage",
                    "notReachedPercentage", "optedOutPercentage", "meetingsBookedPercentage", "clickThroughRate")
