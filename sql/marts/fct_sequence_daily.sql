-- fct_sequence_daily: one row per vendor, sequence and UTC day (grain: vendor, sequence_id, day).
-- The day is the vendor's: the event day for Reply.io and Instantly, the send day for Saleshandy
-- (its engagement columns are the state of each email sent that day). Units differ: Reply.io
-- counts people, Instantly and Saleshandy count emails (see sql/README.md). A count the vendor
-- does not report is NULL, never 0, and so is a sum (over steps, or Saleshandy's emails) with any
-- NULL part: a total with an unknown part is unknown.
with reply_io as (
    select
        'reply_io' as vendor,
        cast(r.sequence_id as text) as sequence_id,
        r.day as day,
        cast(null as bigint) as sent,
        r.delivered as delivered,
        r.opened as opened,
        cast(null as bigint) as clicked,
        r.replied as replied,
        r.interested as positive,
        r.bounced as bounced,
        r.opted_out as unsubscribed,
        r.meetings_booked as meetings_booked
    from {{ ref('stg_reply_io__sequence_stats_daily') }} as r
),

saleshandy as (
    select
        'saleshandy' as vendor,
        e.sequence_id as sequence_id,
        e.sent_day as day,
        {{ known_sum('e.sent') }} as sent,
        {{ known_sum('e.delivered') }} as delivered,
        {{ known_sum('e.opened') }} as opened,
        {{ known_sum('e.clicked') }} as clicked,
        {{ known_sum('e.replied') }} as replied,
        {{ known_sum('e.positive') }} as positive,
        {{ known_sum('e.bounced') }} as bounced,
        {{ known_sum('e.unsubscribed') }} as unsubscribed,
        cast(null as bigint) as meetings_booked
    from {{ ref('int_saleshandy__email_counts') }} as e
    group by e.sequence_id, e.sent_day
),

instantly as (
    select
        'instantly' as vendor,
        s.campaign_id as sequence_id,
        s.day as day,
        {{ known_sum('s.sent') }} as sent,
        cast(null as bigint) as delivered,
        {{ known_sum('s.unique_opened') }} as opened,
        {{ known_sum('s.unique_clicks') }} as clicked,
        {{ known_sum('s.unique_replies') }} as replied,
        {{ known_sum('s.unique_opportunities') }} as positive,
        cast(null as bigint) as bounced,
        cast(null as bigint) as unsubscribed,
        cast(null as bigint) as meetings_booked
    from {{ ref('stg_instantly__step_analytics_daily') }} as s
    group by s.campaign_id, s.day
)

select
    r.vendor, r.sequence_id, r.day, r.sent, r.delivered, r.opened, r.clicked, r.replied, r.positive,
    r.bounced, r.unsubscribed, r.meetings_booked
from reply_io as r
union all
select
    s.vendor, s.sequence_id, s.day, s.sent, s.delivered, s.opened, s.clicked, s.replied, s.positive,
    s.bounced, s.unsubscribed, s.meetings_booked
from saleshandy as s
union all
select
    i.vendor, i.sequence_id, i.day, i.sent, i.delivered, i.opened, i.clicked, i.replied, i.positive,
    i.bounced, i.unsubscribed, i.meetings_booked
from instantly as i
