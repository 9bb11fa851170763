-- int_saleshandy__email_counts: Saleshandy's emails counted once, per sequence, send day and step
-- (grain: sequence_id, sent_day, step_number). The one place the funnel stages of a Saleshandy
-- email are defined: delivered = not bounced, opened = opened at least once, clicked = clicked at
-- least once, positive = sentiment 'Positive'. The marts sum these to their own grain.
select
    e.sequence_id as sequence_id,
    e.sent_day as sent_day,
    e.step_number as step_number,
    count(*) as sent,
    count(case when not e.is_bounced then 1 end) as delivered,
    count(case when e.open_count > 0 then 1 end) as opened,
    count(case when e.click_count > 0 then 1 end) as clicked,
    count(case when e.is_replied then 1 end) as replied,
    count(case when e.sentiment = 'Positive' then 1 end) as positive,
    count(case when e.is_bounced then 1 end) as bounced,
    count(case when e.is_unsubscribed then 1 end) as unsubscribed
from {{ ref('stg_saleshandy__email_stats') }} as e
group by e.sequence_id, e.sent_day, e.step_number
