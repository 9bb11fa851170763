"""Reply.io API v3 constants: endpoints, reach, page size and the fields the connector types."""

BASE_URL = "https://api.reply.io"  # every path starts with /v3
SEQUENCES_PATH = "/v3/sequences"
SEQUENCE_STATS_PATH = "/v3/sequences/stats"
STEP_STATS_PATH = "/v3/sequences/{id}/stats/emails"

PAGE_SIZE = 1000  # the largest `top` the list endpoint accepts
REACH_DAYS = 31  # /v3/sequences/stats answers only for `from` within the last 31 days: today - 30 ... today
KNOWN_STATUSES = ("new", "active", "paused", "archived")  # "archived" stands for isArchived sequences

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
