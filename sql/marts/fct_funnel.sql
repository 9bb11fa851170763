-- fct_funnel: one row per vendor and sequence with any day in fct_sequence_daily (grain: vendor, sequence_id).
-- Stage counts summed over the loaded days, and stage-to-stage conversion rates:
--   sent -> delivered -> opened / replied -> positive -> meetings_booked, clicked of opened.
-- A rate's denominator is the stage before it; where the vendor has no delivered count
-- (Instantly) the stage before opened and replied is sent. A rate is NULL when either count is
-- NULL or the denominator is 0. A sum with a NULL day (not reported, or unreadable) is NULL: a
-- total with an unknown part is unknown. Reply.io's sums are person-days: a person active on two
-- days counts twice; Instantly's are lead-days (see sql/README.md).
with totals as (
    select
        d.vendor as vendor,
        d.sequence_id as sequence_id,
        min(d.day) as first_day,
        max(d.day) as last_day,
        {{ known_sum('d.sent') }} as sent,
        {{ known_sum('d.delivered') }} as delivered,
        {{ known_sum('d.opened') }} as opened,
        {{ known_sum('d.clicked') }} as clicked,
        {{ known_sum('d.replied') }} as replied,
        {{ known_sum('d.positive') }} as positive,
        {{ known_sum('d.bounced') }} as bounced,
        {{ known_sum('d.unsubscribed') }} as unsubscribed,
        {{ known_sum('d.meetings_booked') }} as meetings_booked
    from {{ ref('fct_sequence_daily') }} as d
    group by d.vendor, d.sequence_id
)

select
    t.vendor as vendor,
    t.sequence_id as sequence_id,
    t.first_day as first_day,
    t.last_day as last_day,
    t.sent as sent,
    t.delivered as delivered,
    t.opened as opened,
    t.clicked as clicked,
    t.replied as replied,
    t.positive as positive,
    t.meetings_booked as meetings_booked,
    t.bounced as bounced,
    t.unsubscribed as unsubscribed,
    cast(t.delivered as double precision) / nullif(t.sent, 0) as delivery_rate,
    cast(t.opened as double precision) / nullif(coalesce(t.delivered, t.sent), 0) as open_rate,
    cast(t.clicked as double precision) / nullif(t.opened, 0) as click_rate,
    cast(t.replied as double precision) / nullif(coalesce(t.delivered, t.sent), 0) as reply_rate,
    cast(t.positive as double precision) / nullif(t.replied, 0) as positive_rate,
    cast(t.meetings_booked as double precision) / nullif(t.positive, 0) as meeting_rate,
    cast(t.bounced as double precision) / nullif(t.sent, 0) as bounce_rate,
    cast(t.unsubscribed as double precision) / nullif(coalesce(t.delivered, t.sent), 0) as unsubscribe_rate
from totals as t
