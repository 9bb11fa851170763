-- int_saleshandy__email_counts: Saleshandy's emails counted once, per sequence, send day and step
-- (grain: sequence_id, sent_day, step_number). The one place the funnel stages of a Saleshandy
-- email are defined: delivered = not bounced, opened = opened at least once, clicked = clicked at
-- least once, positive = replied with the sentiment 'Positive' (a sentiment on an email without a
-- reply, e.g. the prospect's from another step, is no positive reply). The marts sum these to
-- their own grain.
-- A count is NULL when the value it reads is NULL (unreadable, or not loaded) for any email of
-- the row: such an email is neither "not opened" nor "delivered", so the count is unknown, not a
-- lower bound. (A NULL sentiment is no sentiment; positive is unknown only when replied is.)
select
    e.sequence_id as sequence_id,
    e.sent_day as sent_day,
    e.step_number as step_number,
    count(*) as sent,
    case when count(e.is_bounced) = count(*) then count(case when not e.is_bounced then 1 end) end as delivered,
    case when count(e.open_count) = count(*) then count(case when e.open_count > 0 then 1 end) end as opened,
    case when count(e.click_count) = count(*) then count(case when e.click_count > 0 then 1 end) end as clicked,
    case when count(e.is_replied) = count(*) then count(case when e.is_replied then 1 end) end as replied,
    case when count(e.is_replied) = count(*) then
        count(case when e.is_replied and e.sentiment = 'Positive' then 1 end) end as positive,
    case when count(e.is_bounced) = count(*) then count(case when e.is_bounced then 1 end) end as bounced,
    case when count(e.is_unsubscribed) = count(*) then count(case when e.is_unsubscribed then 1 end) end as unsubscribed
from {{ ref('stg_saleshandy__email_stats') }} as e
group by e.sequence_id, e.sent_day, e.step_number
