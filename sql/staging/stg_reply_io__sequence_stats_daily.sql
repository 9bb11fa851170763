-- stg_reply_io__sequence_stats_daily: one row per Reply.io sequence and UTC day (grain: sequence_id, day).
-- Renames and casts reply_io.sequence_stats_daily (POST /v3/sequences/stats for [day, day + 1)).
-- Every count is of people with that event on that day (event-day, people-based).
select
    cast(s.sequence_id as bigint) as sequence_id,
    cast(s.day as date) as day,
    cast(s.email_overview__contacted as bigint) as contacted,
    cast(s.email_overview__delivered as bigint) as delivered,
    cast(s.email_overview__opened as bigint) as opened,
    cast(s.email_overview__replied as bigint) as replied,
    cast(s.email_overview__interested as bigint) as interested,
    cast(s.email_overview__not_reached as bigint) as not_reached,
    cast(s.email_overview__opted_out as bigint) as opted_out,
    cast(s.email_overview__out_of_office as bigint) as out_of_office,
    cast(s.email_overview__bounced as bigint) as bounced,
    cast(s.email_overview__auto_replied as bigint) as auto_replied,
    cast(s.email_overview__meetings_booked as bigint) as meetings_booked
from {{ source('reply_io', 'sequence_stats_daily') }} as s
